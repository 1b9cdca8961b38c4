// A delta read through only the chunks that hold a range of its coordinates (codec/delta-ranges.ts,
// issue 20): what a shard's aggregator fetches of every delta decodes that shard exactly as the
// whole delta does, and reading outside it fails by name.
import { describe, expect, it } from 'vitest'
import { decodeDelta, type EncodeOptions, encodeDelta, openDelta } from '../../src/codec/delta.js'
import {
  chunkedSource,
  chunksHolding,
  encodedRangesOf,
  MissingChunkError,
  UnshardableEncodingError,
} from '../../src/codec/delta-ranges.js'
import { MalformedDeltaError } from '../../src/codec/errors.js'
import { chunkCount, chunkRange } from '../../src/crypto/merkle.js'
import { HashStream } from '../../src/crypto/prng.js'

const COUNT = 10_007 // not a multiple of any block, chunk or transfer chunk size below
const CHUNK_BYTES = 256 // small transfer chunks, so that a range spans several and leaves most out

const ENCODINGS: EncodeOptions[] = [
  { encoding: 'fp32' },
  { encoding: 'fp16' },
  { encoding: 'int8-block', blockSize: 64 },
  { encoding: 'int4-block', blockSize: 64 },
  { encoding: 'sparse-2bit', blockSize: 128, k: 8 },
]

function values(seed: number): Float32Array {
  const s = new HashStream('delta-ranges-test', new Uint8Array([seed]))
  return Float32Array.from({ length: COUNT }, () => s.nextSymmetricUnit() * 0.01)
}

/** The encoded delta held as chunks, only those of `wanted`. */
function heldOnly(bytes: Uint8Array, wanted: readonly number[]) {
  const keep = new Set(wanted)
  return chunkedSource(bytes.length, CHUNK_BYTES, (i) => {
    if (!keep.has(i)) return undefined
    const { start, end } = chunkRange(bytes.length, CHUNK_BYTES, i)
    return bytes.slice(start, end)
  })
}

describe('a delta read by coordinate range from some of its chunks', () => {
  for (const options of ENCODINGS) {
    it(`${options.encoding}: decodes each range bit for bit from the chunks that hold it, and no others`, () => {
      const bytes = encodeDelta(values(3), options)
      const whole = decodeDelta(bytes, COUNT).values
      const total = chunkCount(bytes.length, CHUNK_BYTES)
      const s = new HashStream('delta-ranges-ranges', new Uint8Array([total]))
      const ranges: [number, number][] = [
        [0, 1],
        [0, COUNT],
        [COUNT - 1, COUNT],
        [1250, 2500], // an eighth of the coordinates, off every boundary
        ...Array.from({ length: 20 }, (): [number, number] => {
          const a = s.nextBelow(COUNT)
          const b = s.nextBelow(COUNT)
          return [Math.min(a, b), Math.max(a, b) + 1]
        }),
      ]
      for (const [start, end] of ranges) {
        const wanted = chunksHolding(encodedRangesOf(COUNT, options, start, end), bytes.length, CHUNK_BYTES)
        const decoded = openDelta(heldOnly(bytes, wanted), COUNT).subarray(start, end)
        expect(
          Buffer.from(decoded.buffer).equals(Buffer.from(whole.slice(start, end).buffer)),
          `[${start}, ${end})`,
        ).toBe(true)
        if (end - start === 1250)
          // an eighth of the coordinates needs far fewer than all the chunks (the header's chunk
          // and, for int4-block, the last one come on top of the range's own)
          expect(wanted.length, `${wanted.length} of ${total} chunks`).toBeLessThan(total / 2)
        // every chunk named is needed: without any one of them the range cannot be read
        for (const missing of wanted) {
          const read = () =>
            openDelta(
              heldOnly(
                bytes,
                wanted.filter((c) => c !== missing),
              ),
              COUNT,
            ).subarray(start, end)
          expect(read, `[${start}, ${end}) without chunk ${missing}`).toThrow(MissingChunkError)
        }
      }
    })
  }

  it('checks what it reads: a bad value inside the range is refused, one outside it is not read', () => {
    const options: EncodeOptions = { encoding: 'int8-block', blockSize: 64 }
    const bytes = encodeDelta(values(5), options)
    const valuesAt = 12 + 4 * Math.ceil(COUNT / 64)
    bytes[valuesAt + 100] = 0x80 // -128: never written by an encoder (SPEC.md 6.8)
    const read = (start: number, end: number) => {
      const wanted = chunksHolding(encodedRangesOf(COUNT, options, start, end), bytes.length, CHUNK_BYTES)
      return openDelta(heldOnly(bytes, wanted), COUNT).subarray(start, end)
    }
    expect(() => read(0, 200)).toThrow(MalformedDeltaError)
    expect(read(5000, 6000)).toHaveLength(1000)
  })

  it('refuses top-k, whose indices span the whole vector, by name', () => {
    expect(() => encodedRangesOf(COUNT, { encoding: 'top-k', k: 100 }, 0, 10)).toThrow(
      UnshardableEncodingError,
    )
  })
})
