// A node's own state on disk (STATE/node-state.bin), written after every committed round and every
// state sync so that a node killed at any moment restarts where it was: the global state of its
// last completed round (SPEC.md 12 format), the inner AdamW state, the error-feedback residual and
// the round of its last proof of learning. Written crash-safe (temporary file, fsync, rename,
// directory fsync) and checked by a SHA-256 trailer, so a torn or foreign file is refused, never
// half-loaded.
//   "DTNS" | u32le version 1 | runId (32) | i64le lastProofRound (-1: none) | u64le optimizer step
//   | u32le d | u32le hasResidual | u64le global-state length | global state | f32le m[d] | f32le v[d]
//   | f32le residual[d] if present | SHA-256 of everything before
import { rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { ByteSource } from '../codec/delta.js'
import { asPieces, joinPieces, type Pieces, piecesLength } from '../codec/pieces.js'
import { type GlobalState as GlobalStateValues, readFloat32s, readState } from '../codec/state.js'
import { bytesEqual, float32LeBytes, sha256Stream, toHex } from '../crypto/hash.js'
import type { OptimizerState } from '../train/inner-loop.js'
import type { MomentReader } from '../train/trainer.js'
import { openIfPresent, syncDirectory, writeFileSynced } from './durable-file.js'

export const NODE_STATE_FILE = 'node-state.bin'
const MAGIC = new TextEncoder().encode('DTNS')
const VERSION = 1
const FIXED = 4 + 4 + 32 + 8 + 8 + 4 + 4 + 8

export interface SavedNodeState {
  runId: Uint8Array
  /** the global state of the last completed round (stored as encodeState writes it) */
  global: GlobalStateValues
  optimizer: OptimizerState
  residual?: Float32Array
  lastProofRound: number | null
}

/**
 * What is saved: as loaded, with the global state given whole or as its pieces (statePieces), the
 * optimizer's moments given whole or read by range (the torch worker's), and the residual given
 * whole or as its bytes a block at a time (a parked one, store/parked-vector.ts; issue 17).
 */
export type NodeStateToSave = Omit<SavedNodeState, 'global' | 'optimizer' | 'residual'> & {
  global: Uint8Array | Pieces
  optimizer: OptimizerState | MomentReader
  residual?: Float32Array | (() => AsyncIterable<Uint8Array>)
}

export class NodeStateError extends Error {
  override name = 'NodeStateError'
}

/** Moment values read from a MomentReader at a time (16 MB). */
const MOMENT_BLOCK = 1 << 22

/**
 * The file's parts in order, the SHA-256 trailer last: written one after another, so a large
 * model's state (about 24 d bytes) is never copied into one buffer, and moments read by range are
 * held a block at a time (issue 17).
 */
export async function* nodeStateParts(s: NodeStateToSave): AsyncGenerator<Uint8Array> {
  const reader = 'read' in s.optimizer ? s.optimizer : undefined
  const d = reader?.length ?? (s.optimizer as OptimizerState).firstMoment.length
  const header = new Uint8Array(FIXED)
  const view = new DataView(header.buffer)
  header.set(MAGIC, 0)
  view.setUint32(4, VERSION, true)
  header.set(s.runId, 8)
  view.setBigInt64(40, BigInt(s.lastProofRound ?? -1), true)
  view.setBigUint64(48, BigInt(s.optimizer.step), true)
  view.setUint32(56, d, true)
  view.setUint32(60, s.residual ? 1 : 0, true)
  const global = asPieces(s.global)
  view.setBigUint64(64, BigInt(piecesLength(global)), true)
  const hash = sha256Stream()
  const hashed = (part: Uint8Array) => {
    hash.update(part)
    return part
  }
  yield hashed(header)
  for (const piece of global) yield hashed(piece)
  for (const moment of [0, 1] as const) {
    if (reader === undefined) {
      const { firstMoment, secondMoment } = s.optimizer as OptimizerState
      yield hashed(float32LeBytes(moment === 0 ? firstMoment : secondMoment))
      continue
    }
    for (let start = 0; start < d; start += MOMENT_BLOCK) {
      const end = Math.min(start + MOMENT_BLOCK, d)
      const values = await reader.read(moment, start, end)
      if (values.length !== end - start)
        throw new RangeError(`${values.length} values of moment ${moment} read for ${end - start}`)
      yield hashed(float32LeBytes(values))
    }
  }
  if (s.residual instanceof Float32Array) yield hashed(float32LeBytes(s.residual))
  else if (s.residual) {
    let length = 0
    for await (const block of s.residual()) {
      length += block.length
      yield hashed(block)
    }
    if (length !== 4 * d) throw new RangeError(`a residual of ${length} bytes saved for ${d} values`)
  }
  yield hash.digest()
}

export async function encodeNodeState(s: NodeStateToSave): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of nodeStateParts(s)) parts.push(part)
  return joinPieces(parts)
}

