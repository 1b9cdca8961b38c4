// Byte encoding of a delta (pseudo-gradient), SPEC.md section 6. Pure functions.
//
// header (little-endian):
//   u8  formatVersion (1)
//   u8  encoding      0 fp32, 1 int8-block, 2 fp16, 3 int4-block, 4 top-k, 5 sparse-2bit
//   u16 reserved      (0)
//   u32 count         number of parameters
//   u32 param         int8-block / int4-block: blockSize; top-k: k; sparse-2bit: chunkSize;
//                     absent otherwise
//   u32 k             sparse-2bit only: values sent per chunk
// payload:
//   fp32:       count x f32
//   fp16:       count x binary16
//   int8-block: ceil(count / blockSize) x f32 scale, then count x i8 in [-127, 127]
//   int4-block: ceil(count / blockSize) x f32 scale, then ceil(count / 2) bytes of 4-bit values
//               in [-7, 7] (two's complement nibbles, element 2j in the low nibble of byte j)
//   top-k:      k x u32 strictly ascending indices < count, then k x f32 values
//   sparse-2bit: one record per chunk of chunkSize coordinates (codec/sparse-2bit.ts)
import { DeltaRangeError, DeltaShapeError, MalformedDeltaError, NonFiniteDeltaError } from './errors.js'
import { float32ToHalfBits, halfBitsToFloat32 } from './fp16.js'
import { MAX_CHUNK_SIZE, SPARSE_HEADER, sparseDecoder, sparseSize, writeSparse } from './sparse-2bit.js'
import { selectTopK } from './topk.js'

export const DELTA_ENCODINGS = ['fp32', 'int8-block', 'fp16', 'int4-block', 'top-k', 'sparse-2bit'] as const
export type DeltaEncodingName = (typeof DELTA_ENCODINGS)[number]

export const DELTA_FORMAT_VERSION = 1
export const ENCODING_IDS: Record<DeltaEncodingName, number> = {
  fp32: 0,
  'int8-block': 1,
  fp16: 2,
  'int4-block': 3,
  'top-k': 4,
  'sparse-2bit': 5,
}
export const MAX_BLOCK_SIZE = 65536

const BASE_HEADER = 8
const PARAM_HEADER = 12
const QUANT_LEVELS: Record<'int8-block' | 'int4-block', number> = { 'int8-block': 127, 'int4-block': 7 }

