// A node that AutoNAT finds unreachable reserves a relay slot only once a connected peer runs a
// relay (issue 19 §3). Listening on /p2p-circuit with no relay in reach started libp2p's relay
// discovery, a DHT random walk that never ends while no relay answers and keeps every stream it
// opened: the heap of such a node grew by 0.3 MB per round (npm run bench:memory; flat with
// --relay-client off). A relay does not take its own clients for relays, and a node's DHT lookups
// for missing peers back off. Real hosts on 127.0.0.1, each with the run's DHT.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, dhtProtocol, type Host } from '../../src/net/host.js'
import { connectedRelays, Reachability, relayedAddresses } from '../../src/net/reachability.js'
import { until } from './node-process.js'

const HOP = '/libp2p/circuit/relay/0.2.0/hop'

describe('reserving a relay slot', () => {
  const hosts: Host[] = []
  const reachabilities: Reachability[] = []
  afterAll(async () => {
    for (const r of reachabilities) r.stop()
    await Promise.all(hosts.map((h) => h.stop()))
  })
  const make = async (relayServer: boolean, metricsRegistry?: Registry) => {
    const host = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      dhtProtocol: dhtProtocol('00'.repeat(32)),
      relayServer,
      metricsRegistry,
    })
    hosts.push(host)
    return host
  }
  const watch = (host: Host, lines: string[] = []) => {
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line).msg) })
    const reachability = new Reachability(
      host,
      { relayClient: 'auto', targetPeers: 1, runPeers: () => 1, keep: () => {}, graceMs: 200 },
      log,
    )
    reachabilities.push(reachability)
    reachability.start()
    return lines
  }

  it('waits for a connected relay instead of searching the network for one, then reserves on it', async () => {
    const node = await make(false)
    const peer = await make(false)
    await node.dial(peer.getMultiaddrs()[0])
    const lines = watch(node)
    const circuitListening = () =>
      (
        node as unknown as {
          components: { transportManager: { getListeners(): Array<{ getAddrs(): unknown[] }> } }
        }
      ).components.transportManager
        .getListeners()
        .some((l) => l.getAddrs().some((a) => String(a).includes('p2p-circuit')))
    // Several checks pass with no relay connected: it says so once and does not listen.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(lines.filter((l) => l.startsWith('no public address and no relay'))).toHaveLength(1)
    expect(lines.some((l) => l.includes('reserving a slot on a relay'))).toBe(false)
    expect(circuitListening()).toBe(false)
    // A relay connects: the next check reserves a slot on it.
    const relay = await make(true)
    await node.dial(relay.getMultiaddrs()[0])
    await until(
      'a reservation',
      () => relayedAddresses(node).length > 0 || undefined,
      20_000,
      () => `log: ${lines.join(' | ')}`,
    )
    expect(relayedAddresses(node)[0]).toContain(`/p2p/${relay.peerId}/p2p-circuit`)
  })

  // libp2p adds to a peer's protocols in the peer store every protocol the peer opened a stream for
  // on this host: a relay's clients all opened hop streams to reserve, and the relay took them for
  // relays. With no public address of its own it reserved on them, each refused, and libp2p's relay
  // discovery walked the DHT without end: thousands of FIND_NODE requests a second from the
  // bootstrap node of every loopback testnet (announced-protocols.ts).
  it('a relay does not take the clients that reserved slots on it for relays', async () => {
    const registry = new Registry()
    const relay = await make(true, registry)
    const clients = [await make(false), await make(false)]
    for (const client of clients) {
      await client.dial(relay.getMultiaddrs()[0])
      watch(client)
    }
    await until(
      'both clients to reserve a slot on the relay',
      () => clients.every((c) => relayedAddresses(c).length > 0) || undefined,
      20_000,
    )
    // Each client opens one more hop stream, as a reservation's refresh does: the relay's peer
    // store then lists it as speaking hop, whatever order the reservations and the identify
    // pushes that followed them came in (a push replaces the list; the next stream adds hop again).
    for (const client of clients) {
      const stream = await client.dialProtocol(relay.peerId, HOP)
      await stream.close()
    }
    for (const client of clients)
      expect((await relay.peerStore.get(client.peerId)).protocols, 'the peer store').toContain(HOP)
    const requests = async () =>
      (
        (await registry.getSingleMetric('libp2p_kad_dht_outbound_rpc_requests_total')?.get())?.values ?? []
      ).reduce((sum, v) => sum + v.value, 0)
    const before = await requests()
    const lines = watch(relay)
    await new Promise((resolve) => setTimeout(resolve, 3000))
    expect(lines.filter((l) => l.startsWith('no public address and no relay'))).toHaveLength(1)
    expect(lines.some((l) => l.includes('reserving a slot on a relay'))).toBe(false)
    // the symptom: a relay discovery walks the DHT at hundreds of requests a second
    const walked = (await requests()) - before
    expect(walked, 'DHT requests the relay sent in 3 s').toBeLessThan(100)
    expect(connectedRelays(relay)).toEqual([])
  })
})

