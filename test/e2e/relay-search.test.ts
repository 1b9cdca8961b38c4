// A node that AutoNAT finds unreachable reserves a relay slot only once a connected peer runs a
// relay (issue 19 §3). Listening on /p2p-circuit with no relay in reach started libp2p's relay
// discovery, a DHT random walk that never ends while no relay answers and keeps every stream it
// opened: the heap of such a node grew by 0.3 MB per round (npm run bench:memory; flat with
// --relay-client off). Real hosts on 127.0.0.1, each with the run's DHT.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, dhtProtocol, type Host } from '../../src/net/host.js'
import { Reachability, relayedAddresses } from '../../src/net/reachability.js'

describe('reserving a relay slot', () => {
  const hosts: Host[] = []
  let reachability: Reachability | undefined
  afterAll(async () => {
    reachability?.stop()
    await Promise.all(hosts.map((h) => h.stop()))
  })

  it('waits for a connected relay instead of searching the network for one, then reserves on it', async () => {
    const dht = dhtProtocol('00'.repeat(32))
    const make = async (relayServer: boolean) => {
      const host = await createHost({
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        dhtProtocol: dht,
        relayServer,
      })
      hosts.push(host)
      return host
    }
    const node = await make(false)
    const peer = await make(false)
    await node.dial(peer.getMultiaddrs()[0])
    const lines: string[] = []
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line).msg) })
    reachability = new Reachability(
      node,
      { relayClient: 'auto', targetPeers: 1, runPeers: () => 1, keep: () => {}, graceMs: 200 },
      log,
    )
    reachability.start()
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
    const deadline = Date.now() + 20_000
    while (relayedAddresses(node).length === 0) {
      if (Date.now() > deadline) throw new Error(`no reservation; log: ${lines.join(' | ')}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(relayedAddresses(node)[0]).toContain(`/p2p/${relay.peerId}/p2p-circuit`)
  })
})
