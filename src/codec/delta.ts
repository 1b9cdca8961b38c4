// Byte encoding of a delta (pseudo-gradient), SPEC.md section 6. Pure functions.
//
// header (little-endian):
//   u8  formatVersion (1)
//   u8  encoding      0 fp32, 1 int8-block, 2 fp16, 3 int4-block, 4 top-k
//   u16 reserved      (0)
//   u32 count         number of parameters
//   u32 param         int8-block / int4-block: blockSize; top-k: k; absent otherwise
// payload:
//   fp32:       count x f32
//   fp16:       count x binary16
//   int8-block: ceil(count / blockSize) x f32 scale, then count x i8 in [-127, 127]
//   int4-block: ceil(count / blockSize) x f32 scale, then ceil(count / 2) bytes of 4-bit values
//               in [-7, 7] (two's complement nibbles, element 2j in the low nibble of byte j)
//   top-k:      k x u32 strictly ascending indices < count, then k x f32 values
import { DeltaRangeError, DeltaShapeError, MalformedDeltaError, NonFiniteDeltaError } from './errors.js'
import { float32ToHalfBits, halfBitsToFloat32 } from './fp16.js'
import { selectTopK } from './topk.js'

export const DELTA_ENCODINGS = ['fp32', 'int8-block', 'fp16', 'int4-block', 'top-k'] as const
export type DeltaEncodingName = (typeof DELTA_ENCODINGS)[number]

export const DELTA_FORMAT_VERSION = 1
export const ENCODING_IDS: Record<DeltaEncodingName, number> = {
  fp32: 0,
  'int8-block': 1,
  fp16: 2,
  'int4-block': 3,
  'top-k': 4,
}
export const MAX_BLOCK_SIZE = 65536

const BASE_HEADER = 8
const PARAM_HEADER = 12
const QUANT_LEVELS: Record<'int8-block' | 'int4-block', number> = { 'int8-block': 127, 'int4-block': 7 }

export interface EncodeOptions {
  encoding: DeltaEncodingName
  /** int8-block and int4-block: parameters per scale. */
  blockSize?: number
  /** top-k: number of coordinates sent. */
  k?: number
}

/** Exact encoded size for a delta of `count` parameters: announcements must claim it (SPEC.md 6.7). */
export function encodedDeltaSize(count: number, options: EncodeOptions): number {
  switch (options.encoding) {
    case 'fp32':
      return BASE_HEADER + 4 * count
    case 'fp16':
      return BASE_HEADER + 2 * count
    case 'int8-block':
      return PARAM_HEADER + 4 * Math.ceil(count / checkBlockSize(options.blockSize)) + count
    case 'int4-block':
      return PARAM_HEADER + 4 * Math.ceil(count / checkBlockSize(options.blockSize)) + Math.ceil(count / 2)
    case 'top-k':
      return PARAM_HEADER + 8 * checkK(options.k, count)
  }
}

export function encodeDelta(values: Float32Array, options: EncodeOptions): Uint8Array {
  assertFinite(values)
  const count = values.length
  const out = new Uint8Array(encodedDeltaSize(count, options))
  const view = new DataView(out.buffer)
  view.setUint8(0, DELTA_FORMAT_VERSION)
  view.setUint8(1, ENCODING_IDS[options.encoding])
  view.setUint16(2, 0, true)
  view.setUint32(4, count, true)
  switch (options.encoding) {
    case 'fp32':
      for (let i = 0; i < count; i++) view.setFloat32(BASE_HEADER + 4 * i, values[i], true)
      return out
    case 'fp16':
      for (let i = 0; i < count; i++) view.setUint16(BASE_HEADER + 2 * i, float32ToHalfBits(values[i]), true)
      return out
    case 'int8-block':
    case 'int4-block':
      quantize(values, view, options.encoding, checkBlockSize(options.blockSize))
      return out
    case 'top-k': {
      const k = checkK(options.k, count)
      view.setUint32(8, k, true)
      const indices = selectTopK(values, k)
      for (let j = 0; j < k; j++) {
        view.setUint32(PARAM_HEADER + 4 * j, indices[j], true)
        view.setFloat32(PARAM_HEADER + 4 * k + 4 * j, values[indices[j]], true)
      }
      return out
    }
  }
}