// A node with fewer of the run's peers than it expects asks the DHT for more. It asked every 5 s
// for as long as it ran, each time every peer of a small run; now a lookup that finds no one new
// doubles the wait, and a lost peer or a new one found brings it back to the interval.
describe('looking up peers in the DHT', () => {
  const hosts: Host[] = []
  let reachability: Reachability | undefined
  afterAll(async () => {
    reachability?.stop()
    await Promise.all(hosts.map((h) => h.stop()))
  })

  it('backs off while lookups find no one new, and looks again at once when a peer is lost', async () => {
    const make = async () => {
      const host = await createHost({
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        dhtProtocol: dhtProtocol('01'.repeat(32)),
      })
      hosts.push(host)
      return host
    }
    const [node, b, c] = [await make(), await make(), await make()]
    await node.dial(b.getMultiaddrs()[0])
    await node.dial(c.getMultiaddrs()[0])
    await b.dial(c.getMultiaddrs()[0])
    const done: Array<{ at: number; found: number; nextInMs: number; runPeers: number }> = []
    const log = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          const entry = JSON.parse(line)
          if (entry.msg === 'DHT lookup done')
            done.push({
              at: Date.now(),
              found: entry.found,
              nextInMs: entry.nextInMs,
              runPeers: entry.runPeers,
            })
        },
      },
    )
    reachability = new Reachability(
      node,
      {
        relayClient: 'off',
        // two expected peers never come: the node keeps looking
        targetPeers: 4,
        runPeers: () => node.getPeers().length,
        keep: (peer) => void node.dial(peer).catch(() => {}),
        lookupIntervalMs: 100,
      },
      log,
    )
    reachability.start()
    await new Promise((resolve) => setTimeout(resolve, 3000))
    // 100, 200, 400, 800, 1600 ms: at most 5 or 6 lookups in 3 s, where a fixed interval made ~30
    expect(done.length, JSON.stringify(done)).toBeGreaterThanOrEqual(2)
    expect(done.length, JSON.stringify(done)).toBeLessThanOrEqual(7)
    done.forEach((d, i) => {
      const previous = i === 0 ? 0 : done[i - 1].nextInMs
      expect(d.nextInMs, JSON.stringify(done)).toBe(
        d.found > 0 ? 0 : Math.min(Math.max(2 * previous, 100), 300_000),
      )
    })
    const waitFor = (what: string, ok: () => boolean) =>
      until(
        what,
        () => ok() || undefined,
        30_000,
        () => JSON.stringify(done),
      )
    // A fourth host joins, known to b only: a lookup finds it, and the wait starts over.
    const joined = Date.now()
    const e = await make()
    await e.dial(b.getMultiaddrs()[0])
    await waitFor('a lookup that finds the new host', () => done.some((d) => d.at > joined && d.found > 0))
    expect(done.find((d) => d.at > joined && d.found > 0)!.nextInMs).toBe(0)
    // Once the wait is 3.2 s again, node loses c (it stops; a peer that was only hung up on came
    // back within the 100 ms between checks): it looks again before that wait is over.
    await waitFor('a wait of 3.2 s', () => (done.at(-1)?.nextInMs ?? 0) >= 3200)
    const before = done.at(-1)!
    const lost = Date.now()
    await c.stop()
    await waitFor('a lookup after the loss', () => done.some((d) => d.at > lost))
    expect(done.find((d) => d.at > lost)!.at, `${lost} ${JSON.stringify(done)}`).toBeLessThan(
      before.at + before.nextInMs,
    )
  })
})
