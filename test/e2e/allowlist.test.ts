// A node with an allowlist (a private testnet's membership): strangers can neither connect to it
// nor get a message to it through a member that relays them.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeDelta } from '../../src/codec/delta.js'
import { silentLogger } from '../../src/log.js'
import type { Host } from '../../src/net/host.js'
import { DtrainNode } from '../../src/node/node.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { attackerAnnouncement, expectPeers, startAttacker } from './helpers.js'

describe('allowlist', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    expectedPeers: 2,
    salt: 'allowlist',
  })
  const nodes: DtrainNode[] = []
  let stranger: Host | undefined
  afterAll(async () => {
    await Promise.all([...nodes.map((n) => n.stop()), stranger?.stop()])
  })

  it('refuses a stranger connection and drops its gossip when a member without a list relays it', async () => {
    const member = await DtrainNode.create({
      genesis,
      privateKey: await generateKeyPair('Ed25519'),
      logger: silentLogger(),
    })
    nodes.push(member)
    const gated = await DtrainNode.create({
      genesis,
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: member.addresses(),
      logger: silentLogger(),
      allowlist: [member.peerId.toString()],
    })
    nodes.push(gated)
    await expectPeers(nodes, 2)

    const count = parameterCount(genesis.model)
    const store = new DeltaStore()
    const root = store.put(0, encodeDelta(new Float32Array(count), { encoding: 'fp32' }))
    const attacker = await startAttacker(genesis, [member], store)
    stranger = attacker.host
    // Straight to the gated node: refused once its identity is known.
    await stranger.dial(multiaddr(gated.addresses()[0])).catch(() => undefined)
    for (let i = 0; i < 50 && stranger.getPeers().map(String).includes(gated.peerId.toString()); i++)
      await new Promise((r) => setTimeout(r, 100))
    expect(stranger.getPeers().map(String)).not.toContain(gated.peerId.toString())
    expect(await gated.metrics.total(gated.metrics.refusedConnections)).toBeGreaterThanOrEqual(1)

    // Through the member, which accepts and relays a valid announcement.
    await expectPeers([member], 3)
    const announcement = await attackerAnnouncement(genesis, attacker, root)
    await stranger.services.pubsub.publish(attacker.topic, announcement)
    const rejected = () =>
      gated.metrics.total(gated.metrics.gossipVerdicts, { verdict: 'ignore', reason: 'not-allowed' })
    for (let i = 0; i < 100 && (await rejected()) === 0; i++) await new Promise((r) => setTimeout(r, 100))
    expect(
      await member.metrics.total(member.metrics.gossipVerdicts, { topic: 'delta', verdict: 'accept' }),
    ).toBe(1)
    expect(await rejected()).toBe(1)
  })
})
