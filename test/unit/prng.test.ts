import { describe, expect, it } from 'vitest'
import { HashStream } from '../../src/crypto/prng.js'

describe('HashStream', () => {
  it('is a pure function of domain and seed', () => {
    const a = new HashStream('d', new Uint8Array([1, 2]))
    const b = new HashStream('d', new Uint8Array([1, 2]))
    const c = new HashStream('e', new Uint8Array([1, 2]))
    const xs = Array.from({ length: 20 }, () => a.nextUint32())
    expect(Array.from({ length: 20 }, () => b.nextUint32())).toEqual(xs)
    expect(Array.from({ length: 20 }, () => c.nextUint32())).not.toEqual(xs)
  })

  it('draws nextBelow(n) in [0, n) and covers the range', () => {
    const s = new HashStream('range', new Uint8Array(0))
    const seen = new Set<number>()
    for (let i = 0; i < 2000; i++) {
      const x = s.nextBelow(7)
      expect(x).toBeGreaterThanOrEqual(0)
      expect(x).toBeLessThan(7)
      seen.add(x)
    }
    expect(seen.size).toBe(7)
    expect(() => s.nextBelow(0)).toThrow(RangeError)
    expect(() => s.nextBelow(1.5)).toThrow(RangeError)
  })

  it('draws symmetric units that are exact float32 values in (-1, 1) with mean near 0', () => {
    const s = new HashStream('unit', new Uint8Array(0))
    let sum = 0
    for (let i = 0; i < 10_000; i++) {
      const u = s.nextSymmetricUnit()
      expect(Math.abs(u)).toBeLessThan(1)
      expect(Math.fround(u)).toBe(u)
      sum += u
    }
    expect(Math.abs(sum / 10_000)).toBeLessThan(0.03)
  })
})
