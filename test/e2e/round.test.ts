// The round protocol when a peer never shows up (SPEC.md 11.2, 11.3): the collect deadline adapts
// to the arrival times of recent rounds, and below quorum the deadline is extended once.
import { afterEach, describe, expect, it } from 'vitest'
import type { DtrainNode, RoundReport } from '../../src/node/node.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { expectPeers, startNodes } from './helpers.js'

describe('round protocol with a missing peer', () => {
  let nodes: DtrainNode[] = []
  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    nodes = []
  })

  const genesisFor = (minPeers: number, collectTimeoutMs: number, salt: string) =>
    defaultGenesis({
      preset: 'tiny',
      dataset: 'synthetic',
      innerSteps: 4,
      batchSize: 4,
      expectedPeers: 4, // a fourth peer is expected but never starts
      minPeers,
      minCollectMs: 300,
      collectTimeoutMs,
      evalWindows: 4,
      salt,
    })

  it('shortens the collect deadline from the arrival times it observed, and stays in agreement', async () => {
    nodes = await startNodes(genesisFor(3, 8000, 'adaptive'), 3)
    await expectPeers(nodes, 3)
    const rounds: RoundReport[][] = []
    for (let r = 0; r < 2; r++) rounds.push(await Promise.all(nodes.map((n) => n.runRound())))
    for (const reports of rounds) for (const report of reports) expect(report.contributors).toBe(3)
    // Round 0 waits for the fourth expected peer until the deadline; round 1 waits for the peers
    // that committed round 0's decided state, and ends once the three of them delivered (a run's
    // membership is what committed, not the genesis's count, SPEC.md 11 step 3).
    for (const report of rounds[0]) expect(report.deadlineHit).toBe(true)
    for (const report of rounds[1]) expect(report.deadlineHit).toBe(false)
    // Round 0 waits the full 8 s; round 1's deadline is 1.5 x the observed delays + 1 s, below the
    // cap (the deadline it chose, read from its metric: a decision, not a wall-clock bound).
    expect(Math.min(...rounds[0].map((r) => r.phaseSeconds.collect))).toBeGreaterThan(7.5)
    for (const node of nodes) {
      const { values } = await node.metrics.collectDeadlineSeconds.get()
      expect(values[0].value).toBeLessThan(8)
    }
    expect(new Set(nodes.map((n) => n.globalWeightsHash)).size).toBe(1)
    expect(await nodes[0].metrics.total(nodes[0].metrics.belowQuorumRounds)).toBe(0)
  })

  it('extends the deadline once below quorum, then carries on and counts the round', async () => {
    nodes = await startNodes(genesisFor(4, 1500, 'quorum'), 3)
    await expectPeers(nodes, 3)
    const reports = await Promise.all(nodes.map((n) => n.runRound()))
    for (const report of reports) {
      expect(report.contributors).toBe(3)
      expect(report.phaseSeconds.collect).toBeGreaterThan(2.9) // two deadlines of 1.5 s
    }
    for (const node of nodes) expect(await node.metrics.total(node.metrics.belowQuorumRounds)).toBe(1)
    expect(new Set(nodes.map((n) => n.globalWeightsHash)).size).toBe(1)
  })
})
