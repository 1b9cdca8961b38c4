// Sixteen hosts on one machine, started together and bootstrapping from one of them, end in one
// connected gossip network: libp2p's default per-address inbound limit (5 per second) and
// gossipsub's IP colocation penalty (more than 10 peers on one address) each broke this before.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, type Host } from '../../src/net/host.js'
import { whenEvents } from '../fixtures/events.js'

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
    const pubsubs = hosts.map((h) => h.services.pubsub as unknown as EventTarget)
    await whenEvents(
      [first.services.pubsub as unknown as EventTarget],
      ['subscription-change'],
      () => first.services.pubsub.getSubscribers('scale').length >= 15,
      "the 15 hosts' subscriptions",
      30_000,
    )
    expect(first.getPeers()).toHaveLength(15)
    expect(first.services.pubsub.getSubscribers('scale')).toHaveLength(15)
    // a gossipsub heartbeat builds the mesh (hosts that the bootstrap host prunes from its mesh
    // are reached by gossip on later heartbeats): wait for the sender's second heartbeat
    let heartbeats = 0
    const sender = hosts[7].services.pubsub as unknown as EventTarget
    const count = () => heartbeats++
    sender.addEventListener('gossipsub:heartbeat', count)
    await whenEvents([sender], ['gossipsub:heartbeat'], () => heartbeats >= 2, "the sender's mesh", 30_000)
    sender.removeEventListener('gossipsub:heartbeat', count)
    await hosts[7].services.pubsub.publish('scale', new TextEncoder().encode('hello'))
    await whenEvents(pubsubs, ['message'], () => received.size >= 15, 'the message at 15 hosts', 30_000)
    expect(received.size).toBe(15) // every host but the sender
  })
})
