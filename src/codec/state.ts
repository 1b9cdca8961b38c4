// The global state a node hands to a late joiner or a node in the minority (SPEC.md 12):
//   u8 formatVersion (1), u8 reserved (0), u16 reserved (0), u32 count, u64 round,
//   then count x f32 weights, count x f32 outer momentum, count x f32 previous aggregate
//   (all little-endian). `round` is the round whose outer step produced the state.
// It travels like a delta: content-addressed by its Merkle root, fetched chunk by chunk.
import { finiteFloat32Vectors, float32FromLe, float32LeBytes } from '../crypto/hash.js'
import { safeInteger } from '../wire/fields.js'
import type { ByteSource } from './delta.js'
import { MalformedDeltaError, NonFiniteDeltaError } from './errors.js'
import { joinPieces } from './pieces.js'

export const STATE_FORMAT_VERSION = 1
const HEADER = 16

export interface GlobalState {
  round: number
  weights: Float32Array
  momentum: Float32Array
  reference: Float32Array
}

/** The most parameters whose state fits in `maxBytes` (SPEC.md 12.1). */
export function maxStateParameters(maxBytes: number): number {
  return Math.floor((maxBytes - HEADER) / 12)
}

export function stateSize(count: number): number {
  return HEADER + 12 * count
}

export function encodeState(state: GlobalState): Uint8Array {
  return joinPieces(statePieces(state))
}

/**
 * The encoded state as pieces: its header, then the little-endian bytes of the three vectors,
 * which are views of the vectors themselves on a little-endian platform (no copy of 12 d bytes).
 * The vectors must not change while the pieces are in use.
 */
export function statePieces(state: GlobalState): Uint8Array[] {
  const count = state.weights.length
  if (state.momentum.length !== count || state.reference.length !== count)
    throw new RangeError('state vectors differ in length')
  const header = new Uint8Array(HEADER)
  const view = new DataView(header.buffer)
  view.setUint8(0, STATE_FORMAT_VERSION)
  view.setUint32(4, count, true)
  view.setBigUint64(8, BigInt(state.round), true)
  return [header, ...[state.weights, state.momentum, state.reference].map(float32LeBytes)]
}

export function decodeState(bytes: Uint8Array, expectedCount: number): GlobalState {
  return readState(bytes, expectedCount)
}

/** Bytes of a vector read and converted at a time (readFloat32s). */
const READ_BLOCK = 1 << 24

/**
 * `count` little-endian float32 values at `offset` of `source`, read and converted one block at a
 * time into a vector of their own (no buffer of their size beside it); with `nonFinite`, each
 * checked finite, the first that is not named by its index.
 */
export function readFloat32s(
  source: ByteSource,
  offset: number,
  count: number,
  nonFinite?: (index: number, value: number) => Error,
): Float32Array {
  const out = new Float32Array(count)
  for (let start = 0; start < count; start += READ_BLOCK / 4) {
    const end = Math.min(start + READ_BLOCK / 4, count)
    const bytes = source.subarray(offset + 4 * start, offset + 4 * end)
    const block = nonFinite
      ? finiteFloat32Vectors(bytes, 0, end - start, 1, (_, i, value) => nonFinite(start + i, value))[0]
      : float32FromLe(bytes)
    out.set(block, start)
  }
  return out
}

/**
 * Decodes a state read by range from `source` (one buffer, or an object on disk: issue 17, a
 * round's starting state read back), one block at a time into the three vectors, so that no
 * buffer of the encoded state's size is made beside them. Every value is checked finite.
 */
export function readState(source: ByteSource, expectedCount: number): GlobalState {
  const round = readStateHeader(source, expectedCount)
  const [weights, momentum, reference] = STATE_PARTS.map((part) => readPart(source, expectedCount, part))
  return { round, weights, momentum, reference }
}

/** The three vectors of a state, in their order in its encoding. */
export const STATE_PARTS = ['weights', 'momentum', 'reference'] as const
export type StatePart = (typeof STATE_PARTS)[number]

/**
 * One vector of a state read by range from `source` (a part of a round's starting state read
 * back: issue 17), with the round of the state, after the same checks as readState's.
 */
export function readStatePart(
  source: ByteSource,
  expectedCount: number,
  part: StatePart,
): { round: number; values: Float32Array } {
  const round = readStateHeader(source, expectedCount)
  return { round, values: readPart(source, expectedCount, part) }
}

/** Checks a state's size and header; returns its round. */
function readStateHeader(source: ByteSource, expectedCount: number): number {
  if (source.length !== stateSize(expectedCount)) {
    throw new MalformedDeltaError(
      `state is ${source.length} bytes, a model of ${expectedCount} parameters needs ${stateSize(expectedCount)}`,
    )
  }
  const header = source.subarray(0, HEADER)
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  if (view.getUint8(0) !== STATE_FORMAT_VERSION || view.getUint8(1) !== 0 || view.getUint16(2, true) !== 0) {
    throw new MalformedDeltaError('unknown state format version or non-zero reserved bytes')
  }
  if (view.getUint32(4, true) !== expectedCount)
    throw new MalformedDeltaError('state parameter count differs from the model')
  return safeInteger(view.getBigUint64(8, true), 'state round', MalformedDeltaError)
}

/** A state's vector, every value checked finite. */
function readPart(source: ByteSource, count: number, part: StatePart): Float32Array {
  const v = STATE_PARTS.indexOf(part)
  return readFloat32s(
    source,
    HEADER + 4 * count * v,
    count,
    (i, value) => new NonFiniteDeltaError(`state value ${i} of vector ${v} is ${value}`),
  )
}
