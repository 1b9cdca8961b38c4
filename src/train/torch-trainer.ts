// The PyTorch trainer behind the trainer seam (trainer.ts): the model trains in a Python worker
// process (torch-worker.ts, docs/torch-worker.md) on the CPU or a CUDA device, while TypeScript
// keeps the batches, the step counter and the learning-rate schedule, so a torch node trains on
// exactly the committed batches (SPEC.md 7.5) and records the same checkpoints (17.1).
import { constants } from 'node:os'
import { float32LeBytes } from '../crypto/hash.js'
import { checkpointHeader } from '../proof/checkpoint.js'
import type { Genesis } from '../wire/genesis.js'
import type { Batch, BatchSeed } from './batches.js'
import type { Dataset } from './dataset.js'
import { checkMemory, type MemoryBudget } from './memory.js'
import { parameterLayout } from './parameters.js'
import type { TorchProbe } from './python.js'
import { learningRate } from './schedule.js'
import { OP, TorchWorker, TorchWorkerError, type WorkerInfo } from './torch-worker.js'
import {
  type InnerLoopOptions,
  type InnerRoundResult,
  type MomentReader,
  type OptimizerState,
  runInnerLoop,
  stepBatch,
  type Trainer,
  type TrainingSnapshot,
} from './trainer.js'

export type TorchDevice = 'cpu' | 'cuda'
export type Precision = 'fp32' | 'bf16'

export interface TorchTrainerOptions {
  probe: TorchProbe
  device: TorchDevice
  /** torch's intra-op threads; 0: torch's default (one per core) */
  threads?: number
  /** bf16 autocast on CUDA; fp32 weights and optimizer state either way */
  precision?: Precision
  /** deterministic algorithms where torch has them (audits on CUDA) */
  deterministic?: boolean
  /** lines the worker writes to stderr */
  onStderr?: (line: string) => void
  /** the memory the preflight counts on (tests of the preflight; a CPU trainer beside a node) */
  memory?: MemoryBudget
}

export class TorchTrainer implements Trainer {
  readonly backend: 'torch-cpu' | 'torch-cuda'
  readonly parameterCount: number
  readonly precision: Precision
  private stepCount = 0

  private constructor(
    private readonly genesis: Genesis,
    private readonly data: Dataset,
    private readonly worker: TorchWorker,
    readonly info: WorkerInfo,
    device: TorchDevice,
  ) {
    this.backend = device === 'cuda' ? 'torch-cuda' : 'torch-cpu'
    this.parameterCount = info.parameters
    this.precision = info.precision === 'bf16' ? 'bf16' : 'fp32'
  }

  /**
   * Starts the worker for `genesis`'s model on `device`. Before it does, checks that the model
   * fits the memory there is (memory.ts), and refuses with the estimate and a fix when it does not.
   */
  static async create(genesis: Genesis, data: Dataset, options: TorchTrainerOptions): Promise<TorchTrainer> {
    const precision = options.precision ?? 'fp32'
    if (precision === 'bf16' && options.device !== 'cuda')
      throw new RangeError('bf16 autocast needs torch-cuda; on torch-cpu the run trains in fp32')
    checkMemory(
      genesis,
      options.device,
      precision,
      options.memory ?? {
        freeBytes:
          options.device === 'cuda' ? (options.probe.cudaFree ?? options.probe.cudaMemory) : undefined,
        where:
          options.device === 'cuda' ? `the GPU (${options.probe.cudaName ?? 'CUDA device 0'})` : undefined,
      },
    )
    const env: Record<string, string> = {}
    // cuBLAS needs this before CUDA starts to run its deterministic paths (torch's reproducibility notes).
    if (options.deterministic) env.CUBLAS_WORKSPACE_CONFIG = ':4096:8'
    const { worker, info } = await TorchWorker.start({
      python: options.probe.python,
      env,
      onStderr: options.onStderr,
      init: {
        model: genesis.model,
        layout: parameterLayout(genesis.model),
        optimizer: genesis.inner.optimizer,
        microBatches: genesis.inner.microBatches,
        device: options.device,
        threads: options.threads ?? 0,
        precision,
        deterministic: options.deterministic ?? false,
      },
    })
    return new TorchTrainer(genesis, data, worker, info, options.device)
  }