/** Bytes read at a time while a state file's checksum is computed. */
const READ_BLOCK = 1 << 24

/**
 * Checks and decodes a node state file read by range from `source` (a buffer, or the file itself:
 * loadNodeState), in two passes of one block at a time: its SHA-256 first, then its parts, each
 * into a vector of its own. A large model's file (24 d bytes) is never held whole (issue 17).
 */
export function decodeNodeState(source: ByteSource): SavedNodeState {
  if (source.length < FIXED + 32 || !bytesEqual(source.subarray(0, 4), MAGIC))
    throw new NodeStateError('not a dtrain node state file')
  const bodyLength = source.length - 32
  const hash = sha256Stream()
  for (let at = 0; at < bodyLength; at += READ_BLOCK)
    hash.update(source.subarray(at, Math.min(at + READ_BLOCK, bodyLength)))
  if (!bytesEqual(hash.digest(), source.subarray(bodyLength, source.length)))
    throw new NodeStateError('the node state file is corrupt (checksum mismatch)')
  const header = source.subarray(0, FIXED)
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  if (view.getUint32(4, true) !== VERSION)
    throw new NodeStateError(`node state version ${view.getUint32(4, true)}`)
  const d = view.getUint32(56, true)
  const hasResidual = view.getUint32(60, true) === 1
  const globalLength = Number(view.getBigUint64(64, true))
  if (FIXED + globalLength + 4 * d * (hasResidual ? 3 : 2) !== bodyLength)
    throw new NodeStateError('the node state file has the wrong length')
  let global: GlobalStateValues
  try {
    global = readState(rangeSource(source, FIXED, FIXED + globalLength), d)
  } catch (err) {
    throw new NodeStateError(`its global state cannot be decoded: ${(err as Error).message}`)
  }
  let at = FIXED + globalLength
  const take = () => {
    const part = readFloat32s(source, at, d)
    at += 4 * d
    return part
  }
  const lastProofRound = Number(view.getBigInt64(40, true))
  return {
    // a copy (a Buffer's slice would be a view of the file's buffer)
    runId: new Uint8Array(header.subarray(8, 40)),
    global,
    optimizer: { firstMoment: take(), secondMoment: take(), step: Number(view.getBigUint64(48, true)) },
    residual: hasResidual ? take() : undefined,
    lastProofRound: lastProofRound < 0 ? null : lastProofRound,
  }
}

/** Bytes [from, to) of `source`, as a source of their own. */
function rangeSource(source: ByteSource, from: number, to: number): ByteSource {
  return { length: to - from, subarray: (start, end) => source.subarray(from + start, from + end) }
}

/** Writes the state crash-safe: a reader sees the old file or the new one, never a mix. */
export async function saveNodeState(dir: string, state: NodeStateToSave): Promise<void> {
  const path = join(dir, NODE_STATE_FILE)
  await writeFileSynced(`${path}.tmp`, nodeStateParts(state))
  await rename(`${path}.tmp`, path)
  await syncDirectory(dirname(path))
}

/** The saved state of this run, or undefined when there is none; refuses another run's state. */
export async function loadNodeState(dir: string, runId: Uint8Array): Promise<SavedNodeState | undefined> {
  const path = join(dir, NODE_STATE_FILE)
  await rm(`${path}.tmp`, { force: true }) // a write that a crash interrupted
  const file = openIfPresent(path)
  if (file === undefined) return undefined
  let state: SavedNodeState
  try {
    state = decodeNodeState(file.source)
  } catch (err) {
    if (!(err instanceof NodeStateError)) throw err
    throw new NodeStateError(
      `${path} cannot be read: ${err.message}. The node will not guess its state: restore the file from a backup, or move it away to start this node afresh (with --join it then fetches the network's state)`,
    )
  } finally {
    file.close()
  }
  if (!bytesEqual(state.runId, runId))
    throw new NodeStateError(
      `${path} belongs to run ${toHex(state.runId).slice(0, 16)}, not to this genesis's run ${toHex(runId).slice(0, 16)}: use another --state directory`,
    )
  return state
}
