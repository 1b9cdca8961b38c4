// Builds the trainer a backend choice names (trainer.ts): PyTorch in a worker process, or
// TensorFlow.js in this process with optional worker threads.
import { freemem } from 'node:os'
import type { Genesis, ModelSpec } from '../wire/genesis.js'
import { type BackendChoice, BackendUnavailableError } from './backend.js'
import type { Dataset } from './dataset.js'
import { InnerTrainer } from './inner-loop.js'
import { besideNode, checkMemory } from './memory.js'
import { TfjsTrainer } from './tfjs-trainer.js'
import { TorchTrainer } from './torch-trainer.js'
import type { Trainer } from './trainer.js'
import { GradientPool } from './worker-pool.js'

export interface TrainerOptions {
  /** tfjs: worker threads for micro-batches (1: the main thread) */
  workers?: number
  /** torch: intra-op threads (0: torch's default) */
  threads?: number
  /** torch: deterministic algorithms (audits) */
  deterministic?: boolean
  /**
   * the trainer shares this machine's memory with a node's process (dtrain start): a CPU trainer
   * must fit beside it (memory.ts, besideNode); an auditor's trainer is alone
   */
  besideNode?: boolean
  onStderr?: (line: string) => void
}

/**
 * The largest vocabulary the tfjs trainers embed: wasm has no gradient kernel for tf.gather
 * (UnsortedSegmentSum), so tokens are embedded as one-hot rows times the matrix (SPEC.md 7.2),
 * a [batch x context, vocab] product per step. At GPT-2's 50,257 tokens that matrix alone is
 * 1.6 GB for a batch of 8 x 1024.
 */
export const TFJS_MAX_VOCAB = 4096

/** Why the tfjs trainers cannot train `model`, or undefined when they can. */
export function tfjsRefusal(model: ModelSpec): string | undefined {
  if (model.kind === 'gpt' && model.vocabSize > TFJS_MAX_VOCAB)
    return `the tfjs backends embed tokens as one-hot rows times the embedding (wasm lacks the gradient of tf.gather), and a ${model.vocabSize}-token vocabulary makes that a [batch x context, ${model.vocabSize}] matrix per step: train this model with --backend torch-cpu or torch-cuda`
  return undefined
}

export async function createTrainer(
  genesis: Genesis,
  data: Dataset,
  choice: BackendChoice,
  options: TrainerOptions = {},
): Promise<Trainer> {
  if (choice.torch) {
    return TorchTrainer.create(genesis, data, {
      probe: choice.torch,
      device: choice.backend === 'torch-cuda' ? 'cuda' : 'cpu',
      threads: options.threads,
      // the genesis decides: bf16 autocast on CUDA in a run that allows it (SPEC.md 7.5)
      precision: choice.backend === 'torch-cuda' && genesis.inner.precision === 'bf16' ? 'bf16' : 'fp32',
      deterministic: options.deterministic,
      onStderr: options.onStderr,
      memory: choice.backend === 'torch-cpu' && options.besideNode ? besideNode(genesis) : undefined,
    })
  }
  const refusal = tfjsRefusal(genesis.model)
  if (refusal)
    throw new BackendUnavailableError(`backend ${choice.backend} cannot train this model: ${refusal}`)
  const budget = options.besideNode ? besideNode(genesis) : { freeBytes: freemem(), where: 'this machine' }
  // wasm's linear memory is 32-bit: 4 GiB at most, whatever the machine has free
  const wasmBytes = 4 * 2 ** 30
  checkMemory(
    genesis,
    'cpu',
    'fp32',
    choice.backend === 'wasm' && wasmBytes < budget.freeBytes
      ? { freeBytes: wasmBytes, where: "tfjs-wasm's 4 GiB of memory" }
      : budget,
  )
  const workers = options.workers ?? 1
  const pool = workers > 1 ? await GradientPool.create(genesis.model, choice.backend, workers) : undefined
  return new TfjsTrainer(new InnerTrainer(genesis, data), choice.backend, pool)
}
