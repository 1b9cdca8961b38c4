// Proof-of-learning checkpoints (SPEC.md 17.1): the weights and AdamW state after a number of a
// round's inner steps, as one byte string
//   u64le(localStep) || u64le(optimizerStep) || f32le weights[d] || f32le m[d] || f32le v[d]
// identified by its Merkle root over chunks of chunkBytes (SPEC.md 4.5), like a delta.
import {
  asPieces,
  joinPieces,
  type Pieces,
  piecesLength,
  piecesSource,
  rangePieces,
} from '../codec/pieces.js'
import { DOMAINS, LIMITS } from '../constants.js'
import { domainHash, finiteFloat32Vectors, float32LeBytes } from '../crypto/hash.js'
import { MerkleTree } from '../crypto/merkle.js'
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
export function checkpointPieces(snapshot: TrainingSnapshot): Uint8Array[] {
  const d = snapshot.weights.length
  const header = new Uint8Array(HEADER_BYTES)
  const view = new DataView(header.buffer)
  view.setBigUint64(0, BigInt(snapshot.localStep), true)
  view.setBigUint64(8, BigInt(snapshot.optimizer.step), true)
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