  trainRound(
    globalWeights: Float32Array,
    seed: BatchSeed,
    options: InnerLoopOptions = {},
  ): Promise<InnerRoundResult> {
    return runInnerLoop(
      {
        setWeights: (weights) => this.setWeights(weights),
        getWeights: () => this.getWeights(),
        step: (batch) => this.step(batch),
        snapshot: (localStep, weights) => this.snapshot(localStep, weights),
        writeCheckpoint: (localStep, path, weights) => this.writeCheckpoint(localStep, path, weights),
        releaseWeights: async () => {
          await this.worker.request(OP.releaseWeights)
        },
      },
      this.genesis,
      this.data,
      globalWeights,
      seed,
      options,
    )
  }

  async replay(start: TrainingSnapshot, toStep: number, seed: BatchSeed): Promise<TrainingSnapshot> {
    await this.setWeights(start.weights)
    await this.setOptimizerState(start.optimizer)
    for (let step = start.localStep; step < toStep; step++)
      await this.step(stepBatch(this.genesis, this.data, seed, step))
    return this.snapshot(toStep)
  }

  async evaluate(weights: Float32Array, positions: readonly number[], batchSize: number): Promise<number> {
    let weighted = 0
    await this.forEachHeldOutBatch(weights, positions, batchSize, (loss, _correct, count) => {
      weighted += loss * count
    })
    return weighted / positions.length
  }

  async accuracy(
    weights: Float32Array,
    positions: readonly number[],
    batchSize: number,
  ): Promise<number | null> {
    if (this.genesis.model.kind !== 'mlp-classifier') return null
    let right = 0
    await this.forEachHeldOutBatch(weights, positions, batchSize, (_loss, correct) => {
      right += correct
    })
    return right / positions.length
  }

  async optimizerState(): Promise<OptimizerState> {
    const bytes = await this.worker.request(OP.getMoments)
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
    const d = this.parameterCount
    return {
      firstMoment: values.subarray(0, d),
      secondMoment: values.subarray(d, 2 * d),
      step: this.stepCount,
    }
  }

  /**
   * The AdamW moments read from the worker by range (values [start, end) of the first or second):
   * a large model's state write takes them a block at a time, not both at once (issue 17).
   */
  optimizerReader(): MomentReader {
    const step = this.stepCount
    return {
      step,
      length: this.parameterCount,
      read: async (moment, start, end) => {
        const request = new Uint8Array(20)
        const view = new DataView(request.buffer)
        view.setUint32(0, moment, true)
        view.setBigUint64(4, BigInt(start), true)
        view.setBigUint64(12, BigInt(end), true)
        const bytes = await this.worker.request(OP.getMomentRange, request)
        if (bytes.byteLength !== 4 * (end - start))
          throw new RangeError(`the worker sent ${bytes.byteLength} bytes for ${end - start} moment values`)
        // the reply is a buffer of its own, aligned (torch-worker.ts): its floats need no copy
        return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      },
    }
  }

  async setOptimizerState(state: OptimizerState): Promise<void> {
    const d = this.parameterCount
    if (state.firstMoment.length !== d || state.secondMoment.length !== d)
      throw new RangeError(`optimizer state of ${state.firstMoment.length} values for ${d}`)
    await this.worker.request(
      OP.setMoments,
      float32LeBytes(state.firstMoment),
      float32LeBytes(state.secondMoment),
    )
    this.stepCount = state.step
  }

  /** the worker process's id (a test kills it) */
  get workerPid(): number | undefined {
    return this.worker.pid
  }

