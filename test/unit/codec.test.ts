import { describe, expect, it } from 'vitest'
import {
  decodeDelta,
  encodeDelta,
  encodedDeltaSize,
  openDelta,
  roundHalfEven,
  validateDelta,
} from '../../src/codec/delta.js'
import { compressWithFeedback } from '../../src/codec/error-feedback.js'
import {
  DeltaRangeError,
  DeltaShapeError,
  MalformedDeltaError,
  NonFiniteDeltaError,
} from '../../src/codec/errors.js'
import { FP16_MAX, float32ToHalfBits, halfBitsToFloat32 } from '../../src/codec/fp16.js'
import { selectTopK, topkCount } from '../../src/codec/topk.js'
import { HashStream } from '../../src/crypto/prng.js'

function randomVector(n: number, seed: number): Float32Array {
  const s = new HashStream('codec-test', new Uint8Array([seed]))
  return Float32Array.from({ length: n }, () => s.nextSymmetricUnit() * (1 + (seed % 5)))
}

describe('fp32 delta encoding', () => {
  it('round-trips exactly, including -0, subnormals and the magnitude bound (SPEC.md 6.8)', () => {
    const values = new Float32Array([0, -0, 1e-45, -(2 ** 64), 2 ** 64, 0.1, ...randomVector(1000, 1)])
    const bytes = encodeDelta(values, { encoding: 'fp32' })
    expect(bytes.length).toBe(encodedDeltaSize(values.length, { encoding: 'fp32' }))
    const decoded = decodeDelta(bytes, values.length)
    expect(decoded.encoding).toBe('fp32')
    expect(Buffer.from(decoded.values.buffer).equals(Buffer.from(values.buffer))).toBe(true)
  })

  it('refuses to encode or decode a finite value beyond 2^64, which could overflow an aggregate', () => {
    const beyond = Math.fround(2 ** 64 * (1 + 2 ** -23))
    expect(() => encodeDelta(new Float32Array([1, -beyond]), { encoding: 'fp32' })).toThrow(DeltaRangeError)
    const bytes = encodeDelta(new Float32Array([1, 2]), { encoding: 'fp32' })
    new DataView(bytes.buffer).setFloat32(12, 3.4e38, true)
    expect(() => decodeDelta(bytes, 2)).toThrow(DeltaRangeError)
    // an int8 block whose scale puts 127 levels past the bound
    const int8 = encodeDelta(new Float32Array([1, -1]), { encoding: 'int8-block', blockSize: 2 })
    new DataView(int8.buffer).setFloat32(12, 2 ** 60, true)
    expect(() => decodeDelta(int8, 2)).toThrow(DeltaRangeError)
  })

  it('refuses to encode NaN or Infinity', () => {
    expect(() => encodeDelta(new Float32Array([1, Number.NaN]), { encoding: 'fp32' })).toThrow(
      NonFiniteDeltaError,
    )
    expect(() => encodeDelta(new Float32Array([Number.POSITIVE_INFINITY]), { encoding: 'fp32' })).toThrow(
      NonFiniteDeltaError,
    )
  })
})

describe('int8-block delta encoding', () => {
  it('reconstructs every value within half a quantisation step (absmax / 254) of its block', () => {
    const blockSize = 64
    const values = randomVector(1000, 3)
    const decoded = decodeDelta(
      encodeDelta(values, { encoding: 'int8-block', blockSize }),
      values.length,
    ).values
    for (let b = 0; b < values.length; b += blockSize) {
      const block = values.subarray(b, b + blockSize)
      const absMax = Math.max(...block.map(Math.abs))
      const bound = (absMax / 127) * 0.5 * (1 + 1e-6) + 1e-12
      for (let i = 0; i < block.length; i++)
        expect(Math.abs(block[i] - decoded[b + i])).toBeLessThanOrEqual(bound)
    }
  })

  it('keeps an all-zero block at exactly zero and the block maximum exact', () => {
    const values = new Float32Array(8)
    values[5] = -0.75
    const decoded = decodeDelta(encodeDelta(values, { encoding: 'int8-block', blockSize: 4 }), 8).values
    expect([...decoded.subarray(0, 4)]).toEqual([0, 0, 0, 0])
    expect(decoded[5]).toBe(-0.75)
  })

  it('has the documented size: 12 + 4 ceil(n / B) + n bytes', () => {
    expect(encodedDeltaSize(1000, { encoding: 'int8-block', blockSize: 256 })).toBe(12 + 16 + 1000)
  })
})

