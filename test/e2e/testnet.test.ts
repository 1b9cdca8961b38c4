import { afterAll, describe, expect, it } from 'vitest'
import type { DtrainNode, RoundReport } from '../../src/node/node.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { startNodes } from './helpers.js'

describe('three nodes on 127.0.0.1', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 8,
    batchSize: 8,
    expectedPeers: 3,
    salt: 'e2e',
    collectTimeoutMs: 30_000,
    evalWindows: 16,
  })
  let nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('train two rounds and end with identical global weights and a lower held-out loss', async () => {
    nodes = await startNodes(genesis, 3)
    await Promise.all(nodes.map((n) => n.waitForPeers(3, 10_000)))
    const initialLoss = nodes[0].evaluate()
    const reports: RoundReport[][] = nodes.map(() => [])
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(nodes.map((n) => n.runRound()))
      for (const [i, r] of results.entries()) reports[i].push(r)
    }
    const hashes = nodes.map((n) => n.globalWeightsHash)
    expect(new Set(hashes).size).toBe(1)
    for (const r of reports.flat()) {
      expect(r.contributors).toBe(3)
      expect(r.deadlineHit).toBe(false)
    }
    expect(reports[0][1].evalLoss).toBeLessThan(initialLoss)
  })
})