  /** Peak and free device memory, as the worker sees them (CUDA only; {} on the CPU). */
  async memoryReport(): Promise<{ free?: number; total?: number; peak?: number }> {
    return JSON.parse(new TextDecoder().decode(await this.worker.request(OP.memory)))
  }

  close(): Promise<void> {
    return this.worker.close()
  }

  /** One AdamW step: the step counter and learning rate come from here (SPEC.md 7.5). */
  private async step(batch: Batch): Promise<number> {
    this.stepCount++
    const t = this.stepCount
    const samples = batch.offsets.length
    const header = new Uint8Array(16)
    const view = new DataView(header.buffer)
    view.setFloat64(0, learningRate(this.genesis.inner.optimizer, t), true)
    view.setUint32(8, t, true)
    view.setUint32(12, samples, true)
    const reply = await this.worker.request(OP.step, header, ...batchBytes(batch))
    return new DataView(reply.buffer, reply.byteOffset).getFloat64(0, true)
  }

  private async setWeights(weights: Float32Array): Promise<void> {
    await this.worker.request(OP.setWeights, float32LeBytes(weights))
  }

  private async getWeights(): Promise<Float32Array> {
    const bytes = await this.worker.request(OP.getWeights)
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
  }

  /**
   * The checkpoint (SPEC.md 17.1) written to `path` by the worker, from its tensors: the moments
   * (8 d bytes) never come to the node (issue 17). The weights do, for the update norms and as the
   * round's result; `weights` given (the checkpoint before the first step): those, not fetched.
   */
  private async writeCheckpoint(localStep: number, path: string, weights?: Float32Array) {
    const header = checkpointHeader(localStep, this.stepCount)
    await this.worker
      .request(OP.writeCheckpoint, header, new TextEncoder().encode(path))
      .catch((err: unknown) => {
        throw asFileError(err, path)
      })
    return { localStep, weights: weights ?? (await this.getWeights()), path }
  }

  private async snapshot(localStep: number, weights?: Float32Array): Promise<TrainingSnapshot> {
    return {
      localStep,
      weights: weights ?? (await this.getWeights()),
      optimizer: await this.optimizerState(),
    }
  }

  private async forEachHeldOutBatch(
    weights: Float32Array,
    positions: readonly number[],
    batchSize: number,
    add: (loss: number, correct: number, count: number) => void,
  ): Promise<void> {
    await this.setWeights(weights)
    for (let start = 0; start < positions.length; start += batchSize) {
      const batch = this.data.batch('heldOut', positions.slice(start, start + batchSize))
      const count = new Uint8Array(4)
      new DataView(count.buffer).setUint32(0, batch.offsets.length, true)
      const reply = await this.worker.request(OP.eval, count, ...batchBytes(batch))
      const view = new DataView(reply.buffer, reply.byteOffset)
      add(view.getFloat64(0, true), view.getUint32(8, true), batch.offsets.length)
    }
  }
}

/** A batch's inputs then targets, as little-endian bytes (int32 tokens or labels, f32 features). */
function batchBytes(batch: Batch): [Uint8Array, Uint8Array] {
  return [littleEndian(batch.inputs), littleEndian(batch.targets)]
}

function littleEndian(values: Int32Array | Float32Array): Uint8Array {
  // Every platform Node.js runs dtrain on is little-endian (os.endianness() 'LE').
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
}

/**
 * A file write the worker failed, as the node's own would fail: an Error with the errno's code
 * and the path (the worker reports Python's "[Errno 28] No space left on device"), so that a full
 * disk stops the node cleanly, saying so (cli/start.ts), whoever wrote the file.
 */
function asFileError(err: unknown, path: string): unknown {
  if (!(err instanceof TorchWorkerError)) return err
  const errno = Number(/\[Errno (\d+)\]/.exec(err.message)?.[1])
  const code = Object.entries(constants.errno).find(([, n]) => n === errno)?.[0]
  if (code === undefined) return err
  return Object.assign(new Error(`writing ${path}: ${err.message}`), { code, errno, path })
}
