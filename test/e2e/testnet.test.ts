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

describe('three nodes with compressed deltas', () => {
  let nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('agree bit for bit and learn with top-k deltas and error feedback', async () => {
    const genesis = defaultGenesis({
      preset: 'tiny',
      dataset: 'synthetic',
      innerSteps: 8,
      batchSize: 8,
      expectedPeers: 3,
      salt: 'e2e-topk',
      encoding: 'top-k',
      errorFeedback: true,
      collectTimeoutMs: 30_000,
      evalWindows: 16,
    })
    nodes = await startNodes(genesis, 3)
    await Promise.all(nodes.map((n) => n.waitForPeers(3, 10_000)))
    const initialLoss = nodes[0].evaluate()
    let last: RoundReport[] = []
    for (let round = 0; round < 3; round++) last = await Promise.all(nodes.map((n) => n.runRound()))
    expect(new Set(nodes.map((n) => n.globalWeightsHash)).size).toBe(1)
    for (const r of last) expect(r.contributors).toBe(3)
    // top-k with k = 1 % of 15,648 parameters: 156 coordinates, 12 + 8 * 156 bytes a delta.
    expect(last[0].bytesReceived).toBeLessThan(3 * 2 * (12 + 8 * 156) + 1000)
    expect(last[0].evalLoss).toBeLessThan(initialLoss)
  })
})
