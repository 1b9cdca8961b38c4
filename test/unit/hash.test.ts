import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  domainBytes,
  fromHex,
  sha256,
  sha256Portable,
  sha256Stream,
  toHex,
  weightsHash,
} from '../../src/crypto/hash.js'

describe('SHA-256', () => {
  it('gives the same digest natively and with @noble/hashes, for sizes from empty to 1 MiB', () => {
    for (const size of [0, 1, 55, 56, 63, 64, 65, 1000, 1 << 20]) {
      const bytes = new Uint8Array(randomBytes(size))
      expect(toHex(sha256(bytes))).toBe(toHex(sha256Portable(bytes)))
    }
  })

  it('matches the FIPS 180-2 vector for "abc"', () => {
    expect(toHex(sha256(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    )
  })

  it('hashes parts and streamed pieces exactly like their concatenation', () => {
    const a = new Uint8Array(randomBytes(1000))
    const b = new Uint8Array(randomBytes(3000))
    const joined = new Uint8Array([...a, ...b])
    const stream = sha256Stream()
    stream.update(a)
    stream.update(b)
    expect(toHex(sha256(a, b))).toBe(toHex(sha256(joined)))
    expect(toHex(stream.digest())).toBe(toHex(sha256(joined)))
  })

  it('separates the domain with a zero byte', () => {
    expect([...domainBytes('ab')]).toEqual([0x61, 0x62, 0])
  })

  it('hashes weights as float32 little-endian bytes', () => {
    const weights = new Float32Array([1, -2.5])
    const bytes = fromHex('0000803f000020c0')
    expect(toHex(weightsHash(weights))).toBe(toHex(sha256(bytes)))
  })

  it('rejects a malformed hex string', () => {
    expect(() => fromHex('abc')).toThrow(TypeError)
    expect(() => fromHex('zz')).toThrow(TypeError)
  })
})
