// Sixteen hosts on one machine, started together and bootstrapping from one of them, end in one
// connected gossip network: libp2p's default per-address inbound limit (5 per second) and
// gossipsub's IP colocation penalty (more than 10 peers on one address) each broke this before.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, type Host } from '../../src/net/host.js'

describe('16 hosts on one address', () => {
  const hosts: Host[] = []
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()))
  })

  it('all connect to the bootstrap host and every one of them receives a message', async () => {
    const first = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    hosts.push(first)
    const bootstrap = first.getMultiaddrs().map(String)
    hosts.push(
      ...(await Promise.all(
        Array.from({ length: 15 }, async () =>
          createHost({
            privateKey: await generateKeyPair('Ed25519'),
            listen: ['/ip4/127.0.0.1/tcp/0'],
            bootstrap,
          }),
        ),
      )),
    )
    const received = new Set<string>()
    for (const h of hosts) {
      h.services.pubsub.subscribe('scale')
      h.services.pubsub.addEventListener('message', () => received.add(h.peerId.toString()))
    }
    for (let i = 0; i < 100 && first.services.pubsub.getSubscribers('scale').length < 15; i++)
      await new Promise((r) => setTimeout(r, 100))
    expect(first.getPeers()).toHaveLength(15)
    expect(first.services.pubsub.getSubscribers('scale')).toHaveLength(15)
    await new Promise((r) => setTimeout(r, 1500)) // a gossipsub heartbeat builds the mesh
    await hosts[7].services.pubsub.publish('scale', new TextEncoder().encode('hello'))
    for (let i = 0; i < 50 && received.size < 15; i++) await new Promise((r) => setTimeout(r, 100))
    expect(received.size).toBe(15) // every host but the sender
  })
})
