// A node that trains in worker threads (both cores) takes part in rounds like one that trains on
// its main thread; its local training is bit-identical to the main-thread path
// (test/unit/model.test.ts), so the two produce the same delta from the same start.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/log.js'
import { DtrainNode } from '../../src/node/node.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { expectPeers } from './helpers.js'

describe('training workers in a live node', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 4,
    batchSize: 4,
    expectedPeers: 2,
    minCollectMs: 300,
    collectTimeoutMs: 5000,
    evalWindows: 4,
    salt: 'workers',
  })
  const nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('a node with two training workers and one without agree round after round', async () => {
    const create = async (trainWorkers: number, bootstrap?: string[]) =>
      DtrainNode.create({
        genesis,
        privateKey: await generateKeyPair('Ed25519'),
        bootstrap,
        logger: silentLogger(),
        trainWorkers,
      })
    nodes.push(await create(2))
    nodes.push(await create(1, nodes[0].addresses()))
    await expectPeers(nodes, 2)
    for (let r = 0; r < 2; r++) {
      const reports = await Promise.all(nodes.map((n) => n.runRound()))
      for (const report of reports) expect(report.contributors).toBe(2)
      expect(reports[0].weightsHash).toBe(reports[1].weightsHash)
      expect(reports[0].trainLoss).toBeGreaterThan(0)
    }
  })
})