/** Block absmax quantisation (SPEC.md 6.3, 6.5): scale = fl32(absmax / L), q = clamp(rne(x / scale), -L, L). */
function quantize(
  values: Float32Array,
  view: DataView,
  encoding: 'int8-block' | 'int4-block',
  blockSize: number,
): void {
  const count = values.length
  const levels = QUANT_LEVELS[encoding]
  view.setUint32(8, blockSize, true)
  const blocks = Math.ceil(count / blockSize)
  const quantOffset = PARAM_HEADER + 4 * blocks
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize
    const end = Math.min(start + blockSize, count)
    let absMax = 0
    for (let i = start; i < end; i++) absMax = Math.max(absMax, Math.abs(values[i]))
    const scale = Math.fround(absMax / levels)
    view.setFloat32(PARAM_HEADER + 4 * b, scale, true)
    for (let i = start; i < end; i++) {
      const q =
        scale === 0 ? 0 : Math.max(-levels, Math.min(levels, roundHalfEven(Math.fround(values[i] / scale))))
      if (encoding === 'int8-block') view.setInt8(quantOffset + i, q)
      else {
        const byte = quantOffset + (i >>> 1)
        const nibble = q & 0x0f
        view.setUint8(
          byte,
          i % 2 === 0 ? (view.getUint8(byte) & 0xf0) | nibble : (view.getUint8(byte) & 0x0f) | (nibble << 4),
        )
      }
    }
  }
}

export interface DecodedDelta {
  encoding: DeltaEncodingName
  values: Float32Array
}

/**
 * Decodes and validates an encoded delta (SPEC.md 6.8). Every length is checked against
 * `expectedCount` (the model's parameter count) before anything is allocated; any deviation
 * throws a named error.
 */
