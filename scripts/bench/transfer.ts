// Transfer benchmark (issue: networking). In one run on 127.0.0.1:
// 1. a 100 MB delta over dtrain's chunk protocol between two hosts (each chunk verified against
//    the Merkle root) beside a raw TCP socket copy of the same bytes;
// 2. the time a gossip announcement takes to reach all of 16 hosts (median and max over 10);
// 3. the time a 20 MB delta takes to reach all 16 hosts when one holds it: every fetcher asking
//    only the holder, against every fetcher asking every host (a host serves the delta once it
//    holds all of it).
// Usage: npm run bench:transfer [-- --json] [-- --mb 100] [-- --nodes 16]
import '../../src/polyfill.js'
import { connect, createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, type Host } from '../../src/net/host.js'
import { ChunkAssembly, fetchChunks, serveChunks } from '../../src/net/transfer.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { xorshift } from './measure.js'

const args = process.argv.slice(2)
const json = args.includes('--json')
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const MB = 1_000_000
const bigBytes = option('--mb', 100) * MB
const nodeCount = option('--nodes', 16)
const swarmBytes = 20 * MB
const counters = { bytesSent: () => {}, bytesReceived: () => {} }

function randomBytes(size: number, seed: number): Uint8Array {
  const next = xorshift(seed)
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i += 4) {
    const v = (next() * 2 ** 32) >>> 0
    out[i] = v & 0xff
    out[i + 1] = (v >>> 8) & 0xff
    out[i + 2] = (v >>> 16) & 0xff
    out[i + 3] = v >>> 24
  }
  return out
}

async function host(bootstrap: string[] = []): Promise<{ host: Host; store: DeltaStore }> {
  const h = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap,
  })
  const store = new DeltaStore()
  await serveChunks(h, store, counters, () => {})
  return { host: h, store }
}

/** Seconds to copy `bytes` over a plain TCP socket on 127.0.0.1. */
async function tcpCopy(bytes: Uint8Array): Promise<number> {
  const server = createServer((socket) => socket.end(bytes))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const started = performance.now()
  await new Promise<void>((resolve, reject) => {
    const received: Buffer[] = []
    let size = 0
    const socket = connect(port, '127.0.0.1')
    socket.on('data', (d) => {
      received.push(d)
      size += d.length
    })
    socket.on('end', () => (size === bytes.length ? resolve() : reject(new Error(`got ${size} bytes`))))
    socket.on('error', reject)
  })
  const seconds = (performance.now() - started) / 1000
  server.close()
  return seconds
}

// 1. Two hosts, one big delta.
const big = randomBytes(bigBytes, 7)
const a = await host()
const b = await host()
const bigRoot = a.store.put(0, big)
await b.host.dial(multiaddr(a.host.getMultiaddrs()[0].toString()))
const started = performance.now()
const fetched = await fetchChunks(b.host, new ChunkAssembly(bigRoot, big.length), [a.host.peerId], counters)
const libp2pSeconds = (performance.now() - started) / 1000
if (fetched.length !== big.length) throw new Error('transfer incomplete')
const tcpSeconds = await tcpCopy(big)
await Promise.all([a.host.stop(), b.host.stop()])
const libp2pMBps = bigBytes / MB / libp2pSeconds
const tcpMBps = bigBytes / MB / tcpSeconds

// 2. Announcement latency to all of N hosts (hosts bootstrap from host 0).
const first = await host()
const nodes = [first]
for (let i = 1; i < nodeCount; i++) nodes.push(await host(first.host.getMultiaddrs().map(String)))
const topic = 'bench/announce'
const arrivals = new Map<string, number[]>()
for (const [i, n] of nodes.entries()) {
  n.host.services.pubsub.subscribe(topic)
  n.host.services.pubsub.addEventListener('message', (e) => {
    const id = new TextDecoder().decode(e.detail.data)
    arrivals.set(id, [...(arrivals.get(id) ?? []), performance.now()])
    void i
  })
}
for (let t = 0; t < 100 && first.host.services.pubsub.getSubscribers(topic).length < nodeCount - 1; t++)
  await new Promise((r) => setTimeout(r, 100))
