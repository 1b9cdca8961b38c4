// A run that grew past its genesis's expectedPeers (issue 19 §2): four nodes of a run that
// expects three. Collect used to end once three deltas had arrived, so every round some node left
// the last delta out and had to recompute (or sync as a minority when it came too late); it now
// ends once every peer that committed the previous decided state delivered (SPEC.md 11, step 3).
// Real nodes on 127.0.0.1.
import { afterAll, describe, expect, it } from 'vitest'
import type { DtrainNode, RoundReport } from '../../src/node/node.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { expectPeers, startNodes } from './helpers.js'

describe('a run that grew past expectedPeers', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 8,
    batchSize: 4,
    expectedPeers: 3,
    minPeers: 2,
    collectTimeoutMs: 20_000,
    evalWindows: 4,
    salt: 'growth',
  })
  let nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('waits for every previous committer, so all four deltas are in every round after the first', async () => {
    nodes = await startNodes(genesis, 4)
    await expectPeers(nodes, 4)
    const rounds: RoundReport[][] = []
    const recomputes: number[][] = []
    for (let r = 0; r < 4; r++) {
      rounds.push(await Promise.all(nodes.map((n) => n.runRound())))
      recomputes.push(await Promise.all(nodes.map((n) => n.metrics.total(n.metrics.settledRounds))))
    }
    // Round 0 knows no committers yet: it may end at three deltas and settle. From round 1 on,
    // collect waits for the four peers that committed the round before: every node aggregates
    // the four deltas at once, on time, and never needs to recompute or to sync.
    for (let r = 1; r < 4; r++) {
      for (const report of rounds[r]) {
        expect(report.contributors, `round ${r}`).toBe(4)
        expect(report.deadlineHit, `round ${r}`).toBe(false)
      }
      expect(new Set(rounds[r].map((x) => x.weightsHash)).size, `round ${r}`).toBe(1)
    }
    expect(recomputes[3], 'settle recomputes after round 0').toEqual(recomputes[0])
    for (const n of nodes) expect(await n.metrics.total(n.metrics.stateSyncs)).toBeLessThanOrEqual(1)
  })
})
