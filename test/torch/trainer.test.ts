import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { weightsHash } from '../../src/crypto/hash.js'
import { encodeCheckpoint } from '../../src/proof/checkpoint.js'
import { selectBackend } from '../../src/train/backend.js'
import { loadDataset } from '../../src/train/dataset.js'
import { InnerTrainer } from '../../src/train/inner-loop.js'
import { initialWeights } from '../../src/train/parameters.js'
import type { TorchProbe } from '../../src/train/python.js'
import { TorchTrainer } from '../../src/train/torch-trainer.js'
import { OP, type TorchWorker, TorchWorkerError } from '../../src/train/torch-worker.js'
import type { TrainingSnapshot, WrittenCheckpoint } from '../../src/train/trainer.js'
import {
  defaultGenesis,
  type Genesis,
  type ModelPreset,
  parseGenesis,
  runIdOf,
} from '../../src/wire/genesis.js'
import { requireTorch } from './helpers.js'

let probe: TorchProbe
const open: TorchTrainer[] = []
beforeAll(async () => {
  probe = await requireTorch()
  await selectBackend('wasm')
})
afterAll(async () => {
  await Promise.all(open.map((t) => t.close()))
})

async function torchTrainer(genesis: Genesis): Promise<TorchTrainer> {
  const trainer = await TorchTrainer.create(genesis, loadDataset(genesis), {
    probe,
    device: 'cpu',
    threads: 1,
  })
  open.push(trainer)
  return trainer
}

function genesisFor(preset: ModelPreset, innerSteps = 1): Genesis {
  return defaultGenesis({
    preset,
    dataset: 'synthetic',
    innerSteps,
    salt: `torch-${preset}`,
    checkpointInterval: 1,
  })
}

const seedOf = (genesis: Genesis, weights: Float32Array) => ({
  runId: runIdOf(genesis),
  baseHash: weightsHash(weights),
  peerId: new Uint8Array([7]),
  round: 0,
})

/** A process's resident memory (VmRSS), in bytes. */
const residentBytes = (pid: number): number =>
  1024 * Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])

const norm = (a: Float32Array, b?: Float32Array) => {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += (a[i] - (b ? b[i] : 0)) ** 2
  return Math.sqrt(sum)
}

