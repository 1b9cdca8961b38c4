// Byte encoding of a delta (pseudo-gradient), SPEC.md section 6. Pure functions.
//
// header (little-endian):
//   u8  formatVersion (1)
//   u8  encoding      (0 = fp32, 1 = int8-block)
//   u16 reserved      (0)
//   u32 count         number of parameters
//   u32 blockSize     int8-block only
// payload:
//   fp32:       count x f32
//   int8-block: ceil(count / blockSize) x f32 scale, then count x i8
import { DeltaShapeError, MalformedDeltaError, NonFiniteDeltaError } from './errors.js'

export type DeltaEncodingName = 'fp32' | 'int8-block'

export const DELTA_FORMAT_VERSION = 1
export const ENCODING_IDS: Record<DeltaEncodingName, number> = { fp32: 0, 'int8-block': 1 }
const FP32_HEADER_BYTES = 8
const INT8_HEADER_BYTES = 12
export const MAX_INT8_BLOCK_SIZE = 65536

export interface EncodeOptions {
  encoding: DeltaEncodingName
  /** int8-block only: parameters per scale (SPEC.md constants: codec.int8BlockSize). */
  blockSize?: number
}

/** Exact encoded size for a delta of `count` parameters: announcements must claim it (SPEC.md 6.4). */
export function encodedDeltaSize(count: number, options: EncodeOptions): number {
  if (options.encoding === 'fp32') return FP32_HEADER_BYTES + 4 * count
  const blockSize = checkBlockSize(options.blockSize)
  return INT8_HEADER_BYTES + 4 * Math.ceil(count / blockSize) + count
}

export function encodeDelta(values: Float32Array, options: EncodeOptions): Uint8Array {
  assertFinite(values)
  const out = new Uint8Array(encodedDeltaSize(values.length, options))
  const view = new DataView(out.buffer)
  view.setUint8(0, DELTA_FORMAT_VERSION)
  view.setUint8(1, ENCODING_IDS[options.encoding])
  view.setUint16(2, 0, true)
  view.setUint32(4, values.length, true)
  if (options.encoding === 'fp32') {
    for (let i = 0; i < values.length; i++) view.setFloat32(FP32_HEADER_BYTES + 4 * i, values[i], true)
    return out
  }
  const blockSize = checkBlockSize(options.blockSize)
  view.setUint32(8, blockSize, true)
  const blocks = Math.ceil(values.length / blockSize)
  const quantOffset = INT8_HEADER_BYTES + 4 * blocks
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize
    const end = Math.min(start + blockSize, values.length)
    let absMax = 0
    for (let i = start; i < end; i++) absMax = Math.max(absMax, Math.abs(values[i]))
    const scale = Math.fround(absMax / 127)
    view.setFloat32(INT8_HEADER_BYTES + 4 * b, scale, true)
    for (let i = start; i < end; i++) {
      const q = scale === 0 ? 0 : roundHalfEven(Math.fround(values[i] / scale))
      view.setInt8(quantOffset + i, Math.max(-127, Math.min(127, q)))
    }
  }
  return out
}

export interface DecodedDelta {
  encoding: DeltaEncodingName
  values: Float32Array
}

/**
 * Decodes and validates an encoded delta. Every length is checked against `expectedCount`
 * (the model's parameter count) before anything is allocated; any deviation throws a named error.
 */
export function decodeDelta(bytes: Uint8Array, expectedCount: number): DecodedDelta {
  if (bytes.length < FP32_HEADER_BYTES) {
    throw new MalformedDeltaError(
      `delta is ${bytes.length} bytes, shorter than its ${FP32_HEADER_BYTES}-byte header`,
    )
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(0)
  if (version !== DELTA_FORMAT_VERSION)
    throw new MalformedDeltaError(`unknown delta format version ${version}`)
  const encodingId = view.getUint8(1)
  if (view.getUint16(2, true) !== 0) throw new MalformedDeltaError('reserved header bytes are not zero')
  const count = view.getUint32(4, true)
  if (count !== expectedCount) {
    throw new DeltaShapeError(`delta has ${count} parameters, the model has ${expectedCount}`)
  }
  if (encodingId === ENCODING_IDS.fp32) {
    expectLength(bytes, FP32_HEADER_BYTES + 4 * count)
    const values = new Float32Array(count)
    for (let i = 0; i < count; i++) values[i] = view.getFloat32(FP32_HEADER_BYTES + 4 * i, true)
    assertFinite(values)
    return { encoding: 'fp32', values }
  }
  if (encodingId === ENCODING_IDS['int8-block']) {
    if (bytes.length < INT8_HEADER_BYTES)
      throw new MalformedDeltaError('int8-block delta shorter than its header')
    const blockSize = view.getUint32(8, true)
    if (blockSize < 1 || blockSize > MAX_INT8_BLOCK_SIZE) {
      throw new MalformedDeltaError(`int8 block size ${blockSize} outside [1, ${MAX_INT8_BLOCK_SIZE}]`)
    }
    const blocks = Math.ceil(count / blockSize)
    expectLength(bytes, INT8_HEADER_BYTES + 4 * blocks + count)
    const quantOffset = INT8_HEADER_BYTES + 4 * blocks
    const values = new Float32Array(count)
    for (let b = 0; b < blocks; b++) {
      const scale = view.getFloat32(INT8_HEADER_BYTES + 4 * b, true)
      if (!Number.isFinite(scale) || scale < 0) {
        throw new NonFiniteDeltaError(`int8 block ${b} has an invalid scale ${scale}`)
      }
      const end = Math.min((b + 1) * blockSize, count)
      for (let i = b * blockSize; i < end; i++) {
        const q = view.getInt8(quantOffset + i)
        if (q === -128)
          throw new MalformedDeltaError(`int8 value -128 at index ${i} (the range is [-127, 127])`)
        values[i] = Math.fround(q * scale)
      }
    }
    assertFinite(values)
    return { encoding: 'int8-block', values }
  }
  throw new MalformedDeltaError(`unknown delta encoding id ${encodingId}`)
}

export function assertFinite(values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new NonFiniteDeltaError(`value at index ${i} is ${values[i]}`)
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
    blockSize > MAX_INT8_BLOCK_SIZE
  ) {
    throw new RangeError(
      `int8-block needs an integer blockSize in [1, ${MAX_INT8_BLOCK_SIZE}] (got ${blockSize})`,
    )
  }
  return blockSize
}