describe('decoding hostile bytes', () => {
  const values = randomVector(100, 4)
  const fp32 = encodeDelta(values, { encoding: 'fp32' })
  const int8 = encodeDelta(values, { encoding: 'int8-block', blockSize: 16 })
  const mutate = (bytes: Uint8Array, f: (v: DataView) => void) => {
    const copy = new Uint8Array(bytes)
    f(new DataView(copy.buffer))
    return copy
  }

  it.each([
    ['a truncated header', fp32.subarray(0, 5), MalformedDeltaError],
    ['a truncated payload', fp32.subarray(0, fp32.length - 1), MalformedDeltaError],
    ['an extended payload', new Uint8Array([...fp32, 0]), MalformedDeltaError],
    ['an unknown format version', mutate(fp32, (v) => v.setUint8(0, 2)), MalformedDeltaError],
    ['an unknown encoding id', mutate(fp32, (v) => v.setUint8(1, 9)), MalformedDeltaError],
    ['non-zero reserved bytes', mutate(fp32, (v) => v.setUint16(2, 1, true)), MalformedDeltaError],
    [
      'a parameter count other than the model',
      mutate(fp32, (v) => v.setUint32(4, 99, true)),
      DeltaShapeError,
    ],
    ['a huge parameter count', mutate(fp32, (v) => v.setUint32(4, 0xffffffff, true)), DeltaShapeError],
    ['a NaN value', mutate(fp32, (v) => v.setFloat32(8 + 4 * 50, Number.NaN, true)), NonFiniteDeltaError],
    [
      'an infinite value',
      mutate(fp32, (v) => v.setFloat32(8, Number.NEGATIVE_INFINITY, true)),
      NonFiniteDeltaError,
    ],
    ['a zero int8 block size', mutate(int8, (v) => v.setUint32(8, 0, true)), MalformedDeltaError],
    ['another int8 block size', mutate(int8, (v) => v.setUint32(8, 32, true)), MalformedDeltaError],
    ['an unknown encoding id 5', mutate(fp32, (v) => v.setUint8(1, 5)), MalformedDeltaError],
    ['a negative int8 scale', mutate(int8, (v) => v.setFloat32(12, -1, true)), NonFiniteDeltaError],
    ['a NaN int8 scale', mutate(int8, (v) => v.setFloat32(16, Number.NaN, true)), NonFiniteDeltaError],
    ['the int8 value -128', mutate(int8, (v) => v.setInt8(v.byteLength - 1, -128)), MalformedDeltaError],
  ])('rejects %s with a named error', (_name, bytes, errorClass) => {
    expect(() => decodeDelta(bytes, 100)).toThrow(errorClass)
  })
})

describe('roundHalfEven', () => {
  it('rounds ties to the even neighbour', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, 2, 3, -3])
  })
})

