// sparse-2bit (SPEC.md 6.10): top-k by chunk with 2-bit values, SparseLoCo's compression (Sarfi et
// al. 2025; Covenant-72B sent 1.56 % of each chunk's coordinates at 2 bits). The coordinates are
// cut into chunks of `chunkSize`; each chunk sends its `k` largest coordinates as u16 offsets and a
// 2-bit code each (sign, and one of the chunk's two magnitudes `lo` and `hi`). Every chunk's record
// has one size (the last chunk's may be shorter), so a range of chunks is a range of bytes: a
// shard of the coordinates is a shard of the encoded delta.
//
// record of a chunk of length L, with kc = min(k, L):
//   f32 lo, f32 hi (0 <= lo <= hi), kc x u16 offsets strictly ascending below L,
//   ceil(kc / 4) bytes of codes: value j in bits 2(j mod 4) and 2(j mod 4) + 1 of byte floor(j / 4),
//   the low bit its sign (1: negative), the high bit its magnitude (0: lo, 1: hi); unused bits 0.
import type { ByteSource } from './delta.js'
import { MalformedDeltaError, NonFiniteDeltaError } from './errors.js'
import { selectTopK } from './topk.js'

/** Header bytes of a sparse-2bit delta: the common 8, then u32 chunkSize and u32 k. */
export const SPARSE_HEADER = 16
export const MAX_CHUNK_SIZE = 65536

/** Values of a chunk of `length` coordinates that a record carries. */
export function valuesInChunk(length: number, k: number): number {
  return Math.min(k, length)
}

/** Bytes of the record of a chunk of `length` coordinates. */
export function recordSize(length: number, k: number): number {
  const values = valuesInChunk(length, k)
  return 8 + 2 * values + Math.ceil(values / 4)
}

/** Exact encoded size (SPEC.md 6.7): header, then one record per chunk. */
export function sparseSize(count: number, chunkSize: number, k: number): number {
  const full = Math.floor(count / chunkSize)
  const last = count - full * chunkSize
  return SPARSE_HEADER + full * recordSize(chunkSize, k) + (last > 0 ? recordSize(last, k) : 0)
}

/** Byte offset of chunk `c`'s record: every chunk before it is full. */
export function recordOffset(chunk: number, chunkSize: number, k: number): number {
  return SPARSE_HEADER + chunk * recordSize(chunkSize, k)
}

/**
 * Writes the records of `values` after a header already written (SPEC.md 6.10): per chunk, the k
 * largest magnitudes (ties to the lower offset), split at their mean `mu` (binary64 sum in offset
 * order, divided by their number, rounded to binary32): `hi` is the mean of those >= mu, `lo` of
 * the others (`hi` when there are none), each computed the same way.
 */
export function writeSparse(values: Float32Array, view: DataView, chunkSize: number, k: number): void {
  const count = values.length
  const chunks = Math.ceil(count / chunkSize)
  for (let c = 0; c < chunks; c++) {
    const start = c * chunkSize
    const chunk = values.subarray(start, Math.min(start + chunkSize, count))
    const kc = valuesInChunk(chunk.length, k)
    const offsets = selectTopK(chunk, kc)
    let sum = 0
    for (let j = 0; j < kc; j++) sum += Math.abs(chunk[offsets[j]])
    const mu = Math.fround(sum / kc)
    let hiSum = 0
    let hiCount = 0
    let loSum = 0
    for (let j = 0; j < kc; j++) {
      const magnitude = Math.abs(chunk[offsets[j]])
      if (magnitude >= mu) {
        hiSum += magnitude
        hiCount++
      } else loSum += magnitude
    }
    const hi = Math.fround(hiSum / hiCount)
    const lo = hiCount === kc ? hi : Math.fround(loSum / (kc - hiCount))
    const at = recordOffset(c, chunkSize, k)
    view.setFloat32(at, lo, true)
    view.setFloat32(at + 4, hi, true)
    const codes = at + 8 + 2 * kc
    for (let j = 0; j < kc; j++) {
      const value = chunk[offsets[j]]
      view.setUint16(at + 8 + 2 * j, offsets[j], true)
      const code = (value < 0 || Object.is(value, -0) ? 1 : 0) | (Math.abs(value) >= mu ? 2 : 0)
      const byte = codes + (j >>> 2)
      view.setUint8(byte, view.getUint8(byte) | (code << (2 * (j & 3))))
    }
  }
}

/**
 * The decoder of a sparse-2bit delta whose header and length were checked: it decodes the chunks
 * that overlap [start, end), checking each record (SPEC.md 6.8) as it reads it.
 */
export function sparseDecoder(
  bytes: ByteSource,
  count: number,
  chunkSize: number,
  k: number,
): (start: number, end: number, out: Float32Array) => void {
  return (start, end, out) => {
    if (start === end) return
    const first = Math.floor(start / chunkSize)
    const last = Math.floor((end - 1) / chunkSize)
    for (let c = first; c <= last; c++) {
      const chunkStart = c * chunkSize
      const length = Math.min(chunkSize, count - chunkStart)
      const kc = valuesInChunk(length, k)
      const at = recordOffset(c, chunkSize, k)
      const record = bytes.subarray(at, at + recordSize(length, k))
      const view = new DataView(record.buffer, record.byteOffset, record.byteLength)
      const lo = view.getFloat32(0, true)
      const hi = view.getFloat32(4, true)
      if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo >= 0 && hi >= 0))
        throw new NonFiniteDeltaError(`chunk ${c} has invalid magnitudes lo ${lo}, hi ${hi}`)
      if (lo > hi) throw new MalformedDeltaError(`chunk ${c} has lo ${lo} above hi ${hi}`)
      const codes = 8 + 2 * kc
      let previous = -1
      for (let j = 0; j < kc; j++) {
        const offset = view.getUint16(8 + 2 * j, true)
        if (offset <= previous || offset >= length)
          throw new MalformedDeltaError(
            `chunk ${c}: offset ${offset} at position ${j} is not ascending and below ${length}`,
          )
        previous = offset
        const index = chunkStart + offset
        if (index < start || index >= end) continue
        const code = (record[codes + (j >>> 2)] >> (2 * (j & 3))) & 3
        const magnitude = code & 2 ? hi : lo
        out[index - start] = code & 1 ? -magnitude : magnitude
      }
      if (kc % 4 !== 0 && record[codes + (kc >>> 2)] >> (2 * (kc % 4)) !== 0)
        throw new MalformedDeltaError(`chunk ${c}: the unused bits of its last code byte are not zero`)
    }
  }
}
