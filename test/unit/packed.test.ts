// Repeated scalars in either proto3 form (src/wire/packed.ts, SPEC.md 4.1): a client built on a
// standard protobuf library writes them packed, and must be understood.
import { describe, expect, it } from 'vitest'
import { LIMITS } from '../../src/constants.js'
import { decodeChunkRequest, TransferError } from '../../src/net/transfer.js'
import { unpackRepeated } from '../../src/wire/packed.js'
import { ChunkRequest, ProofHeader } from '../../src/wire/proto/dtrain.js'

const varint = (value: number): number[] => {
  const out: number[] = []
  while (value >= 0x80) {
    out.push((value % 128) | 0x80)
    value = Math.floor(value / 128)
  }
  return [...out, value]
}

/** What a standard proto3 encoder writes: field `field`'s values as one length-delimited field. */
function packed(field: number, values: number[], kind: 'varint' | 'fixed32'): number[] {
  const body =
    kind === 'varint'
      ? values.flatMap(varint)
      : values.flatMap((v) => [...new Uint8Array(new Float32Array([v]).buffer)])
  return [...varint(field * 8 + 2), ...varint(body.length), ...body]
}

describe('packed repeated scalars', () => {
  const root = new Uint8Array(32).fill(9)

  it('decodes a packed chunk request (SPEC.md 10.2) like the unpacked one', () => {
    const size = BigInt(LIMITS.chunkBytes * 400)
    const indices = [0, 1, 2, 130, 399] // 130 and 399 take two bytes as varints
    const unpackedBytes = ChunkRequest.encode({ root, size, indices })
    const head = ChunkRequest.encode({ root, size, indices: [] })
    const packedBytes = Uint8Array.from([...head, ...packed(3, indices, 'varint')])
    expect(packedBytes).not.toEqual(unpackedBytes)
    expect(decodeChunkRequest(packedBytes)).toEqual(decodeChunkRequest(unpackedBytes))
    // fields may come in any order, the packed one first
    const first = Uint8Array.from([...packed(3, indices, 'varint'), ...head])
    expect(decodeChunkRequest(first).indices).toEqual(indices)
  })

  it('decodes packed checkpoint steps and update norms of a proof header (SPEC.md 17.2)', () => {
    const steps = [0, 25, 50]
    const norms = [0.5, 0.25, 1.5]
    const header = { ...ProofHeader.decode(ProofHeader.encode({} as ProofHeader)), round: 7n }
    const plain = ProofHeader.encode({ ...header, checkpointSteps: steps, updateNorms: norms })
    const withPacked = Uint8Array.from([
      ...ProofHeader.encode(header),
      ...packed(11, steps, 'varint'),
      ...packed(12, norms, 'fixed32'),
    ])
    const fields = { 11: 'varint', 12: 'fixed32' } as const
    expect(ProofHeader.decode(unpackRepeated(withPacked, fields))).toEqual(ProofHeader.decode(plain))
    // the unpacked form passes through unchanged (its bytes are what was hashed and signed)
    expect(unpackRepeated(plain, fields)).toBe(plain)
  })

  it('refuses a truncated packed field as a bad request', () => {
    const head = ChunkRequest.encode({ root, size: 10n, indices: [] })
    const cut = Uint8Array.from([...head, 3 * 8 + 2, 3, 0x81]) // says 3 bytes, holds 1
    expect(() => decodeChunkRequest(cut)).toThrow(TransferError)
  })
})
