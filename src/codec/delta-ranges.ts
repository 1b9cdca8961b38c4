// Which bytes of an encoded delta hold a range of its coordinates (SPEC.md 6.2-6.10), and a byte
// source over the verified chunks of the object that were fetched. A sharded exchange (issue 20,
// docs/sharded-aggregation.md) fetches only the chunks of a delta that hold its shards: openDelta
// reads the header (and int4-block's last byte) when it opens a delta and the bytes of a range
// when it decodes it, so a delta opened over those chunks decodes and checks its shards alone.
// Pure functions.
import { chunkCount, chunkRange } from '../crypto/merkle.js'
import { type ByteSource, type EncodeOptions, encodedDeltaSize } from './delta.js'
import { recordOffset, recordSize, SPARSE_HEADER } from './sparse-2bit.js'

/** A byte range [start, end) of an encoded object. */
export interface ByteRange {
  start: number
  end: number
}

export class UnshardableEncodingError extends Error {
  override name = 'UnshardableEncodingError'
}

/**
 * The byte ranges of a delta of `count` coordinates, encoded with `options`, that openDelta reads
 * to open it and to decode coordinates [start, end): the header, then the range's own bytes
 * (int8-block and int4-block: its blocks' scales and its quantised values; int4-block also the
 * last byte, whose padding nibble opening checks; sparse-2bit: the records of its chunks). top-k
 * has no such ranges: its indices span the whole vector, and opening reads them all.
 */
export function encodedRangesOf(
  count: number,
  options: EncodeOptions,
  start: number,
  end: number,
): ByteRange[] {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= count))
    throw new RangeError(`coordinates [${start}, ${end}) outside a delta of ${count}`)
  const size = encodedDeltaSize(count, options)
  const ranges: ByteRange[] = []
  const add = (from: number, to: number) => {
    if (from < to) ranges.push({ start: from, end: to })
  }
  switch (options.encoding) {
    case 'fp32':
    case 'fp16': {
      const width = options.encoding === 'fp32' ? 4 : 2
      add(0, 8)
      add(8 + width * start, 8 + width * end)
      break
    }
    case 'int8-block':
    case 'int4-block': {
      const blockSize = options.blockSize as number
      const blocks = Math.ceil(count / blockSize)
      add(0, 12)
      if (start < end) {
        add(12 + 4 * Math.floor(start / blockSize), 12 + 4 * (Math.floor((end - 1) / blockSize) + 1))
        const values = 12 + 4 * blocks
        if (options.encoding === 'int8-block') add(values + start, values + end)
        else add(values + (start >>> 1), values + ((end + 1) >>> 1))
      }
      if (options.encoding === 'int4-block') add(size - 1, size)
      break
    }
    case 'sparse-2bit': {
      const chunkSize = options.blockSize as number
      const k = options.k as number
      add(0, SPARSE_HEADER)
      if (start < end) {
        const first = Math.floor(start / chunkSize)
        const last = Math.floor((end - 1) / chunkSize)
        add(
          recordOffset(first, chunkSize, k),
          recordOffset(last, chunkSize, k) + recordSize(Math.min(chunkSize, count - last * chunkSize), k),
        )
      }
      break
    }
    case 'top-k':
      throw new UnshardableEncodingError(
        'a top-k delta cannot be read by coordinate range: its indices span the whole vector (use sparse-2bit)',
      )
  }
  return ranges
}

/** The indices of the transfer chunks (of `chunkBytes`) of an object of `size` that hold `ranges`, ascending. */
export function chunksHolding(ranges: readonly ByteRange[], size: number, chunkBytes: number): number[] {
  const chunks = new Set<number>()
  for (const { start, end } of ranges) {
    if (start < 0 || end > size || start >= end)
      throw new RangeError(`bytes [${start}, ${end}) outside an object of ${size}`)
    for (let c = Math.floor(start / chunkBytes); c <= Math.floor((end - 1) / chunkBytes); c++) chunks.add(c)
  }
  return [...chunks].sort((a, b) => a - b)
}

/**
 * The transfer chunks of a delta of `count` coordinates, encoded with `options`, that a node reads
 * for coordinate `ranges` (SPEC.md 18.3): those holding the ranges' bytes and the header; the
 * header's alone for no range.
 */
export function chunksOfRanges(
  ranges: readonly { start: number; end: number }[],
  count: number,
  options: EncodeOptions,
  chunkBytes: number,
): number[] {
  const bytes = ranges.flatMap((r) => encodedRangesOf(count, options, r.start, r.end))
  if (bytes.length === 0) bytes.push(...encodedRangesOf(count, options, 0, 0))
  return chunksHolding(bytes, encodedDeltaSize(count, options), chunkBytes)
}

export class MissingChunkError extends RangeError {
  override name = 'MissingChunkError'
}

/**
 * An object of `size` bytes read through those of its chunks that are held (`chunk(i)`, undefined
 * when not fetched): a range within one chunk is a view of it, across chunks a copy. Reading a
 * byte of a chunk that is not held throws MissingChunkError, naming it: a caller that fetched the
 * chunks of the ranges it reads never meets it.
 */
export function chunkedSource(
  size: number,
  chunkBytes: number,
  chunk: (index: number) => Uint8Array | undefined,
): ByteSource {
  const count = chunkCount(size, chunkBytes)
  const held = (index: number): Uint8Array => {
    const bytes = chunk(index)
    if (bytes === undefined)
      throw new MissingChunkError(
        `chunk ${index} of ${count} was not fetched (it holds bytes outside the ranges read)`,
      )
    return bytes
  }
  return {
    length: size,
    subarray(start: number, end: number): Uint8Array {
      if (!(0 <= start && start <= end && end <= size))
        throw new RangeError(`bytes [${start}, ${end}) outside an object of ${size}`)
      if (start === end) return new Uint8Array(0)
      const first = Math.floor(start / chunkBytes)
      const last = Math.floor((end - 1) / chunkBytes)
      if (first === last) {
        const at = chunkRange(size, chunkBytes, first).start
        return held(first).subarray(start - at, end - at)
      }
      const out = new Uint8Array(end - start)
      for (let c = first; c <= last; c++) {
        const range = chunkRange(size, chunkBytes, c)
        const from = Math.max(start, range.start)
        const to = Math.min(end, range.end)
        out.set(held(c).subarray(from - range.start, to - range.start), from - start)
      }
      return out
    },
  }
}
