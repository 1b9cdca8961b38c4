// Deterministic random stream used wherever the protocol needs reproducible randomness
// (initial weights, batch order, evaluation windows). SPEC.md 4.4 defines it with nothing
// but SHA-256 so that another implementation reproduces it bit for bit:
//   block(i) = SHA-256(domain || 0x00 || seed || u64le(i)), i = 0, 1, 2, ...
//   the stream is the concatenation of the blocks, read as little-endian uint32 words.
import { domainBytes, sha256 } from './hash.js'

export class HashStream {
  private readonly prefix: Uint8Array
  private readonly counter = new Uint8Array(8)
  private readonly counterView = new DataView(this.counter.buffer)
  private block = new Uint32Array(0)
  private wordIndex = 0
  private blockIndex = 0n

  constructor(domain: string, seed: Uint8Array) {
    const domainPart = domainBytes(domain)
    this.prefix = new Uint8Array(domainPart.length + seed.length)
    this.prefix.set(domainPart)
    this.prefix.set(seed, domainPart.length)
  }

  /** Next uint32 of the stream. */
  nextUint32(): number {
    if (this.wordIndex >= this.block.length) {
      this.counterView.setBigUint64(0, this.blockIndex, true)
      this.blockIndex++
      const digest = sha256(this.prefix, this.counter)
      const words = new Uint32Array(8)
      const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength)
      for (let i = 0; i < 8; i++) words[i] = view.getUint32(i * 4, true)
      this.block = words
      this.wordIndex = 0
    }
    return this.block[this.wordIndex++]
  }

  /** Uniform integer in [0, n) by rejection sampling (SPEC.md 4.4), n in [1, 2^32]. */
  nextBelow(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32)
      throw new RangeError(`nextBelow needs 1 <= n <= 2^32 (got ${n})`)
    const limit = Math.floor(2 ** 32 / n) * n
    for (;;) {
      const word = this.nextUint32()
      if (word < limit) return word % n
    }
  }

  /** Odd integer t in (-2^24, 2^24) divided by 2^24: uniform in (-1, 1), exact in float32. */
  nextSymmetricUnit(): number {
    const k = this.nextUint32() >>> 8
    return (2 * k + 1 - 2 ** 24) / 2 ** 24
  }
}
