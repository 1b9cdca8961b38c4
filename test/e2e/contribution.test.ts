import { afterAll, describe, expect, it } from 'vitest'
import { encodeDelta } from '../../src/codec/delta.js'
import { HashStream } from '../../src/crypto/prng.js'
import type { Host } from '../../src/net/host.js'
import type { DtrainNode } from '../../src/node/node.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { attackerAnnouncement, expectPeers, startAttacker, startNodes } from './helpers.js'

describe('contribution check', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 4,
    batchSize: 4,
    expectedPeers: 4,
    minPeers: 3,
    collectTimeoutMs: 20_000,
    evalWindows: 8,
    aggregation: { rule: 'mean' }, // the plain mean: only the check stands between it and the attack
    contribution: { check: true, windows: 8, maxLossIncrease: 0.5 },
    salt: 'contribution',
  })
  let nodes: DtrainNode[] = []
  let attacker: Host | undefined
  afterAll(async () => {
    await Promise.all([...nodes.map((n) => n.stop()), attacker?.stop()])
  })

  it('leaves out a valid but harmful delta and keeps the honest ones', async () => {
    nodes = await startNodes(genesis, 3)
    const count = parameterCount(genesis.model)
    const store = new DeltaStore()
    // Large values of random sign: a model moved by this predicts confidently and wrongly.
    const signs = new HashStream('contribution-test', new Uint8Array(0))
    const harmful = Float32Array.from({ length: count }, () => 3 * signs.nextSymmetricUnit())
    const root = store.put(0, encodeDelta(harmful, { encoding: 'fp32' }))
    const { host, key, topic } = await startAttacker(genesis, nodes, store)
    attacker = host
    await expectPeers(nodes, 4)
    const announcement = await attackerAnnouncement(genesis, { host, key }, root)
    await attacker.services.pubsub.publish(topic, announcement)

    const reports = await Promise.all(nodes.map((n) => n.runRound()))
    for (const r of reports) {
      expect(r.contributors).toBe(3)
      expect(r.deadlineHit).toBe(false) // the attacker's delta arrived and counted as delivered
    }
    for (const node of nodes) {
      expect(await node.metrics.total(node.metrics.deltaRejections, { reason: 'contribution-check' })).toBe(1)
      expect(node.reputation.get(attacker.peerId.toString())).toBeGreaterThan(0.1)
      expect(node.reputation.get(node.peerId.toString())).toBeLessThan(0.1)
    }
    expect(new Set(nodes.map((n) => n.globalWeightsHash)).size).toBe(1)
  })
})