await new Promise((r) => setTimeout(r, 2000)) // a few gossipsub heartbeats to build the mesh
const latencies: number[] = []
const maxima: number[] = []
for (let m = 0; m < 10; m++) {
  const id = `announce-${m}`
  const sender = nodes[1 + (m % (nodeCount - 1))]
  const sentAt = performance.now()
  await sender.host.services.pubsub.publish(topic, new TextEncoder().encode(id))
  // Up to 15 s: peers outside the hub's mesh learn of a message from gossip (IHAVE) at heartbeats.
  for (let t = 0; t < 1500 && (arrivals.get(id)?.length ?? 0) < nodeCount - 1; t++)
    await new Promise((r) => setTimeout(r, 10))
  const times = (arrivals.get(id) ?? []).map((at) => at - sentAt).sort((x, y) => x - y)
  if (times.length < nodeCount - 1) {
    const gs = first.host.services.pubsub as unknown as { getMeshPeers?: (t: string) => string[] }
    throw new Error(
      `announcement ${m} reached ${times.length} of ${nodeCount - 1} (hub: ${first.host.getPeers().length} peers, ${first.host.services.pubsub.getSubscribers(topic).length} subscribers, mesh ${gs.getMeshPeers?.(topic).length}; sender peers ${sender.host.getPeers().length})`,
    )
  }
  latencies.push(times[Math.floor(times.length / 2)])
  maxima.push(times.at(-1)!)
}
const announceMsMedian = [...latencies].sort((x, y) => x - y)[Math.floor(latencies.length / 2)]
const announceMsMax = Math.max(...maxima)

// 3. A 20 MB delta from one holder to every other host: one source, then every host a source.
async function spread(round: number, everyHostIsASource: boolean): Promise<number> {
  const bytes = randomBytes(swarmBytes, 11 + round)
  const root = nodes[0].store.put(round, bytes)
  const fetchers = nodes.slice(1)
  const begin = performance.now()
  await Promise.all(
    fetchers.map(async (n) => {
      const sources = everyHostIsASource
        ? nodes.filter((other) => other !== n).map((other) => other.host.peerId)
        : [nodes[0].host.peerId]
      const got = await fetchChunks(n.host, new ChunkAssembly(root, bytes.length), sources, counters, {
        maxPasses: 20,
      })
      n.store.put(round, got) // from now on it serves the delta too
    }),
  )
  return (performance.now() - begin) / 1000
}
const singleSourceSeconds = await spread(1, false)
const swarmSeconds = await spread(2, true)
await Promise.all(nodes.map((n) => n.host.stop()))

console.log(`transfer, 127.0.0.1, 2 cores:`)
console.log(
  `  ${bigBytes / MB} MB delta, chunk protocol (Merkle-verified chunks): ${libp2pMBps.toFixed(0)} MB/s; raw TCP copy: ${tcpMBps.toFixed(0)} MB/s (${(libp2pMBps / tcpMBps).toFixed(2)}x)`,
)
console.log(
  `  announcement to all of ${nodeCount} hosts: median ${announceMsMedian.toFixed(1)} ms, max ${announceMsMax.toFixed(1)} ms (10 messages)`,
)
console.log(
  `  ${swarmBytes / MB} MB delta from one holder to ${nodeCount - 1} hosts: ${singleSourceSeconds.toFixed(2)} s asking only the holder, ${swarmSeconds.toFixed(2)} s asking every host`,
)
if (json)
  console.log(
    JSON.stringify({
      libp2pMBps,
      tcpMBps,
      announceMsMedian,
      announceMsMax,
      swarmSeconds,
      singleSourceSeconds,
      nodes: nodeCount,
    }),
  )
process.exit(0)
