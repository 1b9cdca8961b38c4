// Private networks (SPEC.md 2.3): only hosts holding the same pre-shared key can connect.
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, type Host } from '../../src/net/host.js'
import { generateSwarmKey } from '../../src/net/swarm-key.js'

describe('private network', () => {
  const hosts: Host[] = []
  const start = async (
    swarmKey?: Uint8Array,
    options: { allowlist?: string[]; onRefused?: (peer: string) => void; key?: PrivateKey } = {},
  ) => {
    const host = await createHost({
      privateKey: options.key ?? (await generateKeyPair('Ed25519')),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      swarmKey,
      allowlist: options.allowlist,
      onRefused: options.onRefused,
    })
    hosts.push(host)
    return host
  }
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()))
  })

  it('lets hosts with the same key connect and gossip, and keeps out hosts with another key or none', async () => {
    const key = generateSwarmKey()
    expect(new TextDecoder().decode(key)).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    const a = await start(key)
    const b = await start(key)
    const outsider = await start(generateSwarmKey())
    const open = await start()
    const address = multiaddr(a.getMultiaddrs()[0].toString())

    await b.dial(address)
    expect(b.getPeers().map(String)).toContain(a.peerId.toString())
    a.services.pubsub.subscribe('t')
    b.services.pubsub.subscribe('t')
    const received = new Promise<string>((resolve) =>
      a.services.pubsub.addEventListener('message', (e) => resolve(new TextDecoder().decode(e.detail.data))),
    )
    for (let i = 0; i < 50 && b.services.pubsub.getSubscribers('t').length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100))
    }
    await b.services.pubsub.publish('t', new TextEncoder().encode('inside'))
    expect(await received).toBe('inside')

    await expect(outsider.dial(address, { signal: AbortSignal.timeout(5000) })).rejects.toThrow()
    await expect(open.dial(address, { signal: AbortSignal.timeout(5000) })).rejects.toThrow()
    expect(a.getPeers().map(String)).not.toContain(outsider.peerId.toString())
    expect(a.getPeers().map(String)).not.toContain(open.peerId.toString())
  })

  it('with an allowlist of peer ids, refuses connections from and to every other peer', async () => {
    const memberKey = await generateKeyPair('Ed25519')
    const member = peerIdFromPrivateKey(memberKey).toString()
    const refused: string[] = []
    const gated = await start(undefined, { allowlist: [member], onRefused: (p) => refused.push(p) })
    const inside = await start(undefined, { key: memberKey })
    const stranger = await start()
    const address = multiaddr(gated.getMultiaddrs()[0].toString())

    await inside.dial(address)
    for (let i = 0; i < 50 && gated.getPeers().length === 0; i++) await new Promise((r) => setTimeout(r, 100))
    expect(gated.getPeers().map(String)).toEqual([member])
    // The stranger's own dial may complete its side of the handshake before the gated host, which
    // learns the stranger's identity from the handshake, refuses and closes the connection.
    await stranger.dial(address, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
    for (let i = 0; i < 50 && stranger.getPeers().length > 0; i++)
      await new Promise((r) => setTimeout(r, 100))
    expect(stranger.getPeers()).toEqual([])
    expect(gated.getPeers().map(String)).toEqual([member])
    expect(refused).toContain(stranger.peerId.toString())
    // The gated host does not dial out to a stranger either.
    await expect(
      gated.dial(multiaddr(stranger.getMultiaddrs()[0].toString()), { signal: AbortSignal.timeout(5000) }),
    ).rejects.toThrow()
    expect(gated.getPeers().map(String)).toEqual([member])
  })
})