export interface EncodeOptions {
  encoding: DeltaEncodingName
  /** int8-block and int4-block: parameters per scale; sparse-2bit: coordinates per chunk. */
  blockSize?: number
  /** top-k: number of coordinates sent; sparse-2bit: number sent per chunk. */
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
    case 'sparse-2bit': {
      const chunkSize = checkBlockSize(options.blockSize)
      return sparseSize(count, chunkSize, checkK(options.k, chunkSize))
    }
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
    case 'sparse-2bit': {
      const chunkSize = checkBlockSize(options.blockSize)
      const k = checkK(options.k, chunkSize)
      view.setUint32(8, chunkSize, true)
      view.setUint32(12, k, true)
      writeSparse(values, view, chunkSize, k)
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
  const int8 = new Int8Array(
    view.buffer,
    view.byteOffset + quantOffset,
    encoding === 'int8-block' ? count : 0,
  )
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
      if (encoding === 'int8-block') int8[i] = q
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
 * Encoded bytes read by range: a Uint8Array is one, and so is a file read piece by piece
 * (store/delta-store.ts), so a delta is decoded block by block without holding it whole.
 */
export interface ByteSource {
  readonly length: number
  subarray(start: number, end: number): Uint8Array
}

/**
 * An encoded delta whose header and lengths are checked (SPEC.md 6.8), decoded range by range:
 * `subarray(start, end)` decodes and checks the values of [start, end). The aggregation reads it
 * as a vector source (aggregate/blocks.ts).
 */
export interface OpenedDelta {
  readonly encoding: DeltaEncodingName
  readonly length: number
  subarray(start: number, end: number): Float32Array
}

/**
 * Decodes and validates an encoded delta (SPEC.md 6.8). Every length is checked against
 * `expectedCount` (the model's parameter count) before anything is allocated; any deviation
 * throws a named error.
 */
export function decodeDelta(bytes: Uint8Array, expectedCount: number): DecodedDelta {
  const opened = openDelta(bytes, expectedCount)
  return { encoding: opened.encoding, values: opened.subarray(0, expectedCount) }
}

/** Checks every value of an encoded delta (SPEC.md 6.8) block by block, holding none of them. */
export function validateDelta(bytes: ByteSource, expectedCount: number, block = 1 << 20): DeltaEncodingName {
  const opened = openDelta(bytes, expectedCount)
  for (let start = 0; start < expectedCount; start += block)
    opened.subarray(start, Math.min(start + block, expectedCount))
  return opened.encoding
}

/**
 * Opens an encoded delta (SPEC.md 6.8): checks its header and length against `expectedCount`
 * before anything is allocated; values are decoded and checked (finite, within the magnitude
 * bound, quantised values and scales in range) as each range is read.
 */
export function openDelta(bytes: ByteSource, expectedCount: number): OpenedDelta {
  if (bytes.length < BASE_HEADER) {
    throw new MalformedDeltaError(
      `delta is ${bytes.length} bytes, shorter than its ${BASE_HEADER}-byte header`,
    )
  }
  const header = viewOf(bytes.subarray(0, Math.min(bytes.length, PARAM_HEADER)))
  const version = header.getUint8(0)
  if (version !== DELTA_FORMAT_VERSION)
    throw new MalformedDeltaError(`unknown delta format version ${version}`)
  const encodingId = header.getUint8(1)
  if (header.getUint16(2, true) !== 0) throw new MalformedDeltaError('reserved header bytes are not zero')
  const count = header.getUint32(4, true)
  if (count !== expectedCount)
    throw new DeltaShapeError(`delta has ${count} parameters, the model has ${expectedCount}`)
  const encoding = DELTA_ENCODINGS[encodingId]
  if (encoding === undefined) throw new MalformedDeltaError(`unknown delta encoding id ${encodingId}`)
  if (encoding !== 'fp32' && encoding !== 'fp16' && bytes.length < PARAM_HEADER) {
    throw new MalformedDeltaError(`${encoding} delta shorter than its ${PARAM_HEADER}-byte header`)
  }
  let decode: (start: number, end: number, out: Float32Array) => void
  switch (encoding) {
    case 'fp32':
    case 'fp16': {
      expectLength(bytes, encodedDeltaSize(count, { encoding }))
      const width = encoding === 'fp32' ? 4 : 2
      decode = (start, end, out) => {
        const view = viewOf(bytes.subarray(BASE_HEADER + width * start, BASE_HEADER + width * end))
        if (encoding === 'fp32') for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true)
        else for (let i = 0; i < out.length; i++) out[i] = halfBitsToFloat32(view.getUint16(2 * i, true))
      }
      break
    }
    case 'int8-block':
    case 'int4-block':
      decode = dequantizer(bytes, header, encoding, count)
      break
    case 'top-k':
      decode = topkDecoder(bytes, header, count)
      break
    case 'sparse-2bit':
      decode = chunkDecoder(bytes, count)
      break
  }
  return {
    encoding,
    length: count,
    subarray(start: number, end: number): Float32Array {
      if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= count))
        throw new RangeError(`range [${start}, ${end}) outside the delta's ${count} values`)
      const out = new Float32Array(end - start)
      decode(start, end, out)
      assertFinite(out, start)
      return out
    },
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Block quantisation (SPEC.md 6.3, 6.5): checks the header and length; decodes ranges. */
function dequantizer(
  bytes: ByteSource,
  header: DataView,
  encoding: 'int8-block' | 'int4-block',
  count: number,
): (start: number, end: number, out: Float32Array) => void {
  const blockSize = header.getUint32(8, true)
  if (blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
    throw new MalformedDeltaError(`block size ${blockSize} outside [1, ${MAX_BLOCK_SIZE}]`)
  }
  expectLength(bytes, encodedDeltaSize(count, { encoding, blockSize }))
  const blocks = Math.ceil(count / blockSize)
  const quantOffset = PARAM_HEADER + 4 * blocks
  const levels = QUANT_LEVELS[encoding]
  if (
    encoding === 'int4-block' &&
    count % 2 === 1 &&
    bytes.subarray(bytes.length - 1, bytes.length)[0] >> 4 !== 0
  ) {
    throw new MalformedDeltaError('the unused high nibble of the last int4 byte is not zero')
  }
  return (start, end, out) => {
    if (start === end) return
    const firstBlock = Math.floor(start / blockSize)
    const lastBlock = Math.floor((end - 1) / blockSize)
    const scales = viewOf(bytes.subarray(PARAM_HEADER + 4 * firstBlock, PARAM_HEADER + 4 * (lastBlock + 1)))
    const firstByte = encoding === 'int8-block' ? start : start >>> 1
    const lastByte = encoding === 'int8-block' ? end : (end + 1) >>> 1
    const quantBytes = bytes.subarray(quantOffset + firstByte, quantOffset + lastByte)
    // int8 values read through a typed view: a DataView call per value is several times slower
    const int8 = new Int8Array(quantBytes.buffer, quantBytes.byteOffset, quantBytes.byteLength)
    for (let b = firstBlock; b <= lastBlock; b++) {
      const scale = scales.getFloat32(4 * (b - firstBlock), true)
      if (!Number.isFinite(scale) || scale < 0)
        throw new NonFiniteDeltaError(`block ${b} has an invalid scale ${scale}`)
      const blockEnd = Math.min((b + 1) * blockSize, end)
      for (let i = Math.max(b * blockSize, start); i < blockEnd; i++) {
        let q: number
        if (encoding === 'int8-block') q = int8[i - firstByte]
        else {
          const byte = quantBytes[(i >>> 1) - firstByte]
          const nibble = i % 2 === 0 ? byte & 0x0f : byte >> 4
          q = nibble >= 8 ? nibble - 16 : nibble
        }
        if (q < -levels)
          throw new MalformedDeltaError(
            `${encoding} value ${q} at index ${i} is outside [-${levels}, ${levels}]`,
          )
        out[i - start] = Math.fround(q * scale)
      }
    }
  }
}

/**
 * Top-k (SPEC.md 6.6): checks k, the length and that the indices ascend below count, and keeps the
 * k (index, value) pairs (the encoded size, 8 k bytes); a range is filled from them.
 */
function topkDecoder(
  bytes: ByteSource,
  header: DataView,
  count: number,
): (start: number, end: number, out: Float32Array) => void {
  const k = header.getUint32(8, true)
  if (k < 1 || k > count) throw new MalformedDeltaError(`top-k k = ${k} outside [1, ${count}]`)
  expectLength(bytes, encodedDeltaSize(count, { encoding: 'top-k', k }))
  const indexView = viewOf(bytes.subarray(PARAM_HEADER, PARAM_HEADER + 4 * k))
  const valueView = viewOf(bytes.subarray(PARAM_HEADER + 4 * k, PARAM_HEADER + 8 * k))
  const indices = new Uint32Array(k)
  const values = new Float32Array(k)
  let previous = -1
  for (let j = 0; j < k; j++) {
    const index = indexView.getUint32(4 * j, true)
    if (index <= previous || index >= count) {
      throw new MalformedDeltaError(
        `top-k index ${index} at position ${j} is not ascending and below ${count}`,
      )
    }
    previous = index
    indices[j] = index
    values[j] = valueView.getFloat32(4 * j, true)
  }
  return (start, end, out) => {
    let lo = 0
    let hi = k
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (indices[mid] < start) lo = mid + 1
      else hi = mid
    }
    for (let j = lo; j < k && indices[j] < end; j++) out[indices[j] - start] = values[j]
  }
}

