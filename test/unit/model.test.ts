import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { weightsHash } from '../../src/crypto/hash.js'
import { selectBackend } from '../../src/train/backend.js'
import { evalOffsets, trainingBatch } from '../../src/train/batches.js'
import { detokenize, loadCorpus, tokenize } from '../../src/train/corpus.js'
import { InnerTrainer, type TrainingSnapshot } from '../../src/train/inner-loop.js'
import { initialWeights } from '../../src/train/parameters.js'
import { GradientPool } from '../../src/train/worker-pool.js'
import { defaultGenesis, runIdOf, transformerOf } from '../../src/wire/genesis.js'

const genesis = defaultGenesis({
  preset: 'tiny',
  dataset: 'synthetic',
  innerSteps: 5,
  batchSize: 8,
  salt: 'model-test',
})
const corpus = loadCorpus(genesis.dataset)

beforeAll(async () => {
  await selectBackend('auto', { tfjsOnly: true })
})

describe('character vocabulary', () => {
  it('maps printable ASCII and newlines both ways, and everything else to a fixed token', () => {
    const text = 'Call me Ishmael.\n~ {x}'
    expect(detokenize(tokenize(text))).toBe(text)
    expect(detokenize(tokenize('a\u2014b\u00e9'))).toBe('a-b?')
    expect(Math.max(...tokenize('\n ~'))).toBe(95)
  })
})

describe('deterministic batches', () => {
  it('are a function of (run, base weights, peer, round, step) only', () => {
    const seed = {
      runId: runIdOf(genesis),
      baseHash: new Uint8Array(32).fill(7),
      peerId: new Uint8Array([1, 2]),
      round: 3,
    }
    const a = trainingBatch(corpus.train, seed, 4, 32, 8)
    const b = trainingBatch(corpus.train, { ...seed }, 4, 32, 8)
    expect(a.offsets).toEqual(b.offsets)
    expect(trainingBatch(corpus.train, seed, 5, 32, 8).offsets).not.toEqual(a.offsets)
    expect(
      trainingBatch(corpus.train, { ...seed, peerId: new Uint8Array([1, 3]) }, 4, 32, 8).offsets,
    ).not.toEqual(a.offsets)
    // The base hash is part of the seed: nobody can know a round's batches before its base weights.
    expect(
      trainingBatch(corpus.train, { ...seed, baseHash: new Uint8Array(32).fill(8) }, 4, 32, 8).offsets,
    ).not.toEqual(a.offsets)
    expect([...a.targets.subarray(0, 31)]).toEqual([...a.inputs.subarray(1, 32)])
  })
})

describe('char transformer and inner loop', () => {
  it('loads and reads back weights bit for bit', () => {
    const trainer = new InnerTrainer(genesis, corpus)
    const weights = initialWeights(genesis.model)
    trainer.model.setWeights(weights)
    expect(Buffer.from(trainer.model.getWeights().buffer).equals(Buffer.from(weights.buffer))).toBe(true)
    trainer.dispose()
  })

  it('starts near the uniform loss ln(96) and lowers its held-out loss by training', async () => {
    const trainer = new InnerTrainer(genesis, corpus)
    const runId = runIdOf(genesis)
    const offsets = evalOffsets(
      runId,
      corpus.heldOut.length,
      transformerOf(genesis, 'test').contextLength,
      16,
    )
    const w0 = initialWeights(genesis.model)
    const initial = trainer.evaluate(w0, offsets, 8)
    expect(Math.abs(initial - Math.log(96))).toBeLessThan(0.15)
    let weights = w0
    for (let round = 0; round < 3; round++) {
      const baseHash = weightsHash(weights)
      weights = (await trainer.trainRound(weights, { runId, baseHash, peerId: new Uint8Array([1]), round }))
        .weights
    }
    expect(trainer.evaluate(weights, offsets, 8)).toBeLessThan(initial - 0.5)
    trainer.dispose()
  })

  it('does not leak tensors across rounds', async () => {
    const trainer = new InnerTrainer(genesis, corpus)
    const w0 = initialWeights(genesis.model)
    const seed = { runId: runIdOf(genesis), baseHash: weightsHash(w0), peerId: new Uint8Array([1]) }
    await trainer.trainRound(w0, { ...seed, round: 0 })
    const before = tf.memory().numTensors
    // checkpoints and replays must not leak either
    const snapshots: TrainingSnapshot[] = []
    for (let round = 1; round < 4; round++)
      await trainer.trainRound(
        w0,
        { ...seed, round },
        { checkpointEvery: 2, onCheckpoint: (s) => snapshots.push(s) },
      )
    trainer.replay(snapshots[0], 2, { ...seed, round: 1 })
    trainer.evaluate(w0, [0, 10, 20], 2)
    expect(tf.memory().numTensors).toBe(before)
    trainer.dispose()
  })
})

describe('micro-batches and training workers', () => {
  it('give bit-identical weights whether the micro-batches run in turn or in two worker threads', async () => {
    const g = defaultGenesis({
      preset: 'tiny',
      dataset: 'synthetic',
      innerSteps: 4,
      batchSize: 8,
      salt: 'workers',
    })
    expect(g.inner.microBatches).toBe(2)
    const w0 = initialWeights(g.model)
    const seed = { runId: runIdOf(g), baseHash: weightsHash(w0), peerId: new Uint8Array([1]), round: 0 }
    const alone = new InnerTrainer(g, corpus)
    const pooled = new InnerTrainer(g, corpus)
    const pool = await GradientPool.create(g.model, 'wasm', 2)
    try {
      const a = await alone.trainRound(w0, seed)
      const b = await pooled.trainRound(w0, seed, { pool })
      expect(weightsHash(b.weights)).toEqual(weightsHash(a.weights))
      expect(b.meanLoss).toBe(a.meanLoss)
      // and the optimizer state too, so the next round and any proof replay agree as well
      expect(pooled.optimizerState()).toEqual(alone.optimizerState())
    } finally {
      await pool.close()
      alone.dispose()
      pooled.dispose()
    }
  })
})
