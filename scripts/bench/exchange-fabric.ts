// n libp2p hosts on 127.0.0.1, every pair connected through a LinkEmulator (user-space WAN link:
// the sender's uplink rate, one-way latency, bytes counted), exchanging payloads as dtrain moves
// deltas: the holder keeps the bytes in its DeltaStore, announces root and size over gossipsub,
// and every other host fetches them over the chunk protocol, each chunk verified against the
// Merkle root. Used by the DiLoCo benchmark for both synchronous gradients and DiLoCo deltas, so
// both are carried, counted and timed by the same transport.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, type Host } from '../../src/net/host.js'
import { LinkEmulator, Pacer } from '../../src/net/link-emulator.js'
import { ChunkAssembly, fetchChunks, serveChunks } from '../../src/net/transfer.js'
import { DeltaStore } from '../../src/store/delta-store.js'

const TOPIC = 'dtrain-bench/exchange/1'
const counters = { bytesSent: () => {}, bytesReceived: () => {} }

export interface FabricOptions {
  nodes: number
  /** each host's uplink; Infinity for loopback speed */
  uplinkBytesPerSecond: number
  /** one-way latency of every link */
  latencyMs: number
}

interface Announcement {
  root: Uint8Array
  size: number
}

/** Re-publication interval of an announcement not yet seen by every host. */
const REPUBLISH_MS = 2000

export class ExchangeFabric {
  private tag = 0
  /** per host: `${tag}/${sender}` -> announcement, and waiters for ones not yet seen */
  private readonly seen: Array<Map<string, Announcement>>
  private readonly waiters: Array<Map<string, (a: Announcement) => void>>

  private constructor(
    readonly hosts: Host[],
    private readonly stores: DeltaStore[],
    private readonly links: Array<{ dialer: number; target: number; link: LinkEmulator }>,
  ) {
    this.seen = hosts.map(() => new Map())
    this.waiters = hosts.map(() => new Map())
    hosts.forEach((host, i) => {
      host.services.pubsub.subscribe(TOPIC)
      host.services.pubsub.addEventListener('message', (event) => {
        if (event.detail.topic !== TOPIC) return
        const data = event.detail.data
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
        const tag = view.getUint32(0)
        // A re-publication that arrives after its exchange ended is stale.
        if (tag < this.tag - 1) return
        const key = `${tag}/${data[4]}`
        const announcement = { size: view.getUint32(5), root: data.slice(9, 41) }
        this.seen[i].set(key, announcement)
        this.waiters[i].get(key)?.(announcement)
      })
    })
  }

  static async start(options: FabricOptions): Promise<ExchangeFabric> {
    const hosts: Host[] = []
    const stores: DeltaStore[] = []
    for (let i = 0; i < options.nodes; i++) {
      const host = await createHost({
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
      })
      const store = new DeltaStore()
      await serveChunks(host, store, counters, () => {})
      hosts.push(host)
      stores.push(store)
    }
    const uplinks = hosts.map(() => new Pacer(options.uplinkBytesPerSecond))
    const links: Array<{ dialer: number; target: number; link: LinkEmulator }> = []
    for (let i = 0; i < options.nodes; i++) {
      for (let j = i + 1; j < options.nodes; j++) {
        const targetPort = Number(hosts[j].getMultiaddrs()[0].toString().split('/')[4])
        const link = await LinkEmulator.start({
          targetPort,
          latencyMs: options.latencyMs,
          forward: uplinks[i],
          backward: uplinks[j],
        })
        links.push({ dialer: i, target: j, link })
        await hosts[i].dial(multiaddr(`/ip4/127.0.0.1/tcp/${link.port}/p2p/${hosts[j].peerId}`))
      }
    }
    const fabric = new ExchangeFabric(hosts, stores, links)
    await fabric.meshReady()
    return fabric
  }

  private async meshReady(): Promise<void> {
    const deadline = Date.now() + 30_000
    while (this.hosts.some((h) => h.services.pubsub.getSubscribers(TOPIC).length < this.hosts.length - 1)) {
      if (Date.now() > deadline) throw new Error('gossip subscriptions did not reach every host in 30 s')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    // Every connection must run through a link, or the byte counts and delays would be wrong.
    for (const [i, host] of this.hosts.entries()) {
      const peers = new Set(host.getConnections().map((c) => c.remotePeer.toString()))
      if (peers.size !== this.hosts.length - 1)
        throw new Error(`host ${i} has connections to ${peers.size} peers, expected ${this.hosts.length - 1}`)
    }
  }

  /**
   * Every host i publishes payloads[i] and fetches every other host's payload. Resolves with what
   * each host received, by sender (its own payload in its own slot), and the seconds it took.
   */
  async exchange(payloads: readonly Uint8Array[]): Promise<{ received: Uint8Array[][]; seconds: number }> {
    if (payloads.length !== this.hosts.length) throw new RangeError('one payload per host')
    const tag = this.tag++
    for (const seen of this.seen) seen.clear() // announcements of earlier exchanges (re-publications)
    const started = performance.now()
    const received = this.hosts.map(() => new Array<Uint8Array>(this.hosts.length))
    const messages: Uint8Array[] = []
    for (const [i, payload] of payloads.entries()) {
      const root = this.stores[i].put(tag, payload)
      const message = new Uint8Array(41)
      const view = new DataView(message.buffer)
      view.setUint32(0, tag)
      message[4] = i
      view.setUint32(5, payload.length)
      message.set(root, 9)
      received[i][i] = payload
      messages.push(message)
      await this.hosts[i].services.pubsub.publish(TOPIC, message)
    }
    // Gossip may drop a message on a loaded machine; as a dtrain node re-announces while it
    // collects, every sender re-publishes until the exchange is done (duplicates are harmless).
    const republish = setInterval(() => {
      for (const [i, message] of messages.entries())
        this.hosts[i].services.pubsub.publish(TOPIC, message).catch(() => {})
    }, REPUBLISH_MS)
    try {
      await this.collect(tag, received)
    } finally {
      clearInterval(republish)
    }
    return { received, seconds: (performance.now() - started) / 1000 }
  }

  private async collect(tag: number, received: Uint8Array[][]): Promise<void> {
    await Promise.all(
      this.hosts.flatMap((host, i) =>
        this.hosts.map(async (sender, j) => {
          if (i === j) return
          const announcement = await this.announcement(i, `${tag}/${j}`)
          this.seen[i].delete(`${tag}/${j}`)
          const assembly = new ChunkAssembly(announcement.root, announcement.size)
          received[i][j] = await fetchChunks(host, assembly, [sender.peerId], counters)
        }),
      ),
    )
  }

  private announcement(host: number, key: string): Promise<Announcement> {
    const known = this.seen[host].get(key)
    if (known) return Promise.resolve(known)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`host ${host} never saw announcement ${key}`)), 60_000)
      this.waiters[host].set(key, (a) => {
        clearTimeout(timer)
        this.waiters[host].delete(key)
        resolve(a)
      })
    })
  }

  /** Bytes each host has sent so far, measured on the links (all protocol overhead included). */
  bytesSent(): number[] {
    const sent = this.hosts.map(() => 0)
    for (const { dialer, target, link } of this.links) {
      sent[dialer] += link.bytes.forward
      sent[target] += link.bytes.backward
    }
    return sent
  }

  async stop(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.stop()))
    await Promise.all(this.links.map(({ link }) => link.close()))
  }
}
