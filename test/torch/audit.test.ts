// Audits across frameworks (issue 16, SPEC.md 17.4, 17.6): proofs recorded by a tfjs-wasm node
// and by a torch-cpu node, every segment replayed on torch-cpu and on wasm. The measured worst
// relative distances are printed: they are the figures of SPEC.md 17.6.
import { afterAll, describe, expect, it } from 'vitest'
import { peerIdBytes } from '../../src/crypto/sign.js'
import type { DtrainNode } from '../../src/node/node.js'
import { audit } from '../../src/proof/audit.js'
import { StoreProofSource } from '../../src/proof/protocol.js'
import { selectBackend } from '../../src/train/backend.js'
import { createTrainer } from '../../src/train/create-trainer.js'
import { loadDataset } from '../../src/train/dataset.js'
import { defaultGenesis, type ModelPreset } from '../../src/wire/genesis.js'
import { expectPeers, startNodes } from '../e2e/helpers.js'
import { requireTorch } from './helpers.js'

describe('proofs audited across tfjs-wasm and torch-cpu', () => {
  let nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  for (const preset of ['tiny', 'gpt-tiny'] as ModelPreset[]) {
    it(`every honest segment replays within tau on either backend, and torch-cpu replays itself bit for bit (${preset})`, async () => {
      await requireTorch()
      const genesis = defaultGenesis({
        preset,
        dataset: 'synthetic',
        innerSteps: 8,
        batchSize: 4,
        expectedPeers: 2,
        collectTimeoutMs: 30_000,
        evalWindows: 4,
        checkpointInterval: 2,
        salt: `torch-audit-${preset}`,
      })
      nodes = await startNodes(genesis, 2, ['wasm', 'torch-cpu'])
      await expectPeers(nodes, 2)
      for (let r = 0; r < 2; r++) await Promise.all(nodes.map((n) => n.runRound()))
      expect(nodes[0].globalWeightsHash).toBe(nodes[1].globalWeightsHash)

      const data = loadDataset(genesis)
      const worst: Record<string, number> = {}
      // The nodes trained torch on 1 thread. Replays: torch-cpu on 1 thread (the same arithmetic),
      // on 2 threads (another machine's setting: OpenBLAS splits its sums otherwise), and wasm.
      const replayers = [
        { backend: 'torch-cpu', threads: 1 },
        { backend: 'torch-cpu', threads: 2 },
        { backend: 'wasm', threads: 1 },
      ] as const
      for (const { backend: replayBackend, threads } of replayers) {
        const trainer = await createTrainer(genesis, data, await selectBackend(replayBackend), {
          threads,
          deterministic: true,
        })
        for (const node of nodes) {
          for (const round of [0, 1]) {
            const report = await audit(new StoreProofSource(node.proofs), {
              genesis,
              data,
              round,
              peerId: peerIdBytes(node.peerId),
              segments: 1000, // every segment
              tolerance: 'auto',
              replayBackend,
              trainer,
            })
            expect(report.verdict, report.reasons.join('; ')).toBe('valid')
            expect(report.segments.length).toBe(4)
            const pair = `${node.backend.backend}->${replayBackend}${replayBackend === 'torch-cpu' ? ` x${threads}` : ''}`
            worst[pair] = Math.max(worst[pair] ?? 0, ...report.segments.map((s) => s.relativeDistance))
          }
        }
        await trainer.close()
      }
      console.log(`${preset}: worst D/U by (trained -> replayed): ${JSON.stringify(worst)}`)
      expect(worst['torch-cpu->torch-cpu x1']).toBe(0)
      expect(worst['wasm->wasm']).toBe(0)
      await Promise.all(nodes.map((n) => n.stop()))
      nodes = []
    })
  }
})
