// The chunk transfer protocol between real libp2p hosts on 127.0.0.1 (SPEC.md 10).
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { byteRate } from '../../src/cli/parse.js'
import { MissingChunkError } from '../../src/codec/delta-ranges.js'
import { LIMITS } from '../../src/constants.js'
import { toHex } from '../../src/crypto/hash.js'
import { createHost, type Host } from '../../src/net/host.js'
import { Pacer } from '../../src/net/link-emulator.js'
import {
  ChunkAssembly,
  fetchChunkPieces,
  fetchChunks,
  fetchWanted,
  serveChunks,
  TransferError,
} from '../../src/net/transfer.js'
import { DeltaStore, deltaRoot } from '../../src/store/delta-store.js'

const SIZE = 20 * LIMITS.chunkBytes + 12345 // 21 chunks
const payload = new Uint8Array(randomBytes(SIZE))
const { root } = deltaRoot(payload)
const noCounters = { bytesSent: () => {}, bytesReceived: () => {} }

describe('chunk transfer', () => {
  const hosts: Host[] = []
  const served = new Map<string, number>()
  /** NOT_FOUND answers, by server */
  const notFound = new Map<string, number>()
  let client: Host
  let honestA: Host
  let honestB: Host
  let liar: Host
  let empty: Host

  const serve = async (store: { get: DeltaStore['get'] }, name: string) => {
    const host = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    hosts.push(host)
    await serveChunks(
      host,
      store,
      { bytesSent: (n) => served.set(name, (served.get(name) ?? 0) + n), bytesReceived: () => {} },
      () => {},
      (_peer, reason) => {
        if (reason === 'not-found') notFound.set(name, (notFound.get(name) ?? 0) + 1)
      },
    )
    return host
  }

  beforeAll(async () => {
    const honest = new DeltaStore()
    honest.put(0, payload)
    const forged = new Uint8Array(payload)
    forged[5 * LIMITS.chunkBytes + 7] ^= 0xff // chunk 5 differs
    // The liar sends the true proofs with a forged chunk 5: chunks 0-4 verify, chunk 5 does not.
    const trueTree = deltaRoot(payload).tree
    honestA = await serve(honest, 'a')
    honestB = await serve(honest, 'b')
    liar = await serve(
      {
        get: (r) =>
          toHex(r) === toHex(root) ? { size: forged.length, bytes: forged, tree: trueTree } : undefined,
      },
      'liar',
    )
    empty = await serve(new DeltaStore(), 'empty')
    client = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    hosts.push(client)
    for (const h of [honestA, honestB, liar, empty])
      await client.dial(multiaddr(h.getMultiaddrs()[0].toString()))
  })
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()))
  })

  it('fetches a 21-chunk delta from two sources in parallel, each serving part of it', async () => {
    served.clear()
    const assembly = new ChunkAssembly(root, SIZE)
    const bytes = await fetchChunks(client, assembly, [honestA.peerId, honestB.peerId], noCounters)
    expect(Buffer.from(bytes).equals(Buffer.from(payload))).toBe(true)
    // The tree built from the leaves verified on arrival is the object's own.
    expect(assembly.tree().root).toEqual(deltaRoot(payload).root)
    expect(served.get('a')).toBeGreaterThan(0)
    expect(served.get('b')).toBeGreaterThan(0)
    expect((served.get('a') ?? 0) + (served.get('b') ?? 0)).toBe(SIZE)
    // or as its verified chunks, in order, without a joined copy (a large model's delta or state)
    const chunks = await fetchChunkPieces(client, new ChunkAssembly(root, SIZE), [honestA.peerId], noCounters)
    expect(chunks.map((c) => c.length)).toEqual([...Array(20).fill(LIMITS.chunkBytes), 12345])
    expect(Buffer.concat(chunks).equals(Buffer.from(payload))).toBe(true)
  })

  it('fetches only the chunks it wants (a shard of a delta), each verified, and reads nothing else', async () => {
    served.clear()
    const wanted = [0, 5, 6, 20]
    const assembly = new ChunkAssembly(root, SIZE)
    assembly.want(wanted)
    await fetchWanted(client, assembly, [honestA.peerId], noCounters)
    const source = assembly.source()
    // the server sent exactly the wanted chunks' bytes
    expect(served.get('a')).toBe(3 * LIMITS.chunkBytes + 12345)
    expect(assembly.receivedChunks).toBe(4)
    expect(assembly.complete).toBe(false)
    const at = (c: number) => c * LIMITS.chunkBytes
    expect(
      Buffer.from(source.subarray(at(5) + 3, at(7))).equals(Buffer.from(payload.subarray(at(5) + 3, at(7)))),
    ).toBe(true)
    expect(
      Buffer.from(source.subarray(at(20), SIZE)).equals(Buffer.from(payload.subarray(at(20), SIZE))),
    ).toBe(true)
    expect(() => source.subarray(at(1), at(1) + 1)).toThrow(MissingChunkError)
    // a source lying about a wanted chunk is caught as in a whole fetch; an honest one completes it
    const again = new ChunkAssembly(root, SIZE)
    again.want(wanted)
    const lied = await fetchWanted(client, again, [liar.peerId], noCounters).catch((e) => e)
    expect(lied).toBeInstanceOf(TransferError)
    expect(lied.reason).toBe('bad-chunk')
    // its chunk 0 was true and is kept; the request stopped at the bad chunk 5
    expect(again.missing()).toContain(5)
    expect(again.missing()).not.toContain(0)
    await fetchWanted(client, again, [honestB.peerId], noCounters)
    const fromHonest = again.source()
    expect(
      Buffer.from(fromHonest.subarray(at(5), at(6))).equals(Buffer.from(payload.subarray(at(5), at(6)))),
    ).toBe(true)
  })

  it('catches a lying source at its bad chunk, drops it and completes from the honest one', async () => {
    served.clear()
    const bad: string[] = []
    const bytes = await fetchChunks(
      client,
      new ChunkAssembly(root, SIZE),
      [liar.peerId, honestA.peerId],
      noCounters,
      {
        onBadSource: (peer) => bad.push(peer.toString()),
      },
    )
    expect(Buffer.from(bytes).equals(Buffer.from(payload))).toBe(true)
    expect(bad).toEqual([liar.peerId.toString()])
    // The liar was stopped at chunk 5 of its batch: it could not have sent more than one batch.
    expect(served.get('liar') ?? 0).toBeLessThanOrEqual(LIMITS.maxChunksPerRequest * LIMITS.chunkBytes)
  })

  it('fails with bad-chunk when every source lies, and with unavailable when nobody has it', async () => {
    const lied = await fetchChunks(client, new ChunkAssembly(root, SIZE), [liar.peerId], noCounters).catch(
      (e) => e,
    )
    expect(lied).toBeInstanceOf(TransferError)
    expect(lied.reason).toBe('bad-chunk')
    const missing = await fetchChunks(client, new ChunkAssembly(root, SIZE), [empty.peerId], noCounters, {
      maxPasses: 2,
    }).catch((e) => e)
    expect(missing).toBeInstanceOf(TransferError)
    expect(missing.reason).toBe('unavailable')
  })

  it('asks a source that answered NOT_FOUND once where that is final (a state sync), and fails at once as not-found', async () => {
    // A delta's source may be fetching the delta itself: NOT_FOUND is retried in every pass.
    notFound.clear()
    const passes = 3
    await fetchChunks(client, new ChunkAssembly(root, SIZE), [empty.peerId], noCounters, {
      maxPasses: passes,
    }).catch(() => {})
    expect(notFound.get('empty')).toBe(passes)
    // A state's sources committed it: one that let it go is not asked again; with none left the
    // fetch ends after that one answer, naming the reason, not after its passes.
    notFound.clear()
    const gone = await fetchChunks(client, new ChunkAssembly(root, SIZE), [empty.peerId], noCounters, {
      maxPasses: passes,
      notFoundIsFinal: true,
    }).catch((e) => e)
    expect(gone).toBeInstanceOf(TransferError)
    expect(gone.reason).toBe('not-found')
    expect(gone.message).toMatch(/0\/21 chunks .*no such delta here/)
    expect(notFound.get('empty')).toBe(1)
    // and a source that holds it still delivers the whole object
    notFound.clear()
    served.clear()
    const bytes = await fetchChunks(
      client,
      new ChunkAssembly(root, SIZE),
      [empty.peerId, honestA.peerId],
      noCounters,
      { maxPasses: passes, notFoundIsFinal: true },
    )
    expect(Buffer.from(bytes).equals(Buffer.from(payload))).toBe(true)
    expect(notFound.get('empty')).toBe(1)
    expect(served.get('a')).toBe(SIZE)
  })

  it('resumes: chunks verified before a failure are kept and only the missing ones are fetched', async () => {
    const assembly = new ChunkAssembly(root, SIZE)
    // First attempt: only the liar; its first batch (chunks 0-10) delivers good chunks 0-4, then a bad one.
    await fetchChunks(client, assembly, [liar.peerId], noCounters, { maxPasses: 1 }).catch(() => {})
    const kept = assembly.receivedChunks
    expect(kept).toBe(5)
    served.clear()
    const bytes = await fetchChunks(client, assembly, [honestB.peerId], noCounters)
    expect(Buffer.from(bytes).equals(Buffer.from(payload))).toBe(true)
    expect(served.get('b')).toBe(SIZE - kept * LIMITS.chunkBytes)
  })

  it('refuses to allocate for an oversize delta', () => {
    expect(() => new ChunkAssembly(root, LIMITS.maxObjectBytes + 1)).toThrow(TransferError)
  })
})