export function decodeDelta(bytes: Uint8Array, expectedCount: number): DecodedDelta {
  if (bytes.length < BASE_HEADER) {
    throw new MalformedDeltaError(
      `delta is ${bytes.length} bytes, shorter than its ${BASE_HEADER}-byte header`,
    )
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(0)
  if (version !== DELTA_FORMAT_VERSION)
    throw new MalformedDeltaError(`unknown delta format version ${version}`)
  const encodingId = view.getUint8(1)
  if (view.getUint16(2, true) !== 0) throw new MalformedDeltaError('reserved header bytes are not zero')
  const count = view.getUint32(4, true)
  if (count !== expectedCount)
    throw new DeltaShapeError(`delta has ${count} parameters, the model has ${expectedCount}`)
  const encoding = DELTA_ENCODINGS[encodingId]
  if (encoding === undefined) throw new MalformedDeltaError(`unknown delta encoding id ${encodingId}`)
  if (encoding !== 'fp32' && encoding !== 'fp16' && bytes.length < PARAM_HEADER) {
    throw new MalformedDeltaError(`${encoding} delta shorter than its ${PARAM_HEADER}-byte header`)
  }
  const values = new Float32Array(count)
  switch (encoding) {
    case 'fp32':
      expectLength(bytes, encodedDeltaSize(count, { encoding }))
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(BASE_HEADER + 4 * i, true)
      break
    case 'fp16':
      expectLength(bytes, encodedDeltaSize(count, { encoding }))
      for (let i = 0; i < count; i++) values[i] = halfBitsToFloat32(view.getUint16(BASE_HEADER + 2 * i, true))
      break
    case 'int8-block':
    case 'int4-block':
      dequantize(bytes, view, encoding, values)
      break
    case 'top-k': {
      const k = view.getUint32(8, true)
      if (k < 1 || k > count) throw new MalformedDeltaError(`top-k k = ${k} outside [1, ${count}]`)
      expectLength(bytes, encodedDeltaSize(count, { encoding, k }))
      let previous = -1
      for (let j = 0; j < k; j++) {
        const index = view.getUint32(PARAM_HEADER + 4 * j, true)
        if (index <= previous || index >= count) {
          throw new MalformedDeltaError(
            `top-k index ${index} at position ${j} is not ascending and below ${count}`,
          )
        }
        previous = index
        values[index] = view.getFloat32(PARAM_HEADER + 4 * k + 4 * j, true)
      }
      break
    }
  }
  assertFinite(values)
  return { encoding, values }
}

function dequantize(
  bytes: Uint8Array,
  view: DataView,
  encoding: 'int8-block' | 'int4-block',
  values: Float32Array,
): void {
  const count = values.length
  const blockSize = view.getUint32(8, true)
  if (blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
    throw new MalformedDeltaError(`block size ${blockSize} outside [1, ${MAX_BLOCK_SIZE}]`)
  }
  expectLength(bytes, encodedDeltaSize(count, { encoding, blockSize }))
  const blocks = Math.ceil(count / blockSize)
  const quantOffset = PARAM_HEADER + 4 * blocks
  const levels = QUANT_LEVELS[encoding]
  if (encoding === 'int4-block' && count % 2 === 1 && view.getUint8(bytes.length - 1) >> 4 !== 0) {
    throw new MalformedDeltaError('the unused high nibble of the last int4 byte is not zero')
  }
  for (let b = 0; b < blocks; b++) {
    const scale = view.getFloat32(PARAM_HEADER + 4 * b, true)
    if (!Number.isFinite(scale) || scale < 0)
      throw new NonFiniteDeltaError(`block ${b} has an invalid scale ${scale}`)
    const end = Math.min((b + 1) * blockSize, count)
    for (let i = b * blockSize; i < end; i++) {
      let q: number
      if (encoding === 'int8-block') q = view.getInt8(quantOffset + i)
      else {
        const byte = view.getUint8(quantOffset + (i >>> 1))
        const nibble = i % 2 === 0 ? byte & 0x0f : byte >> 4
        q = nibble >= 8 ? nibble - 16 : nibble
      }
      if (q < -levels)
        throw new MalformedDeltaError(
          `${encoding} value ${q} at index ${i} is outside [-${levels}, ${levels}]`,
        )
      values[i] = Math.fround(q * scale)
    }
  }
}

/**
 * The largest magnitude a delta value may have (SPEC.md 6.8, 2^`limits.maxDeltaMagnitudeLog2`): 2^64.
 * Far above any trained delta, and low enough that no aggregation rule of SPEC.md 8 can overflow
 * on inputs within it: a binary32 sum of n such values stays below 2^127 for any n below 2^62,
 * the median's a + b below 2^66, and a binary64 squared distance below 2^130 * d.
 */
export const MAX_DELTA_MAGNITUDE = 2 ** 64

/** Every value finite and within ±MAX_DELTA_MAGNITUDE (SPEC.md 6.8). */
export function assertFinite(values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (!Number.isFinite(value)) throw new NonFiniteDeltaError(`value at index ${i} is ${value}`)
    if (Math.abs(value) > MAX_DELTA_MAGNITUDE)
      throw new DeltaRangeError(`value at index ${i} is ${value}, beyond the bound of ±2^64`)
  }
}

/** IEEE round-half-to-even to an integer (SPEC.md 6.3). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x)
  const diff = x - floor
  if (diff < 0.5) return floor
  if (diff > 0.5) return floor + 1
  return floor % 2 === 0 ? floor : floor + 1
}

function expectLength(bytes: Uint8Array, expected: number): void {
  if (bytes.length !== expected) {
    throw new MalformedDeltaError(`delta is ${bytes.length} bytes, its header implies ${expected}`)
  }
}

function checkBlockSize(blockSize: number | undefined): number {
  if (
    blockSize === undefined ||
    !Number.isInteger(blockSize) ||
    blockSize < 1 ||
    blockSize > MAX_BLOCK_SIZE
  ) {
    throw new RangeError(
      `block encodings need an integer blockSize in [1, ${MAX_BLOCK_SIZE}] (got ${blockSize})`,
    )
  }
  return blockSize
}

function checkK(k: number | undefined, count: number): number {
  if (k === undefined || !Number.isInteger(k) || k < 1 || k > count) {
    throw new RangeError(`top-k needs an integer k in [1, ${count}] (got ${k})`)
  }
  return k
}
