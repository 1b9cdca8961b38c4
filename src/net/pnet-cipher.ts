// A repair of the cipher under private networks. @libp2p/pnet encrypts a private network's
// traffic with the xsalsa20 package (1.2.0), whose WebAssembly instances share one memory. When one
// instance grows that memory (an update larger than it: the first is 640 KB, and a write queued
// under backpressure is sent in one update), every other instance keeps a view of the old buffer,
// detached, of length 0. At its next update such an instance grows the memory again by all it
// needs, whatever the memory already holds, and its growth detaches the others' views in turn:
// two connections that alternate updates of 64 KB exhaust the memory's maximum (about 50 MB)
// after about 500 updates, and the RangeError, thrown inside a socket's data handler, kills the
// process. A node of the 4-node model-scale drill (110 MB deltas in a private network) died of it.
//
// Each instance also takes a slot of 64 bytes at the start of that memory, given back only by
// finalize(), which pnet never calls: the slots of closed connections are never reused, and the
// constructor writes a new slot's key into the memory's first view without growing it. After
// about 10,000 ciphers (5,000 connections in a process's life) every new one throws "offset is out
// of bounds": a long-lived node of a private network could then connect to nobody.
//
// repairXsalsa20 mends the package in place, once, before a private network's first connection:
// an instance whose view is stale takes the memory's current buffer instead of growing it; every
// update is fed to the cipher in pieces of at most 64 KB, so the memory never grows past what one
// piece needs; and a cipher that was used is finalized once it is garbage (its connection gone),
// which gives its slot back. The keystream is the package's own, byte for byte: it continues
// across updates of any size (test/unit/pnet-cipher.test.ts).
import { createRequire } from 'node:module'

/** Bytes fed to the cipher at a time. */
const PIECE = 1 << 16

interface WasmCipher {
  _memory: Uint8Array
  realloc(size: number): void
}

interface XSalsa20 {
  _xor: unknown
  update(input: Uint8Array, output?: Uint8Array): Uint8Array
  finalize(): void
}

type XSalsa20Module = ((nonce: Uint8Array, key: Uint8Array) => XSalsa20) & { prototype: XSalsa20 }

let repaired: boolean | undefined

/**
 * Repairs the xsalsa20 package that @libp2p/pnet uses (see above); true when repaired, false when
 * its instances are not the ones described (no WebAssembly: its pure JavaScript cipher has no
 * shared memory; or another version), which are left as they are.
 */
export function repairXsalsa20(): boolean {
  if (repaired !== undefined) return repaired
  // the copy @libp2p/pnet imports: npm keeps one (package.json pins the version pnet accepts)
  const XSalsa20 = createRequire(import.meta.url)('xsalsa20') as XSalsa20Module
  const probe = XSalsa20(new Uint8Array(24), new Uint8Array(32))
  const wasm = probe._xor as Partial<WasmCipher>
  const cipher = Object.getPrototypeOf(wasm) as WasmCipher
  if (!(wasm._memory instanceof Uint8Array) || typeof cipher.realloc !== 'function') {
    repaired = false
    return repaired
  }
  // every growth goes through realloc, so the buffer it leaves is the memory's current one
  let current = wasm._memory.buffer
  const realloc = cipher.realloc
  cipher.realloc = function (this: WasmCipher, size: number) {
    if (this._memory.buffer !== current) this._memory = new Uint8Array(current)
    if (size < this._memory.length) return
    realloc.call(this, size)
    current = this._memory.buffer
  }
  // A cipher no longer referenced gives its slot back; the registry holds its inner part only.
  const slots = new FinalizationRegistry<{ finalize(): void }>((inner) => inner.finalize())
  const registered = new WeakSet<XSalsa20>()
  const update = XSalsa20.prototype.update
  XSalsa20.prototype.update = function (this: XSalsa20, input: Uint8Array, output?: Uint8Array) {
    if (!registered.has(this)) {
      registered.add(this)
      slots.register(this, this._xor as { finalize(): void }, this)
    }
    if (input === undefined || input.length <= PIECE) return update.call(this, input, output)
    const out = output ?? new Uint8Array(input.length)
    for (let at = 0; at < input.length; at += PIECE)
      update.call(this, input.subarray(at, at + PIECE), out.subarray(at, at + PIECE))
    return out
  }
  // a cipher finalized by its owner is not finalized again (its slot would be given out twice)
  const finalize = XSalsa20.prototype.finalize
  XSalsa20.prototype.finalize = function (this: XSalsa20) {
    slots.unregister(this)
    finalize.call(this)
  }
  probe.finalize()
  repaired = true
  return repaired
}
