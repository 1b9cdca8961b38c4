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
import { sha256 as sha256Hasher } from '@noble/hashes/sha2.js'
import { asPieces, joinPieces, type Pieces, piecesLength } from '../codec/pieces.js'
import { bytesEqual, float32FromLe, float32LeBytes, sha256, toHex } from '../crypto/hash.js'
import type { OptimizerState } from '../train/inner-loop.js'
import { readIfPresent, syncDirectory, writeFileSynced } from './durable-file.js'

export const NODE_STATE_FILE = 'node-state.bin'
const MAGIC = new TextEncoder().encode('DTNS')
const VERSION = 1
const FIXED = 4 + 4 + 32 + 8 + 8 + 4 + 4 + 8

export interface SavedNodeState {
  runId: Uint8Array
  /** the global state of the last completed round, as encodeState writes it */
  global: Uint8Array
  optimizer: OptimizerState
  residual?: Float32Array
  lastProofRound: number | null
}

/** What is saved: as loaded, with the global state given whole or as its pieces (statePieces). */
export type NodeStateToSave = Omit<SavedNodeState, 'global'> & { global: Uint8Array | Pieces }

export class NodeStateError extends Error {
  override name = 'NodeStateError'
}

/**
 * The file's pieces in order, the SHA-256 trailer last: written one after another, so a large
 * model's state (about 24 d bytes) is never copied into one buffer (issue 17).
 */
export function nodeStatePieces(s: NodeStateToSave): Uint8Array[] {
  const d = s.optimizer.firstMoment.length
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
  const body = [
    header,
    ...global,
    ...[s.optimizer.firstMoment, s.optimizer.secondMoment, ...(s.residual ? [s.residual] : [])].map(
      float32LeBytes,
    ),
  ]
  const hash = sha256Hasher.create()
  for (const piece of body) hash.update(piece)
  return [...body, hash.digest()]
}

export function encodeNodeState(s: NodeStateToSave): Uint8Array {
  return joinPieces(nodeStatePieces(s))
}

export function decodeNodeState(bytes: Uint8Array): SavedNodeState {
  if (bytes.length < FIXED + 32 || !bytesEqual(bytes.subarray(0, 4), MAGIC))
    throw new NodeStateError('not a dtrain node state file')
  const body = bytes.subarray(0, bytes.length - 32)
  if (!bytesEqual(sha256(body), bytes.subarray(bytes.length - 32)))
    throw new NodeStateError('the node state file is corrupt (checksum mismatch)')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(4, true) !== VERSION)
    throw new NodeStateError(`node state version ${view.getUint32(4, true)}`)
  const d = view.getUint32(56, true)
  const hasResidual = view.getUint32(60, true) === 1
  const globalLength = Number(view.getBigUint64(64, true))
  if (FIXED + globalLength + 4 * d * (hasResidual ? 3 : 2) !== body.length)
    throw new NodeStateError('the node state file has the wrong length')
  let at = FIXED + globalLength
  const take = () => {
    const part = float32FromLe(bytes.subarray(at, at + 4 * d))
    at += 4 * d
    return part
  }
  const lastProofRound = Number(view.getBigInt64(40, true))
  return {
    // Copies into plain Uint8Arrays (a Buffer's slice would be a view of the file's buffer).
    runId: new Uint8Array(bytes.subarray(8, 40)),
    global: new Uint8Array(bytes.subarray(FIXED, FIXED + globalLength)),
    optimizer: { firstMoment: take(), secondMoment: take(), step: Number(view.getBigUint64(48, true)) },
    residual: hasResidual ? take() : undefined,
    lastProofRound: lastProofRound < 0 ? null : lastProofRound,
  }
}

/** Writes the state crash-safe: a reader sees the old file or the new one, never a mix. */
export async function saveNodeState(dir: string, state: NodeStateToSave): Promise<void> {
  const path = join(dir, NODE_STATE_FILE)
  await writeFileSynced(`${path}.tmp`, nodeStatePieces(state))
  await rename(`${path}.tmp`, path)
  await syncDirectory(dirname(path))
}

/** The saved state of this run, or undefined when there is none; refuses another run's state. */
export async function loadNodeState(dir: string, runId: Uint8Array): Promise<SavedNodeState | undefined> {
  const path = join(dir, NODE_STATE_FILE)
  await rm(`${path}.tmp`, { force: true }) // a write that a crash interrupted
  const bytes = await readIfPresent(path)
  if (bytes === undefined) return undefined
  let state: SavedNodeState
  try {
    state = decodeNodeState(bytes)
  } catch (err) {
    if (!(err instanceof NodeStateError)) throw err
    throw new NodeStateError(
      `${path} cannot be read: ${err.message}. The node will not guess its state: restore the file from a backup, or move it away to start this node afresh (with --join it then fetches the network's state)`,
    )
  }
  if (!bytesEqual(state.runId, runId))
    throw new NodeStateError(
      `${path} belongs to run ${toHex(state.runId).slice(0, 16)}, not to this genesis's run ${toHex(runId).slice(0, 16)}: use another --state directory`,
    )
  return state
}