/** sparse-2bit (SPEC.md 6.10): checks the chunk size, k and the length; records are checked as read. */
function chunkDecoder(
  bytes: ByteSource,
  count: number,
): (start: number, end: number, out: Float32Array) => void {
  if (bytes.length < SPARSE_HEADER)
    throw new MalformedDeltaError(`sparse-2bit delta shorter than its ${SPARSE_HEADER}-byte header`)
  const header = viewOf(bytes.subarray(0, SPARSE_HEADER))
  const chunkSize = header.getUint32(8, true)
  if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE)
    throw new MalformedDeltaError(`chunk size ${chunkSize} outside [1, ${MAX_CHUNK_SIZE}]`)
  const k = header.getUint32(12, true)
  if (k < 1 || k > chunkSize) throw new MalformedDeltaError(`sparse-2bit k = ${k} outside [1, ${chunkSize}]`)
  expectLength(bytes, sparseSize(count, chunkSize, k))
  return sparseDecoder(bytes, count, chunkSize, k)
}

/**
 * The largest magnitude a delta value may have (SPEC.md 6.8, 2^`limits.maxDeltaMagnitudeLog2`): 2^64.
 * Far above any trained delta, and low enough that no aggregation rule of SPEC.md 8 can overflow
 * on inputs within it: a binary32 sum of n such values stays below 2^127 for any n below 2^62,
 * the median's a + b below 2^66, and a binary64 squared distance below 2^130 * d.
 */
export const MAX_DELTA_MAGNITUDE = 2 ** 64

/** Every value finite and within ±MAX_DELTA_MAGNITUDE (SPEC.md 6.8); `offset`: index of values[0]. */
export function assertFinite(values: Float32Array, offset = 0): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (!Number.isFinite(value)) throw new NonFiniteDeltaError(`value at index ${offset + i} is ${value}`)
    if (Math.abs(value) > MAX_DELTA_MAGNITUDE)
      throw new DeltaRangeError(`value at index ${offset + i} is ${value}, beyond the bound of ±2^64`)
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

function expectLength(bytes: ByteSource, expected: number): void {
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
