// State sync (SPEC.md 12): a node that joins a running network fetches the majority's committed
// state, verified chunk by chunk against the committed root and by the weights hash, and then
// trains in step with the others.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/log.js'
import { DtrainNode } from '../../src/node/node.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { expectPeers, startNodes } from './helpers.js'

describe('a late joiner', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 4,
    batchSize: 4,
    expectedPeers: 4,
    minPeers: 3,
    minCollectMs: 500,
    collectTimeoutMs: 4000,
    evalWindows: 4,
    salt: 'late-joiner',
  })
  let nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('syncs the committed state after two rounds and then agrees bit for bit', async () => {
    nodes = await startNodes(genesis, 3)
    await expectPeers(nodes, 3)
    for (let r = 0; r < 2; r++) await Promise.all(nodes.map((n) => n.runRound()))

    const joiner = await DtrainNode.create({
      genesis,
      privateKey: await generateKeyPair('Ed25519'),
      // Every running node as a bootstrap peer: each one's commit then reaches the joiner directly
      // (gossipsub floods its own messages to every peer); through node 0 alone, commits published
      // before the joiner entered node 0's mesh could only arrive by lazy gossip, or not at all.
      bootstrap: nodes.flatMap((n) => n.addresses()),
      logger: silentLogger(),
    })
    nodes.push(joiner)
    await expectPeers([joiner], 4)
    const [synced] = await Promise.all([
      joiner.syncFromNetwork(30_000),
      ...nodes.slice(0, 3).map((n) => n.runRound()),
    ])
    expect(synced).toBe(true)
    // It may first have heard round 1's commits (gossipsub still advertises recent messages to a
    // new peer) and synced that state; then it catches up with round 2 the same way.
    if (joiner.round < 3) expect(await joiner.reconcile()).toBe(true)
    expect(joiner.round).toBe(3)
    expect(joiner.globalWeightsHash).toBe(nodes[0].globalWeightsHash)
    expect(
      await joiner.metrics.total(joiner.metrics.stateSyncs, { reason: 'behind' }),
    ).toBeGreaterThanOrEqual(1)

    const reports = await Promise.all(nodes.map((n) => n.runRound()))
    for (const r of reports) {
      expect(r.round).toBe(3)
      expect(r.contributors).toBe(4)
    }
    expect(new Set(nodes.map((n) => n.globalWeightsHash)).size).toBe(1)
  })

  // Continues with the four nodes above, now at round 4.
  it('a node a whole round behind ends its collect once the network has closed a later round, then syncs', async () => {
    expect(nodes).toHaveLength(4)
    // A node with no peers starts round 0 (nothing tells it the network is ahead yet) ...
    const behind = await DtrainNode.create({
      genesis,
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: [],
      logger: silentLogger(),
    })
    nodes.push(behind)
    const ownRound = behind.runRound()
    // ... and meets the network while it trains; the others close round 4 meanwhile.
    for (const node of nodes.slice(0, 4)) await behind.host.dial(multiaddr(node.addresses()[0]))
    await Promise.all(nodes.slice(0, 4).map((n) => n.runRound()))
    const report = await ownRound
    expect(report.round).toBe(0)
    expect(report.contributors).toBe(1)
    // No peer will send a delta of round 0: without the network's commits of later rounds it
    // would wait for the deadline (4 s) and, below quorum, once more (8 s in all).
    expect(report.phaseSeconds.collect).toBeLessThan(genesis.round.collectTimeoutMs / 1000)
    // The next reconciliation brings it to the network's state.
    expect(await behind.reconcile()).toBe(true)
    expect(behind.round).toBe(nodes[0].round)
    expect(behind.globalWeightsHash).toBe(nodes[0].globalWeightsHash)
  })
})