describe('fp16 delta encoding', () => {
  it('round-trips every finite binary16 value exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const exponent = (bits >> 10) & 0x1f
      if (exponent === 0x1f) continue // Inf and NaN: not finite, never encoded
      const value = halfBitsToFloat32(bits)
      const back = float32ToHalfBits(value)
      expect(back === bits || (value === 0 && (back & 0x7fff) === 0), `bits ${bits.toString(16)}`).toBe(true)
    }
  })

  it('rounds to nearest, ties to even, and saturates beyond 65504', () => {
    expect(halfBitsToFloat32(float32ToHalfBits(1 + 2 ** -11))).toBe(1) // tie: even mantissa (1.0)
    expect(halfBitsToFloat32(float32ToHalfBits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9) // tie: up to even
    expect(halfBitsToFloat32(float32ToHalfBits(1e6))).toBe(FP16_MAX)
    expect(halfBitsToFloat32(float32ToHalfBits(-1e6))).toBe(-FP16_MAX)
    expect(halfBitsToFloat32(float32ToHalfBits(2 ** -25 * 1.5))).toBe(2 ** -24) // subnormal rounding
  })

  it('reconstructs a delta within a relative error of 2^-11 (normal range)', () => {
    const values = randomVector(2000, 5)
    const decoded = decodeDelta(encodeDelta(values, { encoding: 'fp16' }), values.length).values
    for (let i = 0; i < values.length; i++) {
      expect(Math.abs(decoded[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * 2 ** -11 + 2 ** -25)
    }
    expect(encodedDeltaSize(2000, { encoding: 'fp16' })).toBe(8 + 4000)
  })
})

describe('int4-block delta encoding', () => {
  it('reconstructs every value within half a quantisation step (absmax / 14) of its block', () => {
    const blockSize = 32
    for (const n of [1000, 999]) {
      const values = randomVector(n, 6)
      const bytes = encodeDelta(values, { encoding: 'int4-block', blockSize })
      expect(bytes.length).toBe(12 + 4 * Math.ceil(n / blockSize) + Math.ceil(n / 2))
      const decoded = decodeDelta(bytes, n).values
      for (let b = 0; b < n; b += blockSize) {
        const block = values.subarray(b, b + blockSize)
        const bound = (Math.max(...block.map(Math.abs)) / 7) * 0.5 * (1 + 1e-6) + 1e-12
        for (let i = 0; i < block.length; i++)
          expect(Math.abs(block[i] - decoded[b + i])).toBeLessThanOrEqual(bound)
      }
    }
  })

  it('rejects the nibble -8 and a non-zero padding nibble', () => {
    const values = randomVector(7, 7)
    const bytes = encodeDelta(values, { encoding: 'int4-block', blockSize: 8 })
    const minus8 = new Uint8Array(bytes)
    minus8[16] = (minus8[16] & 0xf0) | 0x08
    expect(() => decodeDelta(minus8, 7)).toThrow(MalformedDeltaError)
    const padded = new Uint8Array(bytes)
    padded[padded.length - 1] |= 0x10
    expect(() => decodeDelta(padded, 7)).toThrow(MalformedDeltaError)
  })
})

describe('top-k delta encoding', () => {
  it('keeps exactly the k largest magnitudes (ties to the lower index) and zeroes the rest', () => {
    const values = new Float32Array([0.5, -3, 2, 2, -2, 0, 1, -0.25])
    const decoded = decodeDelta(encodeDelta(values, { encoding: 'top-k', k: 3 }), 8).values
    expect([...decoded]).toEqual([0, -3, 2, 2, 0, 0, 0, 0])
    expect(encodedDeltaSize(8, { encoding: 'top-k', k: 3 })).toBe(12 + 24)
    expect(topkCount(1000, 0.01)).toBe(10)
    expect(topkCount(10, 0.01)).toBe(1)
  })

  it('matches a sort-based reference selection on random data', () => {
    const values = randomVector(5000, 8)
    const k = 137
    const reference = [...values.keys()]
      .sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]) || a - b)
      .slice(0, k)
    expect([...selectTopK(values, k)]).toEqual(reference.sort((a, b) => a - b))
  })

  it('rejects unsorted, repeated or out-of-range indices and a bad k', () => {
    const bytes = encodeDelta(randomVector(20, 9), { encoding: 'top-k', k: 4 })
    const view = (b: Uint8Array) => new DataView(b.buffer)
    const swapped = new Uint8Array(bytes)
    const first = view(swapped).getUint32(12, true)
    view(swapped).setUint32(12, view(swapped).getUint32(16, true), true)
    view(swapped).setUint32(16, first, true)
    expect(() => decodeDelta(swapped, 20)).toThrow(MalformedDeltaError)
    const outOfRange = new Uint8Array(bytes)
    view(outOfRange).setUint32(24, 20, true)
    expect(() => decodeDelta(outOfRange, 20)).toThrow(MalformedDeltaError)
    const zeroK = new Uint8Array(bytes)
    view(zeroK).setUint32(8, 0, true)
    expect(() => decodeDelta(zeroK, 20)).toThrow(MalformedDeltaError)
  })
})

