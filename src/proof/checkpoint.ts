// Proof-of-learning checkpoints (SPEC.md 17.1): the weights and AdamW state after a number of a
// round's inner steps, as one byte string
//   u64le(localStep) || u64le(optimizerStep) || f32le weights[d] || f32le m[d] || f32le v[d]
// identified by its Merkle root over chunks of chunkBytes (SPEC.md 4.5), like a delta.
import { open } from 'node:fs/promises'
import {
  asPieces,
  joinPieces,
  type Pieces,
  piecesLength,
  piecesSource,
  rangePieces,
} from '../codec/pieces.js'
import { DOMAINS, LIMITS } from '../constants.js'
import {
  domainBytes,
  domainHash,
  finiteFloat32Vectors,
  float32LeBytes,
  sha256Stream,
} from '../crypto/hash.js'
import { leafHash, MerkleTree } from '../crypto/merkle.js'
import type { TrainingSnapshot } from '../train/inner-loop.js'
import { safeInteger } from '../wire/fields.js'

const HEADER_BYTES = 16

/** Byte length of a checkpoint of a model with `parameterCount` parameters. */
export function checkpointSize(parameterCount: number): number {
  return HEADER_BYTES + 12 * parameterCount
}

export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError'
}

export function encodeCheckpoint(snapshot: TrainingSnapshot): Uint8Array {
  return joinPieces(checkpointPieces(snapshot))
}

/**
 * The encoded checkpoint as pieces: its header, then the little-endian bytes of the weights and
 * both moments, views of the snapshot's own vectors (no copy of 12 d bytes, issue 17). The
 * snapshot must not change while the pieces are in use.
 */
/** A checkpoint's first 16 bytes: u64le(localStep) || u64le(optimizerStep). */
export function checkpointHeader(localStep: number, optimizerStep: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES)
  const view = new DataView(header.buffer)
  view.setBigUint64(0, BigInt(localStep), true)
  view.setBigUint64(8, BigInt(optimizerStep), true)
  return header
}

export function checkpointPieces(snapshot: TrainingSnapshot): Uint8Array[] {
  const d = snapshot.weights.length
  const header = checkpointHeader(snapshot.localStep, snapshot.optimizer.step)
  const parts = [snapshot.weights, snapshot.optimizer.firstMoment, snapshot.optimizer.secondMoment]
  if (parts.some((values) => values.length !== d)) throw new RangeError('checkpoint parts differ in length')
  return [header, ...parts.map(float32LeBytes)]
}

/** Decodes a checkpoint of a model of `parameterCount` parameters; refuses any other size. */
export function decodeCheckpoint(bytes: Uint8Array, parameterCount: number): TrainingSnapshot {
  if (bytes.length !== checkpointSize(parameterCount)) {
    throw new CheckpointFormatError(
      `checkpoint of ${bytes.length} bytes; a model of ${parameterCount} parameters needs ${checkpointSize(parameterCount)}`,
    )
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const [weights, firstMoment, secondMoment] = finiteFloat32Vectors(
    bytes,
    HEADER_BYTES,
    parameterCount,
    3,
    (p, i, value) => new CheckpointFormatError(`checkpoint holds ${value} in part ${p} at ${i}`),
  )
  const localStep = safeInteger(view.getBigUint64(0, true), 'localStep', CheckpointFormatError)
  const step = safeInteger(view.getBigUint64(8, true), 'optimizerStep', CheckpointFormatError)
  return {
    localStep,
    weights,
    optimizer: { firstMoment, secondMoment, step },
  }
}

/** The content id of a checkpoint (or of any proof object): its Merkle root (SPEC.md 4.5). */
export function objectRoot(bytes: Uint8Array | Pieces): Uint8Array {
  const pieces = asPieces(bytes)
  return MerkleTree.fromBytes(pieces.length === 1 ? pieces[0] : piecesSource(pieces), LIMITS.chunkBytes).root
}

/**
 * SHA-256 (domain proof-optimizer) of a checkpoint's optimizer part: its optimizer step and both
 * moments, the bytes after the local step. Links a round's first checkpoint to the last of the
 * peer's previous proof (SPEC.md 17.1).
 */
export function optimizerHash(checkpoint: Uint8Array | Pieces): Uint8Array {
  const pieces = asPieces(checkpoint)
  const length = piecesLength(pieces)
  const d = (length - HEADER_BYTES) / 12
  if (!Number.isInteger(d)) throw new CheckpointFormatError(`checkpoint of ${length} bytes`)
  return domainHash(
    DOMAINS.proofOptimizer,
    ...rangePieces(pieces, 8, HEADER_BYTES),
    ...rangePieces(pieces, HEADER_BYTES + 4 * d, length),
  )
}

/** Bytes read at a time when a checkpoint file is hashed: whole chunks (SPEC.md 4.5). */
const FILE_BLOCK_BYTES = 64 * LIMITS.chunkBytes

/**
 * objectRoot and optimizerHash of a checkpoint held in a file (one a trainer wrote itself,
 * WrittenCheckpoint), read block by block: a checkpoint is 12 d bytes, which the node never holds
 * whole. Refuses a file that is not exactly a checkpoint of `parameterCount` parameters.
 */
export async function checkpointFileDigests(
  path: string,
  parameterCount: number,
): Promise<{ root: Uint8Array; optimizer: Uint8Array }> {
  const size = checkpointSize(parameterCount)
  const file = await open(path, 'r')
  try {
    const { size: actual } = await file.stat()
    if (actual !== size)
      throw new CheckpointFormatError(
        `${path} is ${actual} bytes, a checkpoint of ${parameterCount} parameters is ${size}`,
      )
    const leaves: Uint8Array[] = []
    const optimizer = sha256Stream()
    optimizer.update(domainBytes(DOMAINS.proofOptimizer))
    const momentsFrom = HEADER_BYTES + 4 * parameterCount
    const block = new Uint8Array(Math.min(FILE_BLOCK_BYTES, size))
    for (let at = 0; at < size; ) {
      const want = Math.min(block.length, size - at)
      const { bytesRead } = await file.read(block, 0, want, at)
      if (bytesRead !== want)
        throw new CheckpointFormatError(`${path} ended at byte ${at + bytesRead} of ${size}`)
      const bytes = block.subarray(0, want)
      for (let c = 0; c < want; c += LIMITS.chunkBytes)
        leaves.push(leafHash(bytes.subarray(c, c + LIMITS.chunkBytes)))
      // the optimizer part: bytes 8..16 (its step) and the moments
      const stepFrom = Math.max(at, 8)
      const stepTo = Math.min(at + want, HEADER_BYTES)
      if (stepFrom < stepTo) optimizer.update(bytes.subarray(stepFrom - at, stepTo - at))
      if (at + want > momentsFrom) optimizer.update(bytes.subarray(Math.max(0, momentsFrom - at)))
      at += want
    }
    return { root: MerkleTree.fromLeaves(leaves).root, optimizer: optimizer.digest() }
  } finally {
    await file.close()
  }
}
