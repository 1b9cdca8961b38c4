// The inner loop (SPEC.md 7.5): H steps of AdamW (decoupled weight decay, Loshchilov & Hutter
// 2019) with linear warmup and global-norm gradient clipping, as in the DiLoCo recipe.
// The AdamW state stays on the node across rounds (DiLoCo keeps the inner optimizer state local).
import * as tf from '@tensorflow/tfjs'
import type { Genesis } from '../wire/genesis.js'
import { type Batch, trainingBatch, windowsAt } from './batches.js'
import type { Corpus } from './corpus.js'
import { CharTransformer } from './model.js'

export type AdamWConfig = Genesis['inner']['optimizer']

export interface InnerRoundResult {
  weights: Float32Array
  meanLoss: number
  steps: number
  samples: number
  tokensPerSecond: number
  seconds: number
}

export interface InnerLoopOptions {
  /** Called between steps so that the node's networking keeps running while it trains. */
  yieldEvery?: () => Promise<void>
  signal?: AbortSignal
}

export class InnerTrainer {
  readonly model: CharTransformer
  private readonly firstMoment: tf.Variable[]
  private readonly secondMoment: tf.Variable[]
  private stepCount = 0

  constructor(
    private readonly genesis: Genesis,
    private readonly corpus: Corpus,
  ) {
    this.model = new CharTransformer(genesis.model)
    this.firstMoment = this.model.variables.map((v) => tf.variable(tf.zerosLike(v), false))
    this.secondMoment = this.model.variables.map((v) => tf.variable(tf.zerosLike(v), false))
  }

  get parameterCount(): number {
    return this.model.parameterCount
  }

  /** Trains `inner.steps` steps from `globalWeights` on this peer's batches of `round`. */
  async trainRound(
    globalWeights: Float32Array,
    seed: { runId: Uint8Array; peerId: Uint8Array; round: number },
    options: InnerLoopOptions = {},
  ): Promise<InnerRoundResult> {
    const { steps, batchSize } = this.genesis.inner
    const context = this.genesis.model.contextLength
    const started = performance.now()
    this.model.setWeights(globalWeights)
    let lossSum = 0
    for (let step = 0; step < steps; step++) {
      options.signal?.throwIfAborted()
      const batch = trainingBatch(this.corpus.train, { ...seed, step }, context, batchSize)
      lossSum += this.step(batch)
      if (options.yieldEvery) await options.yieldEvery()
    }
    const seconds = (performance.now() - started) / 1000
    return {
      weights: this.model.getWeights(),
      meanLoss: lossSum / steps,
      steps,
      samples: steps * batchSize,
      tokensPerSecond: (steps * batchSize * context) / seconds,
      seconds,
    }
  }

  /** One AdamW step on a batch; returns the batch loss before the update. */
  step(batch: Batch): number {
    const cfg = this.genesis.inner.optimizer
    this.stepCount++
    const t = this.stepCount
    const lr = cfg.warmupSteps > 0 ? cfg.lr * Math.min(1, t / cfg.warmupSteps) : cfg.lr
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => this.model.loss(batch.inputs, batch.targets),
        this.model.variables,
      )
      const gradList = this.model.variables.map((v) => grads[v.name])
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
      return value
    })
    const value = loss.dataSync()[0]
    loss.dispose()
    return value
  }

  /** Mean held-out loss (nats per character) of `weights` on the given windows. */
  evaluate(weights: Float32Array, heldOutOffsets: readonly number[], batchSize: number): number {
    const context = this.genesis.model.contextLength
    this.model.setWeights(weights)
    let weighted = 0
    for (let start = 0; start < heldOutOffsets.length; start += batchSize) {
      const offsets = heldOutOffsets.slice(start, start + batchSize)
      const batch = windowsAt(this.corpus.heldOut, offsets, context)
      const loss = this.model.loss(batch.inputs, batch.targets)
      weighted += loss.dataSync()[0] * offsets.length
      loss.dispose()
    }
    return weighted / heldOutOffsets.length
  }

  dispose(): void {
    this.model.dispose()
    for (const v of [...this.firstMoment, ...this.secondMoment]) v.dispose()
  }
}
