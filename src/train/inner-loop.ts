// The inner loop (SPEC.md 7.5): H steps of AdamW (decoupled weight decay, Loshchilov & Hutter
// 2019) with linear warmup and global-norm gradient clipping, as in the DiLoCo recipe.
// The AdamW state stays on the node across rounds (DiLoCo keeps the inner optimizer state local).
import * as tf from '@tensorflow/tfjs'
import type { Genesis } from '../wire/genesis.js'
import type { Batch, BatchSeed } from './batches.js'
import { MlpClassifier } from './classifier.js'
import type { Corpus } from './corpus.js'
import { asDataset, type Dataset } from './dataset.js'
import type { FlatModel } from './flat-model.js'
import { createModel } from './model.js'
import { learningRate } from './schedule.js'
import {
  type InnerLoopOptions,
  type InnerRoundResult,
  type OptimizerState,
  runInnerLoop,
  stepBatch,
  type TrainingSnapshot,
} from './trainer.js'
import type { GradientPool } from './worker-pool.js'

export type AdamWConfig = Genesis['inner']['optimizer']

export type { InnerLoopOptions, InnerRoundResult, OptimizerState, TrainingSnapshot } from './trainer.js'

export class InnerTrainer {
  readonly model: FlatModel
  readonly data: Dataset
  private readonly firstMoment: tf.Variable[]
  private readonly secondMoment: tf.Variable[]
  private stepCount = 0

  /** `data`: the run's dataset, or a text corpus for a transformer run */
  constructor(
    private readonly genesis: Genesis,
    data: Dataset | Corpus,
  ) {
    this.data = asDataset(data, genesis)
    this.model = createModel(genesis.model)
    this.firstMoment = this.model.variables.map((v) => tf.variable(tf.zerosLike(v), false))
    this.secondMoment = this.model.variables.map((v) => tf.variable(tf.zerosLike(v), false))
  }

  get parameterCount(): number {
    return this.model.parameterCount
  }

  /** Trains `inner.steps` steps from `globalWeights` on this peer's batches of `round`. */
  trainRound(
    globalWeights: Float32Array,
    seed: BatchSeed,
    options: InnerLoopOptions = {},
  ): Promise<InnerRoundResult> {
    return runInnerLoop(
      {
        setWeights: (weights) => this.model.setWeights(weights),
        getWeights: () => this.model.getWeights(),
        step: (batch, { pool }) => (pool ? this.stepParallel(batch, pool) : this.step(batch)),
        snapshot: (localStep, weights) => this.snapshot(localStep, weights),
      },
      this.genesis,
      this.data,
      globalWeights,
      seed,
      options,
    )
  }

  /**
   * Replays local steps [fromStep, toStep) of a round from a snapshot, with the round's committed
   * batches (SPEC.md 17.4): what an auditor does. Leaves the trainer in the replayed state.
   */
  replay(start: TrainingSnapshot, toStep: number, seed: BatchSeed): TrainingSnapshot {
    this.model.setWeights(start.weights)
    this.setOptimizerState(start.optimizer)
    for (let step = start.localStep; step < toStep; step++) this.step(this.trainingBatch(seed, step))
    return this.snapshot(toStep)
  }

  /** The batch of a step (SPEC.md 7.5). */
  trainingBatch(seed: BatchSeed, step: number): Batch {
    return stepBatch(this.genesis, this.data, seed, step)
  }

  /** Tokens a sample trains on (a window's contextLength), 1 for an example: tokens/s counts samples then. */
  get tokensPerSample(): number {
    return Math.max(1, this.data.span)
  }

  /** The AdamW moments (flattened in the parameter layout) and step counter. */
  optimizerState(): OptimizerState {
    return {
      firstMoment: flatten(this.firstMoment, this.parameterCount),
      secondMoment: flatten(this.secondMoment, this.parameterCount),
      step: this.stepCount,
    }
  }

  setOptimizerState(state: OptimizerState): void {
    if (state.firstMoment.length !== this.parameterCount || state.secondMoment.length !== this.parameterCount)
      throw new RangeError(`optimizer state of ${state.firstMoment.length} values for ${this.parameterCount}`)
    unflatten(this.firstMoment, state.firstMoment)
    unflatten(this.secondMoment, state.secondMoment)
    this.stepCount = state.step
  }

  private snapshot(localStep: number, weights?: Float32Array): TrainingSnapshot {
    return {
      localStep,
      weights: weights ?? this.model.getWeights(),
      optimizer: this.optimizerState(),
    }
  }

  /**
   * One AdamW step on a batch; returns the batch loss before the update. The gradient is the mean
   * of the gradients of `inner.microBatches` equal, contiguous micro-batches, summed in order in
   * binary32 (SPEC.md 7.5): the same result whether they are computed here one after the other or
   * by a pool of workers in parallel (stepParallel).
   */
  step(batch: Batch): number {
    const result = this.gradient(batch)
    this.applyGradient(result.gradient)
    return result.loss
  }

  /** step() with the micro-batches computed by `pool` in parallel; bit-identical to step(). */
  async stepParallel(batch: Batch, pool: GradientPool): Promise<number> {
    const parts = microBatches(batch, this.genesis.inner.microBatches)
    const result = meanGradient(await pool.gradients(this.model.getWeights(), parts))
    this.applyGradient(result.gradient)
    return result.loss
  }

