// Large transfers (issue 17, "deltas of any size the run declares"): objects of 100 MB to 1 GB
// over dtrain's chunk protocol (SPEC.md 10), every chunk verified against the object's Merkle
// root, in the three settings a large model's deltas meet:
//   pnet:    two hosts of a private network (pre-shared key, SPEC.md 2.3);
//   relay:   the source reachable only through a circuit relay (it listens on nothing else, so
//            DCUtR finds no direct path), with dtrain's relay limits: 1 GiB and one hour a relayed
//            connection (SPEC.md 2.9); past them the connection is reset and the fetch redials;
//   sources: three hosts holding the object, one fetcher asking all three at once.
// Real libp2p hosts in this process on 127.0.0.1; the bytes fetched are compared with the source's.
// Usage: npm run bench:large-transfer [-- --mb 256,1024] [-- --json] [-- --out FILE]
// Contract: the last stdout line is JSON: { rows: [{ setting, mb, seconds, mbPerSecond, verified,
// relayedOnly, servedMB }] } (relayedOnly: every connection of the fetcher to the source went
// through the relay; servedMB: what each source sent).
import '../../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, type Host, RELAY_LIMITS } from '../../src/net/host.js'
import { generateSwarmKey } from '../../src/net/swarm-key.js'
import { ChunkAssembly, fetchChunks, serveChunks } from '../../src/net/transfer.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { xorshift } from './measure.js'
import { writeSection } from './report.js'

const args = process.argv.slice(2)
const value = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const json = args.includes('--json')
const sizesMB = (value('--mb') ?? '256,1024').split(',').map(Number)
const outFile = value('--out') ?? (json ? undefined : 'BENCHMARKS.md')
const MB = 1_000_000
const say = (line: string) => process.stderr.write(`${line}\n`)

interface Row {
  setting: 'pnet' | 'relay' | 'sources'
  mb: number
  seconds: number
  mbPerSecond: number
  verified: boolean
  relayedOnly: boolean | null
  servedMB: number[]
}

function randomBytes(size: number, seed: number): Uint8Array {
  const next = xorshift(seed)
  const out = new Uint8Array(size)
  const words = new Uint32Array(out.buffer, 0, Math.floor(size / 4))
  for (let i = 0; i < words.length; i++) words[i] = (next() * 2 ** 32) >>> 0
  return out
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}

/** A host serving `object` (when given) from a store of its own, counting what it sends. */
async function serving(
  options: { listen?: string[]; swarmKey?: Uint8Array; relayServer?: boolean },
  object?: Uint8Array,
): Promise<{ host: Host; sent: () => number }> {
  const host = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    swarmKey: options.swarmKey,
    relayServer: options.relayServer,
  })
  let sent = 0
  const store = new DeltaStore()
  if (object) store.put(0, object)
  await serveChunks(
    host,
    store,
    {
      bytesSent: (n) => {
        sent += n
      },
      bytesReceived: () => {},
    },
    () => {},
  )
  return { host, sent: () => sent }
}

const ignore = { bytesSent: () => {}, bytesReceived: () => {} }

type Served = Awaited<ReturnType<typeof serving>>