describe('the PyTorch trainer', () => {
  // The same model, optimizer and batches on two frameworks: one step's update, compared.
  // Measured relative distances are printed; the bound is 1e-3 of the update (float32 rounding in
  // another order, and the GELU and softmax of another library).
  for (const preset of ['tiny', 'gpt-tiny', 'mlp'] as const) {
    it(`takes the same AdamW step as tfjs-wasm from the same weights and batch (${preset})`, async () => {
      const genesis = genesisFor(preset, 3)
      const w0 = initialWeights(genesis.model)
      const seed = seedOf(genesis, w0)
      const wasm = new InnerTrainer(genesis, loadDataset(genesis))
      const expected = await wasm.trainRound(w0, seed)
      const torch = await torchTrainer(genesis)
      const got = await torch.trainRound(w0, seed)
      const relative = norm(got.weights, expected.weights) / norm(expected.weights, w0)
      console.log(`${preset}: 3 steps, torch-cpu vs wasm, relative distance ${relative.toExponential(2)}`)
      expect(got.weights.length).toBe(w0.length)
      expect(relative).toBeLessThan(1e-3)
      expect(Math.abs(got.meanLoss - expected.meanLoss)).toBeLessThan(1e-3 * expected.meanLoss)
      const [a, b] = [await torch.optimizerState(), wasm.optimizerState()]
      expect(a.step).toBe(3)
      expect(norm(a.firstMoment, b.firstMoment) / norm(b.firstMoment)).toBeLessThan(1e-3)
      const positions = [0, 5, 9]
      const heldOut = await torch.evaluate(got.weights, positions, 2)
      expect(Math.abs(heldOut - wasm.evaluate(got.weights, positions, 2))).toBeLessThan(1e-4 * heldOut)
      wasm.dispose()
    })
  }

  it('replays a segment of its own round bit for bit (SPEC.md 17.4)', async () => {
    const genesis = genesisFor('gpt-tiny', 4)
    const trainer = await torchTrainer(genesis)
    const w0 = initialWeights(genesis.model)
    const seed = seedOf(genesis, w0)
    const checkpoints: TrainingSnapshot[] = []
    const w0Copy = Float32Array.from(w0)
    await trainer.trainRound(w0, seed, { checkpointEvery: 2, onCheckpoint: (s) => checkpoints.push(s) })
    expect(checkpoints.map((c) => c.localStep)).toEqual([0, 2, 4])
    // the first checkpoint holds the global weights themselves (no copy of 4 d bytes), unchanged
    expect(checkpoints[0].weights).toBe(w0)
    expect(norm(w0, w0Copy)).toBe(0)
    const replayed = await trainer.replay(checkpoints[1], 4, seed)
    expect(replayed.optimizer.step).toBe(checkpoints[2].optimizer.step)
    expect(norm(replayed.weights, checkpoints[2].weights)).toBe(0)
    expect(norm(replayed.optimizer.secondMoment, checkpoints[2].optimizer.secondMoment)).toBe(0)
  })

  it('writes its checkpoints to files itself, byte for byte what the node encodes from snapshots (issue 17)', async () => {
    const genesis = genesisFor('tiny', 4)
    const trainer = await torchTrainer(genesis)
    const w0 = initialWeights(genesis.model)
    const seed = seedOf(genesis, w0)
    // the same round twice from the same optimizer state: as snapshots, then written by the worker
    const start = await trainer.optimizerState()
    const snapshots: TrainingSnapshot[] = []
    await trainer.trainRound(w0, seed, { checkpointEvery: 2, onCheckpoint: (s) => snapshots.push(s) })
    await trainer.setOptimizerState(start)
    const dir = mkdtempSync(join(tmpdir(), 'dtrain-torch-checkpoints-'))
    try {
      const written: WrittenCheckpoint[] = []
      const result = await trainer.trainRound(w0, seed, {
        checkpointEvery: 2,
        onCheckpoint: () => {
          throw new Error('a written checkpoint is not a snapshot')
        },
        checkpointFile: async (i) => join(dir, `checkpoint-${i}`),
        onWrittenCheckpoint: (c) => written.push(c),
      })
      expect(written.map((c) => c.localStep)).toEqual([0, 2, 4])
      expect(written[0].weights).toBe(w0)
      expect(result.weights).toBe(written[2].weights)
      for (const [i, c] of written.entries()) {
        const bytes = readFileSync(c.path)
        expect(Buffer.compare(bytes, encodeCheckpoint(snapshots[i]))).toBe(0)
        expect(norm(c.weights, snapshots[i].weights)).toBe(0)
        expect(statSync(c.path).mode & 0o777).toBe(0o600)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reads the moments by range, the same values as the whole state, and refuses a range outside them', async () => {
    const genesis = genesisFor('tiny', 3)
    const trainer = await torchTrainer(genesis)
    const w0 = initialWeights(genesis.model)
    await trainer.trainRound(w0, seedOf(genesis, w0))
    const whole = await trainer.optimizerState()
    const reader = trainer.optimizerReader()
    expect(reader.step).toBe(whole.step)
    expect(reader.length).toBe(w0.length)
    const d = w0.length
    for (const [moment, values] of [
      [0, whole.firstMoment],
      [1, whole.secondMoment],
    ] as const) {
      const cut = Math.floor(d / 3)
      const parts = [await reader.read(moment, 0, cut), await reader.read(moment, cut, d)]
      expect(parts[0].length + parts[1].length).toBe(d)
      expect(norm(parts[0], values.subarray(0, cut)) + norm(parts[1], values.subarray(cut))).toBe(0)
      expect(norm(values)).toBeGreaterThan(0) // trained: the moments are not zero
    }
    await expect(reader.read(0, 0, d + 1)).rejects.toThrow(/range \[0, \d+\) of \d+ parameters/)
    // the worker answers on after a refused request
    expect((await reader.read(1, d - 2, d)).length).toBe(2)
  })

  it('frees its weights once it returned the trained ones, and trains on bit for bit from weights set again (issue 17)', async () => {
    // 784-16384-10: 13 M parameters, 52 MB of weights: more than the 32 MiB above which glibc
    // always maps a block of its own and unmaps it when it is freed (smaller ones may stay in its heap)
    const base = genesisFor('mlp', 2)
    const genesis = parseGenesis({ ...base, model: { ...base.model, hiddenSizes: [16384] } })
    const w0 = initialWeights(genesis.model)
    const d = w0.length
    const [releasing, keeping] = [await torchTrainer(genesis), await torchTrainer(genesis)]
    const released = await releasing.trainRound(w0, seedOf(genesis, w0), { releaseWeights: true })
    const kept = await keeping.trainRound(w0, seedOf(genesis, w0))
    expect(norm(released.weights, kept.weights)).toBe(0)
    const rssReleased = residentBytes(releasing.workerPid!)
    // a request that reads the weights is refused, named, while they are released
    const worker = (releasing as unknown as { worker: TorchWorker }).worker
    const refused = await worker.request(OP.getWeights).then(
      (bytes) => `answered with ${bytes.length} bytes`,
      (err: Error) => err.message,
    )
    expect(refused).toMatch(/get weights needs the weights, which were released \(op 11\): set weights first/)
    // evaluating sets them again: the worker holds 4 d bytes more
    const positions = [0, 1, 2, 3]
    const losses = [
      await releasing.evaluate(released.weights, positions, 4),
      await keeping.evaluate(kept.weights, positions, 4),
    ]
    expect(losses[0]).toBe(losses[1])
    const grown = residentBytes(releasing.workerPid!) - rssReleased
    console.log(
      `worker resident memory: +${(grown / 2 ** 20).toFixed(1)} MiB once weights of ${((4 * d) / 2 ** 20).toFixed(1)} MiB are set again`,
    )
    expect(grown).toBeGreaterThan(0.9 * 4 * d)
    // the next round trains from weights set again as from weights never released
    const seed1 = { ...seedOf(genesis, released.weights), round: 1 }
    const [a, b] = [
      await releasing.trainRound(released.weights, seed1, { releaseWeights: true }),
      await keeping.trainRound(kept.weights, seed1),
    ]
    expect(norm(a.weights, b.weights)).toBe(0)
    expect(norm(a.weights, released.weights)).toBeGreaterThan(0)
  })

  it("reports the worker's failed checkpoint write as the node's own would fail: ENOSPC, with the path", async () => {
    const genesis = genesisFor('tiny', 2)
    const trainer = await torchTrainer(genesis)
    const w0 = initialWeights(genesis.model)
    const err = await trainer
      .trainRound(w0, seedOf(genesis, w0), {
        checkpointFile: async () => '/dev/full', // every write there fails: no space left
        onWrittenCheckpoint: () => {},
      })
      .catch((e: unknown) => e as NodeJS.ErrnoException)
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'ENOSPC', path: '/dev/full' })
    expect((err as Error).message).toMatch(/writing \/dev\/full: .*No space left on device/)
  })

  it('fails a pending step with the worker exit status when the worker dies, never hanging', async () => {
    const genesis = genesisFor('tiny', 50)
    const trainer = await torchTrainer(genesis)
    const w0 = initialWeights(genesis.model)
    const training = trainer.trainRound(w0, seedOf(genesis, w0), {
      yieldEvery: async () => {
        process.kill(trainer.workerPid!, 'SIGKILL')
      },
    })
    const err = await training.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TorchWorkerError)
    expect((err as Error).message).toMatch(/was killed by SIGKILL/)
    // and every later request fails at once, with the same reason
    await expect(trainer.optimizerState()).rejects.toThrow(/was killed by SIGKILL/)
  })
})
