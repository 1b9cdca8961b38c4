// Proto3 writes repeated scalar fields packed by default (one length-delimited field holding
// every value), and a proto3 decoder must accept both the packed and the unpacked form. The
// decoders protons generates read only the unpacked form, so dtrain rewrites a packed field into
// unpacked elements before decoding (SPEC.md 4.1). Only decoding changes: hashes and signatures
// are always over the bytes as received.

import { Uint8ArrayList } from 'uint8arraylist'
import { MalformedMessageError } from './messages.js'

export type ScalarWireType = 'varint' | 'fixed32'

/**
 * Returns `bytes` with each field listed in `fields` (field number -> its scalars' wire type)
 * that arrives packed (wire type 2) rewritten as one unpacked element per value; every other
 * field is kept byte for byte. Top-level fields only. Throws MalformedMessageError on a
 * truncated field. The result is at most twice as long as the input.
 */
export function unpackRepeated(
  input: Uint8Array | Uint8ArrayList,
  fields: Readonly<Record<number, ScalarWireType>>,
): Uint8Array {
  const bytes = input instanceof Uint8Array ? input : input.subarray()
  let packed = false
  for (let at = 0; at < bytes.length; ) {
    const [tag, afterTag] = varint(bytes, at)
    if ((tag & 7) === 2 && fields[Math.floor(tag / 8)] !== undefined) {
      packed = true
      break
    }
    at = skipField(bytes, afterTag, tag & 7)
  }
  if (!packed) return bytes
  const out = new Uint8ArrayList()
  for (let at = 0; at < bytes.length; ) {
    const [tag, afterTag] = varint(bytes, at)
    const field = Math.floor(tag / 8)
    const kind = fields[field]
    const end = skipField(bytes, afterTag, tag & 7)
    if ((tag & 7) === 2 && kind !== undefined) {
      const [length, start] = varint(bytes, afterTag)
      const elementTag = Uint8Array.from(encodeVarint(field * 8 + (kind === 'varint' ? 0 : 5)))
      for (let p = start; p < start + length; ) {
        const next = kind === 'varint' ? varint(bytes, p)[1] : p + 4
        if (next > start + length) throw new MalformedMessageError(`packed field ${field} is truncated`)
        out.append(elementTag, bytes.subarray(p, next))
        p = next
      }
    } else out.append(bytes.subarray(at, end))
    at = end
  }
  return out.subarray()
}

function varint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0
  let scale = 1
  for (let i = at; i < bytes.length && i < at + 10; i++) {
    value += (bytes[i] & 0x7f) * scale
    scale *= 128
    if ((bytes[i] & 0x80) === 0) return [value, i + 1]
  }
  throw new MalformedMessageError('a varint is truncated or longer than 10 bytes')
}

function skipField(bytes: Uint8Array, at: number, wireType: number): number {
  let end: number
  if (wireType === 0) end = varint(bytes, at)[1]
  else if (wireType === 1) end = at + 8
  else if (wireType === 5) end = at + 4
  else if (wireType === 2) {
    const [length, start] = varint(bytes, at)
    end = start + length
  } else throw new MalformedMessageError(`unsupported wire type ${wireType}`)
  if (end > bytes.length) throw new MalformedMessageError('a field is truncated')
  return end
}

function encodeVarint(value: number): number[] {
  const out: number[] = []
  while (value >= 0x80) {
    out.push((value % 128) | 0x80)
    value = Math.floor(value / 128)
  }
  out.push(value)
  return out
}
