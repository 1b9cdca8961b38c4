// The cipher under private networks (src/net/pnet-cipher.ts): the xsalsa20 package that
// @libp2p/pnet uses crashed a node once its shared WebAssembly memory had grown, as two
// connections went on encrypting (the 4-node model-scale drill). Repaired, the same traffic runs
// on, and the keystream is the package's own, byte for byte.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { repairXsalsa20 } from '../../src/net/pnet-cipher.js'
import { COLLECT_MIN_BYTES, collectGarbage } from '../../src/util/gc.js'

type Cipher = { update(input: Uint8Array, output?: Uint8Array): Uint8Array }
const XSalsa20 = createRequire(import.meta.url)('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => Cipher

const nonceA = new Uint8Array(24).fill(1)
const nonceB = new Uint8Array(24).fill(2)
const key = new Uint8Array(32).fill(7)
/** Pseudo-random bytes (xorshift32), cheap enough for megabytes. */
const data = (bytes: number, seed: number) => {
  const out = new Uint8Array(bytes)
  let x = seed * 2654435761 || 1
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 255
  }
  return out
}

/** `input` encrypted by `cipher` in updates of `piece` bytes. */
const encrypt = (cipher: Cipher, input: Uint8Array, piece: number) => {
  const out = new Uint8Array(input.length)
  for (let at = 0; at < input.length; at += piece) out.set(cipher.update(input.subarray(at, at + piece)), at)
  return out
}

describe('the private network cipher (xsalsa20), repaired', () => {
  it('keeps encrypting after its memory grew, with the keystream it had before', () => {
    const message = data(16 << 20, 1)
    // The keystreams of two connections, before the memory ever grew (16 KB updates fit in it).
    const referenceA = encrypt(XSalsa20(nonceA, key), message, 16_384)
    const referenceB = encrypt(XSalsa20(nonceB, key), message, 16_384)
    expect(repairXsalsa20()).toBe(true)
    // Three connections; one update of 3 MB on one, more than the memory held (as a write queued
    // under backpressure is): the other two's views of the memory are stale from then on.
    const a = XSalsa20(nonceA, key)
    const b = XSalsa20(nonceB, key)
    const big = XSalsa20(new Uint8Array(24).fill(3), key)
    expect(big.update(data(3 << 20, 2)).length).toBe(3 << 20)
    // Two connections alternating updates of 64 KB with a third: unrepaired, the package grows its
    // memory at every update and throws "Maximum memory size exceeded" after about 500 of them;
    // here 16 MB each, 768 updates, then 64 MB more on one of them.
    const outA = new Uint8Array(message.length)
    const outB = new Uint8Array(message.length)
    for (let at = 0; at < message.length; at += 65_536) {
      outA.set(a.update(message.subarray(at, at + 65_536)), at)
      outB.set(b.update(message.subarray(at, at + 65_536)), at)
      big.update(data(65_536, 3))
    }
    expect(Buffer.compare(outA, referenceA)).toBe(0)
    expect(Buffer.compare(outB, referenceB)).toBe(0)
    for (let i = 0; i < 16; i++) big.update(data(4 << 20, 4))
    // An update of any size gives the bytes of many small ones (pieces of 64 KB inside).
    const whole = XSalsa20(nonceA, key).update(message)
    expect(Buffer.compare(whole, referenceA)).toBe(0)
    // and decrypting is encrypting again: the message comes back
    expect(Buffer.compare(encrypt(XSalsa20(nonceA, key), whole, 100_003), message)).toBe(0)
  })
})

describe('the private network cipher, its slots', () => {
  it('gives the slot of a cipher no longer used back, so that new ciphers never run out', async () => {
    expect(repairXsalsa20()).toBe(true)
    type Slot = { _xor: { _pointer: number } }
    const use = () => {
      const cipher = XSalsa20(new Uint8Array(24), key)
      cipher.update(new Uint8Array(100))
      return (cipher as unknown as Slot)._xor._pointer
    }
    // 20,000 ciphers in rounds of 2,000 (1,000 connections each), collected between rounds.
    // Unrepaired, the package's slots run past its first 640 KB after about 10,000 ciphers and
    // the constructor throws "offset is out of bounds".
    let highest = 0
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 2_000; i++) highest = Math.max(highest, use())
      collectGarbage(COLLECT_MIN_BYTES)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // the slots in use stay near one round's worth (64 bytes each), not 20,000 of them
    expect(highest).toBeLessThan(64 * 8_000)
    // A cipher its owner finalized is not finalized again when collected: its slot would be given
    // to two ciphers at once, which would then overwrite each other's key.
    const finalizedByOwner = () => {
      const cipher = XSalsa20(new Uint8Array(24), key)
      cipher.update(new Uint8Array(10))
      ;(cipher as unknown as { finalize(): void }).finalize()
    }
    for (let i = 0; i < 100; i++) finalizedByOwner()
    collectGarbage(COLLECT_MIN_BYTES)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const live = Array.from({ length: 3_000 }, () => XSalsa20(new Uint8Array(24), key) as unknown as Slot)
    expect(new Set(live.map((c) => c._xor._pointer)).size).toBe(live.length)
  })
})