describe('upload limit', () => {
  it('a node serving at 2 MB/s takes at least the time its limit allows, and delivers every byte', async () => {
    const store = new DeltaStore()
    store.put(0, payload)
    const server = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const client = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    try {
      const rate = 2_000_000
      await serveChunks(server, store, noCounters, () => {}, undefined, new Pacer(rate))
      await client.dial(multiaddr(server.getMultiaddrs()[0].toString()))
      const started = performance.now()
      const bytes = await fetchChunks(client, new ChunkAssembly(root, SIZE), [server.peerId], noCounters)
      const seconds = (performance.now() - started) / 1000
      expect(Buffer.from(bytes).equals(Buffer.from(payload))).toBe(true)
      // Each chunk waits until its bytes have left at the rate: all but the last are paced.
      expect(seconds).toBeGreaterThanOrEqual((SIZE - LIMITS.chunkBytes) / rate)
    } finally {
      await Promise.all([server.stop(), client.stop()])
    }
  })

  it('--upload-limit reads bytes per second with K, M, G and refuses anything else, naming itself', () => {
    const parse = byteRate('--upload-limit')
    expect(parse('2.5M')).toBe(2_500_000)
    expect(parse('500K')).toBe(500_000)
    expect(parse('1G')).toBe(1e9)
    expect(parse('3MB/s')).toBe(3e6)
    expect(parse('4096')).toBe(4096)
    expect(() => parse('fast')).toThrow(
      '--upload-limit must be bytes per second such as 500K, 2.5M or 1G (got fast)',
    )
    expect(() => parse('0')).toThrow(/got 0/)
  })
})
