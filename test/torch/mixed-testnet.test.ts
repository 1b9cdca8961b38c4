import { afterAll, describe, expect, it } from 'vitest'
import type { DtrainNode, RoundReport } from '../../src/node/node.js'
import { expectPeers, startNodes, threeNodeGenesis } from '../e2e/helpers.js'
import { requireTorch } from './helpers.js'

// Issue 16: peers on different frameworks train one run. Local training differs in float
// rounding between backends (SPEC.md 7.5), but agreement is on the aggregate of the deltas,
// computed in TypeScript in binary32 (SPEC.md 8, 9): every node must reach the same weights.
describe('a mixed testnet: two tfjs-wasm nodes and one torch-cpu node', () => {
  let nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('agrees on every round hash, aggregates all three deltas, and the held-out loss falls', async () => {
    await requireTorch()
    const genesis = threeNodeGenesis('e2e-mixed')
    nodes = await startNodes(genesis, 3, ['wasm', 'wasm', 'torch-cpu'])
    expect(nodes.map((n) => n.backend.backend)).toEqual(['wasm', 'wasm', 'torch-cpu'])
    await expectPeers(nodes, 3)
    const initialLoss = await nodes[0].evaluate()
    const torchInitialLoss = await nodes[2].evaluate()
    expect(Math.abs(torchInitialLoss - initialLoss)).toBeLessThan(1e-4 * initialLoss)
    const reports: RoundReport[][] = []
    for (let round = 0; round < 3; round++) {
      reports.push(await Promise.all(nodes.map((n) => n.runRound())))
      const hashes = reports[round].map((r) => r.weightsHash)
      expect(new Set(hashes).size, `round ${round}: ${hashes.join(' ')}`).toBe(1)
      for (const r of reports[round]) expect(r.contributors).toBe(3)
    }
    expect(reports[2][0].evalLoss).toBeLessThan(initialLoss)
    // the torch node evaluates the same weights to the same loss, within float rounding
    expect(Math.abs(reports[2][2].evalLoss - reports[2][0].evalLoss)).toBeLessThan(1e-3)
  })
})