describe('sparse-2bit delta encoding (SPEC.md 6.10)', () => {
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

  it('sends the k largest magnitudes of each chunk at one of its two magnitudes, with their signs', () => {
    // chunk 0: [4, -1, 0.5, -3], chunk 1: [0, 2, -2], chunk 2: [7] (k = 2)
    const values = new Float32Array([4, -1, 0.5, -3, 0, 2, -2, 7])
    const options = { encoding: 'sparse-2bit' as const, blockSize: 3, k: 2 }
    const bytes = encodeDelta(values, options)
    // header 16, then three records of 8 + 2 x 2 + 1 bytes (the last chunk, of 2, holds 2 values)
    expect(bytes.length).toBe(16 + 3 * 13)
    expect(encodedDeltaSize(7, options)).toBe(16 + 2 * 13 + (8 + 2 + 1))
    expect(encodedDeltaSize(8, options)).toBe(bytes.length)
    const decoded = decodeDelta(bytes, 8).values
    // chunk [4, -1, 0.5]: 4 and -1, mean 2.5, hi = 4, lo = 1; chunk [-3, 0, 2]: -3 and 2, mean
    // 2.5, hi = 3, lo = 2; chunk [-2, 7]: both, mean 4.5, hi = 7, lo = 2
    expect([...decoded]).toEqual([4, -1, 0, -3, 0, 2, -2, 7])
    expect(view(bytes).getUint32(8, true)).toBe(3)
    expect(view(bytes).getUint32(12, true)).toBe(2)
  })

  it('quantises each chunk to two magnitudes, the means of the values above and below their mean', () => {
    const values = new Float32Array([1, -2, 3, -4, 0, 0, 0, 0])
    const decoded = decodeDelta(
      encodeDelta(values, { encoding: 'sparse-2bit', blockSize: 8, k: 4 }),
      8,
    ).values
    // magnitudes 1, 2, 3, 4: mean 2.5; hi = (3 + 4) / 2, lo = (1 + 2) / 2
    expect([...decoded]).toEqual([1.5, -1.5, 3.5, -3.5, 0, 0, 0, 0])
    const equal = decodeDelta(
      encodeDelta(new Float32Array([0, 0, 0]), { encoding: 'sparse-2bit', blockSize: 3, k: 2 }),
      3,
    )
    expect([...equal.values]).toEqual([0, 0, 0])
  })

  it('is 27 times smaller than int8-block at 64 of 4096 coordinates, and 14 times at 128 (the default)', () => {
    const count = 1 << 20
    const int8 = encodedDeltaSize(count, { encoding: 'int8-block', blockSize: 256 })
    const sparse64 = encodedDeltaSize(count, { encoding: 'sparse-2bit', blockSize: 4096, k: 64 })
    expect(sparse64).toBe(16 + 256 * (8 + 128 + 16))
    expect(int8 / sparse64).toBeGreaterThan(27)
    const sparse128 = encodedDeltaSize(count, { encoding: 'sparse-2bit', blockSize: 4096, k: 128 })
    expect(sparse128).toBe(16 + 256 * (8 + 256 + 32))
    expect(int8 / sparse128).toBeGreaterThan(14)
    expect(topkCount(4096, 0.015625)).toBe(64)
    expect(topkCount(4096, 0.03125)).toBe(128)
  })

  it('rejects bad offsets, magnitudes, padding, chunk sizes and k, each with its named error (SPEC.md 6.8)', () => {
    const options = { encoding: 'sparse-2bit' as const, blockSize: 10, k: 3 }
    const bytes = encodeDelta(randomVector(25, 11), options)
    const record = 16 // chunk 0's record: lo, hi, 3 offsets, 1 code byte
    const mutated = (edit: (v: DataView, b: Uint8Array) => void) => {
      const copy = new Uint8Array(bytes)
      edit(view(copy), copy)
      return copy
    }
    expect(decodeDelta(bytes, 25).values.filter((x) => x !== 0).length).toBe(9)
    const swapped = mutated((v) => {
      const first = v.getUint16(record + 8, true)
      v.setUint16(record + 8, v.getUint16(record + 10, true), true)
      v.setUint16(record + 10, first, true)
    })
    expect(() => decodeDelta(swapped, 25)).toThrow(MalformedDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setUint16(record + 12, 10, true)),
        25,
      ),
    ).toThrow(MalformedDeltaError)
    // the last chunk holds 5 coordinates: an offset of 5 is outside it
    const lastRecord = 16 + 2 * 15
    expect(() =>
      decodeDelta(
        mutated((v) => v.setUint16(lastRecord + 12, 5, true)),
        25,
      ),
    ).toThrow(MalformedDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setFloat32(record, Number.NaN, true)),
        25,
      ),
    ).toThrow(NonFiniteDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setFloat32(record + 4, -1, true)),
        25,
      ),
    ).toThrow(NonFiniteDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setFloat32(record, v.getFloat32(record + 4, true) * 2, true)),
        25,
      ),
    ).toThrow(MalformedDeltaError)
    expect(() =>
      decodeDelta(
        mutated((_, b) => (b[record + 14] |= 0x40)),
        25,
      ),
    ).toThrow(MalformedDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setUint32(8, 0, true)),
        25,
      ),
    ).toThrow(MalformedDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setUint32(12, 11, true)),
        25,
      ),
    ).toThrow(MalformedDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setUint32(12, 2, true)),
        25,
      ),
    ).toThrow(MalformedDeltaError)
    expect(() => decodeDelta(bytes.subarray(0, 15), 25)).toThrow(MalformedDeltaError)
    expect(() =>
      decodeDelta(
        mutated((v) => v.setFloat32(record + 4, 2 ** 70, true)),
        25,
      ),
    ).toThrow(DeltaRangeError)
  })
})

