// SHA-256 is the protocol's only hash (SPEC.md 4.1). Bulk bytes are hashed with node:crypto
// (about 12x faster here than @noble/hashes); @noble/hashes is the portable reference used
// for vectors and by environments without node:crypto. test/unit/hash.test.ts proves both agree.
import { createHash } from 'node:crypto'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'

export const HASH_LENGTH = 32

const textEncoder = new TextEncoder()

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  const digest = hash.digest()
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
}

export function sha256Portable(...parts: Uint8Array[]): Uint8Array {
  const hash = nobleSha256.create()
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** Incremental SHA-256 for streamed bytes (delta transfer). */
export function sha256Stream(): { update(bytes: Uint8Array): void; digest(): Uint8Array } {
  const hash = createHash('sha256')
  return {
    update(bytes) {
      hash.update(bytes)
    },
    digest() {
      const digest = hash.digest()
      return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
    },
  }
}

/** Domain string as bytes, followed by one 0x00 separator (SPEC.md 4.1). */
export function domainBytes(domain: string): Uint8Array {
  const text = textEncoder.encode(domain)
  const out = new Uint8Array(text.length + 1)
  out.set(text)
  return out
}

export function domainHash(domain: string, ...parts: Uint8Array[]): Uint8Array {
  return sha256(domainBytes(domain), ...parts)
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function fromHex(hex: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new TypeError(`not a hex string: ${hex.slice(0, 16)}`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Hash of a weight vector: SHA-256 of its float32 little-endian bytes (SPEC.md 4.2). */
export function weightsHash(weights: Float32Array): Uint8Array {
  return sha256(float32LeBytes(weights))
}

/** The float32 little-endian bytes of a vector (a view where the platform is little-endian). */
export function float32LeBytes(values: Float32Array): Uint8Array {
  if (littleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true)
  return out
}

/** A new vector from float32 little-endian bytes (a copy, so alignment does not matter). */
export function float32FromLe(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`${bytes.length} bytes are not whole float32 values`)
  if (littleEndian) {
    // A fresh copy: Buffer.prototype.slice would return a view of Node's shared pool.
    const copy = new Uint8Array(bytes.length)
    copy.set(bytes)
    return new Float32Array(copy.buffer)
  }
  const out = new Float32Array(bytes.length / 4)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true)
  return out
}

/**
 * `count` consecutive float32 little-endian vectors of `length` values starting at `offset`, each
 * value checked finite; `nonFinite` makes the error for the first that is not.
 */
export function finiteFloat32Vectors(
  bytes: Uint8Array,
  offset: number,
  length: number,
  count: number,
  nonFinite: (vector: number, index: number, value: number) => Error,
): Float32Array[] {
  return Array.from({ length: count }, (_, v) => {
    const start = offset + 4 * length * v
    const out = float32FromLe(bytes.subarray(start, start + 4 * length))
    for (let i = 0; i < length; i++) if (!Number.isFinite(out[i])) throw nonFinite(v, i, out[i])
    return out
  })
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
