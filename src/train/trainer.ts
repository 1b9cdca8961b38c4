// The trainer seam (issue 16): what a node asks of whatever trains its model. TensorFlow.js
// (tfjs-trainer.ts) and PyTorch (torch-trainer.ts) implement it. Batches, seeds, the learning-rate
// schedule, checkpoints and everything after the inner loop stay in TypeScript, whatever trains:
// a trainer is given the global weights and the round's committed batches (SPEC.md 7.5), and
// returns weights, losses and the AdamW state.
import type { Genesis } from '../wire/genesis.js'
import { type Batch, type BatchSeed, trainingOffsets } from './batches.js'
import type { Dataset } from './dataset.js'
import type { GradientPool } from './worker-pool.js'

export interface InnerRoundResult {
  weights: Float32Array
  meanLoss: number
  steps: number
  samples: number
  tokensPerSecond: number
  seconds: number
}

/** The AdamW state a step starts from: moments in the parameter layout and the step counter. */
export interface OptimizerState {
  firstMoment: Float32Array
  secondMoment: Float32Array
  /** AdamW's t: steps taken so far on this node (bias correction and warmup use t + 1 next) */
  step: number
}

/** Weights and optimizer state after `localStep` steps of a round: a proof-of-learning checkpoint. */
export interface TrainingSnapshot {
  localStep: number
  weights: Float32Array
  optimizer: OptimizerState
}

/**
 * A checkpoint a trainer wrote to a file itself (StepEngine.writeCheckpoint): the whole checkpoint
 * of SPEC.md 17.1 is in `path` (not synced yet), and only its weights reach the node (issue 17: the
 * moments, 8 d bytes, stay in the trainer).
 */
export interface WrittenCheckpoint {
  localStep: number
  weights: Float32Array
  path: string
}

export interface InnerLoopOptions {
  /** Called between steps so that the node's networking keeps running while it trains. */
  yieldEvery?: () => Promise<void>
  signal?: AbortSignal
  /**
   * Called with the state before the first step and after every `checkpointEvery`-th step and the
   * last step (SPEC.md 17.1).
   */
  onCheckpoint?: (snapshot: TrainingSnapshot) => void
  checkpointEvery?: number
  /**
   * Where checkpoint `index` of the round goes, for a trainer that writes its checkpoints itself
   * (the torch trainer): it then calls onWrittenCheckpoint, not onCheckpoint. Other trainers
   * ignore both.
   */
  checkpointFile?: (index: number) => Promise<string>
  onWrittenCheckpoint?: (checkpoint: WrittenCheckpoint) => void
  /** tfjs only: compute each step's micro-batches in these workers, in parallel (bit-identical results) */
  pool?: GradientPool
  /**
   * The trainer may let go of its own copy of the weights once it returned the trained ones: every
   * later use sets weights first (a large model's node, issue 17: the torch worker's 4 d bytes
   * while the node aggregates). Trainers that keep the weights in the node ignore it.
   */
  releaseWeights?: boolean
}

/** The AdamW state with its moments read by range: values [start, end) of the first (0) or second (1). */
export interface MomentReader {
  step: number
  /** values in each moment (the parameter count) */
  length: number
  read(moment: 0 | 1, start: number, end: number): Promise<Float32Array>
}

/** What a node, an auditor and the benchmarks ask of a trainer. */
export interface Trainer {
  /** the backend that trains: wasm, cpu, tensorflow, tensorflow-gpu, torch-cpu or torch-cuda */
  readonly backend: string
  /** bf16: the steps run under bf16 autocast (torch-cuda in a run that allows it); else fp32 */
  readonly precision: 'fp32' | 'bf16'
  readonly parameterCount: number
  /**
   * Trains `inner.steps` steps from `globalWeights` on this peer's batches of `seed.round`. The
   * checkpoint before the first step holds `globalWeights` themselves, not a copy (4 d bytes fewer
   * while a large model trains, issue 17): the caller must not change them while the round's
   * checkpoints are in use.
   */
  trainRound(
    globalWeights: Float32Array,
    seed: BatchSeed,
    options?: InnerLoopOptions,
  ): Promise<InnerRoundResult>
  /** Replays local steps [start.localStep, toStep) from a checkpoint (SPEC.md 17.4). */
  replay(start: TrainingSnapshot, toStep: number, seed: BatchSeed): Promise<TrainingSnapshot>
  /** Mean held-out loss of `weights` at these positions, in batches of `batchSize` (SPEC.md 7.6). */
  evaluate(weights: Float32Array, positions: readonly number[], batchSize: number): Promise<number>
  /** A classifier's held-out accuracy; null for a language model. */
  accuracy(weights: Float32Array, positions: readonly number[], batchSize: number): Promise<number | null>
  optimizerState(): Promise<OptimizerState>
  /**
   * The moments by range, where the trainer holds them outside the node (the torch worker): a
   * state write then never holds both (8 d bytes, issue 17). Absent: optimizerState.
   */
  optimizerReader?(): MomentReader
  setOptimizerState(state: OptimizerState): Promise<void>
  /** Frees the trainer (a worker process ends). */
  close(): Promise<void>
}