describe('error feedback', () => {
  it('carries what the encoding dropped into the next round, so the sum of what was sent tracks the sum of the deltas', () => {
    const rounds = 20
    const n = 4000
    let residual: Float32Array | undefined
    const sentSum = new Float64Array(n)
    const trueSum = new Float64Array(n)
    for (let r = 0; r < rounds; r++) {
      const delta = randomVector(n, 20 + r)
      const options = { encoding: 'top-k' as const, k: 100 }
      const step = compressWithFeedback(delta, residual, options)
      residual = step.residual
      for (let i = 0; i < n; i++) {
        sentSum[i] += step.sent[i]
        trueSum[i] += delta[i]
      }
      // The invariant: everything not yet sent is exactly in the residual.
      for (let i = 0; i < n; i += 97)
        expect(Math.abs(trueSum[i] - sentSum[i] - residual[i])).toBeLessThan(1e-4)
    }
    expect(residual).toBeDefined()
  })

  it('decays the residual by beta before adding it (SparseLoCo), and beta = 1 is plain error feedback', () => {
    const options = { encoding: 'top-k' as const, k: 50 }
    const first = compressWithFeedback(randomVector(1000, 40), undefined, options, 0.95)
    const delta = randomVector(1000, 41)
    const plain = compressWithFeedback(delta, first.residual, options)
    expect(compressWithFeedback(delta, first.residual, options, 1).bytes).toEqual(plain.bytes)
    const decayed = compressWithFeedback(delta, first.residual, options, 0.95)
    const beta = Math.fround(0.95)
    for (let i = 0; i < 1000; i++) {
      const v = Math.fround(delta[i] + Math.fround(beta * first.residual[i]))
      expect(decayed.sent[i] + decayed.residual[i]).toBeCloseTo(v, 6)
      expect(Math.fround(v - decayed.sent[i])).toBe(decayed.residual[i])
    }
    expect(decayed.bytes).not.toEqual(plain.bytes)
    expect(() => compressWithFeedback(delta, first.residual, options, 0)).toThrow(RangeError)
    expect(() => compressWithFeedback(delta, first.residual, options, 1.5)).toThrow(RangeError)
  })

  it('computes v, then the residual, in the place of a delta given up to it, with the same bytes and residual', () => {
    for (const options of [
      { encoding: 'int8-block' as const, blockSize: 64 },
      { encoding: 'top-k' as const, k: 30 },
      { encoding: 'sparse-2bit' as const, blockSize: 512, k: 8 },
    ]) {
      const residual = randomVector(3000, 50)
      const copy = compressWithFeedback(randomVector(3000, 51), residual, options, 0.9)
      const given = randomVector(3000, 51)
      const inPlace = compressWithFeedback(given, residual, options, 0.9, true)
      expect(inPlace.bytes).toEqual(copy.bytes)
      expect(inPlace.residual).toEqual(copy.residual)
      // the given vector now holds the residual: no vector of the delta's size was allocated
      expect(inPlace.residual).toBe(given)
      // a delta not given up is left as it was
      const kept = randomVector(3000, 51)
      compressWithFeedback(kept, residual, options, 0.9)
      expect(kept).toEqual(randomVector(3000, 51))
    }
  })

  it('is a no-op for fp32: the residual stays zero', () => {
    const delta = randomVector(100, 30)
    const step = compressWithFeedback(delta, undefined, { encoding: 'fp32' })
    expect(step.residual.every((x) => x === 0)).toBe(true)
    expect([...step.sent]).toEqual([...delta])
  })
})