  /** The loss and gradient of a batch at the current weights, without a step (as step() takes it). */
  gradient(batch: Batch): { loss: number; gradient: Float32Array } {
    const parts = microBatches(batch, this.genesis.inner.microBatches)
    return meanGradient(parts.map((p) => this.model.lossAndGradient(p.inputs, p.targets)))
  }

  /**
   * Global-norm clipping and the AdamW update (decoupled decay on the matrices) from a gradient:
   * one optimizer step, also for a gradient averaged over several workers (synchronous training).
   */
  applyGradient(flat: Float32Array): void {
    const cfg = this.genesis.inner.optimizer
    this.stepCount++
    const t = this.stepCount
    const lr = learningRate(cfg, t)
    tf.tidy(() => {
      let offset = 0
      const gradList = this.model.variables.map((v) => {
        const g = tf.tensor(flat.subarray(offset, offset + v.size), v.shape, 'float32')
        offset += v.size
        return g
      })
      const norm = tf.sqrt(tf.addN(gradList.map((g) => tf.sum(tf.square(g)))))
      const clip = tf.minimum(1, tf.div(cfg.gradClipNorm, tf.add(norm, 1e-6)))
      const biasCorrection1 = 1 - cfg.beta1 ** t
      const biasCorrection2 = 1 - cfg.beta2 ** t
      this.model.variables.forEach((variable, i) => {
        const g = tf.mul(gradList[i], clip)
        const m = tf.add(tf.mul(this.firstMoment[i], cfg.beta1), tf.mul(g, 1 - cfg.beta1))
        const v = tf.add(tf.mul(this.secondMoment[i], cfg.beta2), tf.mul(tf.square(g), 1 - cfg.beta2))
        this.firstMoment[i].assign(m)
        this.secondMoment[i].assign(v)
        const update = tf.div(
          tf.div(m, biasCorrection1),
          tf.add(tf.sqrt(tf.div(v, biasCorrection2)), cfg.epsilon),
        )
        const decayed = this.model.layout[i].decay ? tf.mul(variable, 1 - lr * cfg.weightDecay) : variable
        variable.assign(tf.sub(decayed, tf.mul(update, lr)))
      })
    })
  }

  /** Mean held-out loss (nats per character, or per example) of `weights` at the given positions. */
  evaluate(weights: Float32Array, heldOutOffsets: readonly number[], batchSize: number): number {
    this.model.setWeights(weights)
    let weighted = 0
    for (let start = 0; start < heldOutOffsets.length; start += batchSize) {
      const offsets = heldOutOffsets.slice(start, start + batchSize)
      const batch = this.data.batch('heldOut', offsets)
      const loss = this.model.loss(batch.inputs, batch.targets)
      weighted += loss.dataSync()[0] * offsets.length
      loss.dispose()
    }
    return weighted / heldOutOffsets.length
  }

  /** A classifier's held-out accuracy (fraction right) at the given positions; null for a language model. */
  accuracy(weights: Float32Array, heldOutOffsets: readonly number[], batchSize: number): number | null {
    if (!(this.model instanceof MlpClassifier)) return null
    this.model.setWeights(weights)
    let right = 0
    for (let start = 0; start < heldOutOffsets.length; start += batchSize) {
      const batch = this.data.batch('heldOut', heldOutOffsets.slice(start, start + batchSize))
      right += this.model.correct(batch.inputs, batch.targets)
    }
    return right / heldOutOffsets.length
  }

  dispose(): void {
    this.model.dispose()
    for (const v of [...this.firstMoment, ...this.secondMoment]) v.dispose()
  }
}

function flatten(variables: readonly tf.Variable[], count: number): Float32Array {
  const out = new Float32Array(count)
  let offset = 0
  for (const v of variables) {
    const values = v.dataSync() as Float32Array
    out.set(values, offset)
    offset += values.length
  }
  return out
}

function unflatten(variables: readonly tf.Variable[], values: Float32Array): void {
  let offset = 0
  for (const v of variables) {
    const size = v.size
    tf.tidy(() => v.assign(tf.tensor(values.subarray(offset, offset + size), v.shape, 'float32')))
    offset += size
  }
}

/**
 * The mean of gradients (and of their losses), summed in the given order in binary32 and divided
 * once (SPEC.md 7.5). Reuses the first gradient's array.
 */
export function meanGradient(results: ReadonlyArray<{ loss: number; gradient: Float32Array }>): {
  loss: number
  gradient: Float32Array
} {
  const gradient = results[0].gradient
  for (let k = 1; k < results.length; k++) {
    const next = results[k].gradient
    for (let i = 0; i < gradient.length; i++) gradient[i] = Math.fround(gradient[i] + next[i])
  }
  const scale = results.length
  if (scale > 1) for (let i = 0; i < gradient.length; i++) gradient[i] = Math.fround(gradient[i] / scale)
  return { loss: results.reduce((sum, r) => sum + r.loss, 0) / results.length, gradient }
}

/** The `count` equal, contiguous micro-batches of a batch (SPEC.md 7.5). */
export function microBatches(batch: Batch, count: number): Batch[] {
  const windows = batch.offsets.length
  if (windows % count !== 0)
    throw new RangeError(`a batch of ${windows} windows does not split into ${count}`)
  const inputs = batch.inputs.length / count
  const targets = batch.targets.length / count
  return Array.from({ length: count }, (_, k) => ({
    inputs: batch.inputs.subarray(k * inputs, (k + 1) * inputs),
    targets: batch.targets.subarray(k * targets, (k + 1) * targets),
    offsets: batch.offsets.slice((k * windows) / count, ((k + 1) * windows) / count),
  }))
}