/** The batch of a step (SPEC.md 7.5). */
export function stepBatch(genesis: Genesis, data: Dataset, seed: BatchSeed, step: number): Batch {
  return data.batch(
    'train',
    trainingOffsets(data.trainLength, seed, step, data.span, genesis.inner.batchSize),
  )
}

/** One trainer's steps, as the shared round loop below drives them. */
export interface StepEngine {
  setWeights(weights: Float32Array): Promise<void> | void
  getWeights(): Promise<Float32Array> | Float32Array
  /** one AdamW step on the batch; the mean loss before the update */
  step(batch: Batch, options: InnerLoopOptions): Promise<number> | number
  /** `weights` given: the snapshot holds them as they are (no copy) */
  snapshot(localStep: number, weights?: Float32Array): Promise<TrainingSnapshot> | TrainingSnapshot
  /** The checkpoint to `path` by the trainer itself, the moments never in the node (optional). */
  writeCheckpoint?(localStep: number, path: string, weights?: Float32Array): Promise<WrittenCheckpoint>
  /** Frees the trainer's own copy of the weights until the next setWeights (optional). */
  releaseWeights?(): Promise<void>
}

/**
 * The inner loop of a round (SPEC.md 7.5, 17.1), the same for every trainer: H steps from the
 * global weights on the committed batches, a checkpoint before the first step, after every k-th
 * and after the last. The next step's batch is drawn while the current step runs.
 */
export async function runInnerLoop(
  engine: StepEngine,
  genesis: Genesis,
  data: Dataset,
  globalWeights: Float32Array,
  seed: BatchSeed,
  options: InnerLoopOptions,
): Promise<InnerRoundResult> {
  const { steps, batchSize } = genesis.inner
  const started = performance.now()
  await engine.setWeights(globalWeights)
  const every = options.checkpointEvery ?? steps
  const { checkpointFile, onWrittenCheckpoint, onCheckpoint } = options
  const write = engine.writeCheckpoint?.bind(engine)
  const writer =
    write && checkpointFile && onWrittenCheckpoint
      ? { write, file: checkpointFile, written: onWrittenCheckpoint }
      : undefined
  const checkpoints = writer !== undefined || onCheckpoint !== undefined
  let index = 0
  /** Takes checkpoint `localStep` (written by the trainer where it can) and returns its weights. */
  const checkpoint = async (localStep: number, weights?: Float32Array): Promise<Float32Array> => {
    if (writer) {
      const taken = await writer.write(localStep, await writer.file(index++), weights)
      writer.written(taken)
      return taken.weights
    }
    const snapshot = await engine.snapshot(localStep, weights)
    onCheckpoint!(snapshot)
    return snapshot.weights
  }
  if (checkpoints) await checkpoint(0, globalWeights)
  let lossSum = 0
  let batch = stepBatch(genesis, data, seed, 0)
  // the weights of a checkpoint after the last step are the round's: not fetched a second time
  let lastWeights: Float32Array | undefined
  for (let step = 0; step < steps; step++) {
    options.signal?.throwIfAborted()
    const pending = engine.step(batch, options)
    if (step + 1 < steps) batch = stepBatch(genesis, data, seed, step + 1)
    lossSum += await pending
    if (checkpoints && ((step + 1) % every === 0 || step + 1 === steps)) {
      const weights = await checkpoint(step + 1)
      if (step + 1 === steps) lastWeights = weights
    }
    if (options.yieldEvery) await options.yieldEvery()
  }
  const weights = lastWeights ?? (await engine.getWeights())
  if (options.releaseWeights) await engine.releaseWeights?.()
  const seconds = (performance.now() - started) / 1000
  const tokensPerSample = Math.max(1, data.span)
  return {
    weights,
    meanLoss: lossSum / steps,
    steps,
    samples: steps * batchSize,
    tokensPerSecond: (steps * batchSize * tokensPerSample) / seconds,
    seconds,
  }
}
