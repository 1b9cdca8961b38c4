import { describe, expect, it } from 'vitest'
import { decodeDelta, encodeDelta, encodedDeltaSize, roundHalfEven } from '../../src/codec/delta.js'
import { DeltaShapeError, MalformedDeltaError, NonFiniteDeltaError } from '../../src/codec/errors.js'
import { HashStream } from '../../src/crypto/prng.js'

function randomVector(n: number, seed: number): Float32Array {
  const s = new HashStream('codec-test', new Uint8Array([seed]))
  return Float32Array.from({ length: n }, () => s.nextSymmetricUnit() * (1 + (seed % 5)))
}

describe('fp32 delta encoding', () => {
  it('round-trips exactly, including -0, subnormals and extremes', () => {
    const values = new Float32Array([0, -0, 1e-45, -3.4028234663852886e38, 0.1, ...randomVector(1000, 1)])
    const bytes = encodeDelta(values, { encoding: 'fp32' })
    expect(bytes.length).toBe(encodedDeltaSize(values.length, { encoding: 'fp32' }))
    const decoded = decodeDelta(bytes, values.length)
    expect(decoded.encoding).toBe('fp32')
    expect(Buffer.from(decoded.values.buffer).equals(Buffer.from(values.buffer))).toBe(true)
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