/** Fetches `object` (by its root) into `fetcher` from `sources`, timed and compared: a row. */
async function measure(
  setting: Row['setting'],
  fetcher: Host,
  object: Uint8Array,
  root: Uint8Array,
  sources: Served[],
  relayedOnly: () => boolean | null = () => null,
): Promise<Row> {
  const started = performance.now()
  const got = await fetchChunks(
    fetcher,
    new ChunkAssembly(root, object.length),
    sources.map((s) => s.host.peerId),
    ignore,
  )
  const seconds = (performance.now() - started) / 1000
  const mb = object.length / MB
  return {
    setting,
    mb,
    seconds,
    mbPerSecond: mb / seconds,
    verified: equal(got, object),
    relayedOnly: relayedOnly(),
    servedMB: sources.map((s) => s.sent() / MB),
  }
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function pnet(object: Uint8Array, root: Uint8Array): Promise<Row> {
  const swarmKey = generateSwarmKey()
  const source = await serving({ swarmKey }, object)
  const fetcher = await serving({ swarmKey })
  try {
    await fetcher.host.dial(source.host.getMultiaddrs()[0])
    return await measure('pnet', fetcher.host, object, root, [source])
  } finally {
    await Promise.all([source.host.stop(), fetcher.host.stop()])
  }
}

async function relayed(object: Uint8Array, root: Uint8Array): Promise<Row> {
  const relay = await serving({ relayServer: true })
  const relayAddr = relay.host.getMultiaddrs()[0].toString()
  // The source listens only on the relay: it reserves a slot there and has no direct address.
  const source = await serving({ listen: [`${relayAddr}/p2p-circuit`] }, object)
  const fetcher = await serving({})
  try {
    const circuit = (): Multiaddr | undefined =>
      source.host.getMultiaddrs().find((a) => a.toString().includes('/p2p-circuit'))
    await waitFor('the source to hold a relay reservation', () => circuit() !== undefined)
    await fetcher.host.dial(multiaddr(relayAddr))
    await fetcher.host.dial(circuit()!)
    let directSeen = false
    const watch = setInterval(() => {
      for (const c of fetcher.host.getConnections(source.host.peerId))
        if (!c.remoteAddr.toString().includes('/p2p-circuit')) directSeen = true
    }, 100)
    try {
      return await measure('relay', fetcher.host, object, root, [source], () => !directSeen)
    } finally {
      clearInterval(watch)
    }
  } finally {
    await Promise.all([relay.host.stop(), source.host.stop(), fetcher.host.stop()])
  }
}

async function threeSources(object: Uint8Array, root: Uint8Array): Promise<Row> {
  const sources = await Promise.all([0, 1, 2].map(() => serving({}, object)))
  const fetcher = await serving({})
  try {
    for (const s of sources) await fetcher.host.dial(s.host.getMultiaddrs()[0])
    return await measure('sources', fetcher.host, object, root, sources)
  } finally {
    await Promise.all([...sources.map((s) => s.host.stop()), fetcher.host.stop()])
  }
}

const rows: Row[] = []
for (const mb of sizesMB) {
  const object = randomBytes(mb * MB, mb)
  const root = new DeltaStore().put(0, object)
  for (const run of [pnet, relayed, threeSources]) {
    const row = await run(object, root)
    say(
      `${row.setting}, ${mb} MB: ${row.seconds.toFixed(1)} s, ${row.mbPerSecond.toFixed(0)} MB/s, ${row.verified ? 'verified' : 'NOT the source bytes'}${row.relayedOnly === null ? '' : row.relayedOnly ? ', through the relay only' : ', a direct connection appeared'}; served ${row.servedMB.map((m) => m.toFixed(0)).join(' / ')} MB`,
    )
    rows.push(row)
  }
}

const f = (x: number, digits = 1) => x.toFixed(digits)
const label = { pnet: 'private network (pnet)', relay: 'through a relay', sources: 'three sources at once' }
if (outFile)
  writeSection(
    outFile,
    'large-transfer',
    [
      '## Large transfers: pnet, a relay, three sources',
      '',
      `Written by \`npm run bench:large-transfer -- --mb ${sizesMB.join(',')}\` on ${new Date().toISOString().slice(0, 10)} (issue 17): objects of the size of a large model's deltas over the chunk protocol (SPEC.md 10), every chunk verified against the root, and the bytes compared with the source's. Real hosts in one process on 127.0.0.1 (2 cores: the hosts share them). The relay grants a relayed connection ${Number(RELAY_LIMITS.dataBytes) / 2 ** 30} GiB and ${RELAY_LIMITS.durationMs / 60_000} minutes (SPEC.md 2.9); the source listens only on the relay, so no direct connection can replace it.`,
      '',
      '| setting | MB | seconds | MB/s | verified | served per source (MB) |',
      '|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${label[r.setting]}${r.relayedOnly === false ? ' (a direct connection appeared)' : ''} | ${r.mb} | ${f(r.seconds)} | ${f(r.mbPerSecond, 0)} | ${r.verified ? 'yes' : 'NO'} | ${r.servedMB.map((m) => f(m, 0)).join(' / ')} |`,
      ),
    ].join('\n'),
  )
console.log(JSON.stringify({ rows }))
process.exit(rows.every((r) => r.verified && r.relayedOnly !== false) ? 0 : 1)
