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
    const syncs: number[][] = []
    const ROUNDS = 8
    for (let r = 0; r < ROUNDS; r++) {
      rounds.push(await Promise.all(nodes.map((n) => n.runRound())))
      recomputes.push(await Promise.all(nodes.map((n) => n.metrics.total(n.metrics.settledRounds))))
      syncs.push(await Promise.all(nodes.map((n) => n.metrics.total(n.metrics.stateSyncs))))
    }
    // Round 0 knows no committers yet: it may end at three deltas and settle, and while the sets
    // grow the votes move, so the first rounds can split: in 5 runs of 16 (this commit and the one
    // before the session that added this test alike) two nodes trained a round from one state and
    // two from another, or three and one, each side aggregating its own (SPEC.md 11.1), for up to
    // three rounds. With 4 nodes and expectedPeers 3 a majority is 2, so two halves can each hold
    // one (issue 19, left open). Once the nodes hold one state, collect waits for the four peers
    // that committed the round before: from that round on every node aggregates the four deltas
    // at once, on time, and never needs to recompute or to sync. (With the old collect, which
    // ended at expectedPeers deltas, every round ended at three and recomputed in the settle step.)
    const clean = (r: number) =>
      rounds[r].every((x) => x.contributors === 4 && !x.deadlineHit) &&
      new Set(rounds[r].map((x) => x.weightsHash)).size === 1
    const first = [1, 2, 3, 4, 5].find(
      (r) =>
        Array.from({ length: ROUNDS - r }, (_, k) => r + k).every(clean) &&
        recomputes[ROUNDS - 1].every((v, i) => v === recomputes[r - 1][i]) &&
        syncs[ROUNDS - 1].every((v, i) => v === syncs[r - 1][i]),
    )
    const summary = rounds.map(
      (rs, r) =>
        `round ${r}: ${rs.map((x) => `${x.contributors} ${x.weightsHash.slice(0, 8)}${x.deadlineHit ? ' late' : ''}`).join(', ')}; recomputes ${recomputes[r].join('/')}, syncs ${syncs[r].join('/')}`,
    )
    expect(first, `no round from 1 to 5 starts a clean run to the end:\n${summary.join('\n')}`).toBeDefined()
  })
})
