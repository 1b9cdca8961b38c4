// The TensorFlow.js trainer behind the trainer seam (trainer.ts): InnerTrainer does the work on the
// process's tfjs backend (backend.ts), optionally with a pool of worker threads for micro-batches.
import type { BatchSeed } from './batches.js'
import type { InnerTrainer } from './inner-loop.js'
import type {
  InnerLoopOptions,
  InnerRoundResult,
  OptimizerState,
  Trainer,
  TrainingSnapshot,
} from './trainer.js'
import type { GradientPool } from './worker-pool.js'

export class TfjsTrainer implements Trainer {
  readonly precision = 'fp32'
  constructor(
    readonly inner: InnerTrainer,
    readonly backend: string,
    private readonly pool?: GradientPool,
  ) {}

  get parameterCount(): number {
    return this.inner.parameterCount
  }

  trainRound(
    globalWeights: Float32Array,
    seed: BatchSeed,
    options: InnerLoopOptions = {},
  ): Promise<InnerRoundResult> {
    return this.inner.trainRound(globalWeights, seed, { ...options, pool: options.pool ?? this.pool })
  }

  async replay(start: TrainingSnapshot, toStep: number, seed: BatchSeed): Promise<TrainingSnapshot> {
    return this.inner.replay(start, toStep, seed)
  }

  async evaluate(weights: Float32Array, positions: readonly number[], batchSize: number): Promise<number> {
    return this.inner.evaluate(weights, positions, batchSize)
  }

  async accuracy(
    weights: Float32Array,
    positions: readonly number[],
    batchSize: number,
  ): Promise<number | null> {
    return this.inner.accuracy(weights, positions, batchSize)
  }

  async optimizerState(): Promise<OptimizerState> {
    return this.inner.optimizerState()
  }

  async setOptimizerState(state: OptimizerState): Promise<void> {
    this.inner.setOptimizerState(state)
  }

  async close(): Promise<void> {
    await this.pool?.close()
    this.inner.dispose()
  }
}