describe('decoding by range (SPEC.md 6.8, 8.13)', () => {
  const s = new HashStream('codec-range-test', new Uint8Array([1]))
  const values = Float32Array.from({ length: 1003 }, () => s.nextSymmetricUnit() * 3)
  const encodings = [
    { encoding: 'fp32' },
    { encoding: 'fp16' },
    { encoding: 'int8-block', blockSize: 64 },
    { encoding: 'int4-block', blockSize: 50 },
    { encoding: 'top-k', k: 101 },
    { encoding: 'sparse-2bit', blockSize: 100, k: 9 },
  ] as const

  it('every range decodes to the same values as the whole delta, in every encoding', () => {
    for (const options of encodings) {
      const bytes = encodeDelta(values, options)
      const whole = decodeDelta(bytes, values.length).values
      const opened = openDelta(bytes, values.length)
      for (const [start, end] of [
        [0, 1003],
        [0, 1],
        [1, 2],
        [63, 129],
        [500, 777],
        [1002, 1003],
        [7, 7],
      ]) {
        expect(Array.from(opened.subarray(start, end)), `${options.encoding} [${start}, ${end})`).toEqual(
          Array.from(whole.subarray(start, end)),
        )
      }
      expect(validateDelta(bytes, values.length, 100)).toBe(options.encoding)
    }
  })

  it('reads only the bytes of the range it decodes, and names a bad value by its index in the delta', () => {
    const bytes = encodeDelta(values, { encoding: 'fp32' })
    const reads: [number, number][] = []
    const source = {
      length: bytes.length,
      subarray: (a: number, b: number) => {
        reads.push([a, b])
        return bytes.slice(a, b)
      },
    }
    openDelta(source, values.length).subarray(900, 1000)
    expect(reads.at(-1)).toEqual([8 + 4 * 900, 8 + 4 * 1000])
    new DataView(bytes.buffer).setFloat32(8 + 4 * 950, Number.NaN, true)
    expect(() => openDelta(bytes, values.length).subarray(900, 1000)).toThrow(/value at index 950 is NaN/)
    expect(() => validateDelta(bytes, values.length, 100)).toThrow(/value at index 950 is NaN/)
    expect(() => openDelta(bytes, values.length).subarray(0, 900)).not.toThrow()
  })
})
