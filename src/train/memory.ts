// Memory preflight (issue 16): before the first step, estimate what training a model needs and
// refuse with the estimate, what is free and a fix, instead of running out of memory an hour in
// (rl-swarm #405: CUDA out of memory after 1-3 h on 12 GB).
//
// The estimate counts fp32 weights, gradients and AdamW's two moments (16 bytes a parameter),
// the update's temporary (4), and the activations autograd keeps for the backward pass of one
// micro-batch. Per token and layer a pre-norm block keeps about 10 d + 2 mlp values (norm
// outputs, q, k, v, the attended values, the residual stream, the MLP's input, pre-activation and
// activation), plus the attention probabilities (heads x context) where attention is not fused;
// the head keeps the logits and their softmax (2 x vocab). bf16 autocast halves the activations.
// A margin of 20 % covers the allocator and the framework.
import { freemem } from 'node:os'
import type { Genesis, ModelSpec } from '../wire/genesis.js'
import { parameterCount } from './parameters.js'

export interface MemoryEstimate {
  parameters: number
  /** weights, gradients, moments and the update's temporary */
  stateBytes: number
  /** activations of one micro-batch */
  activationBytes: number
  /** both, with the margin */
  totalBytes: number
}

const MARGIN = 1.2

/** Training memory of `model` at `samples` samples per micro-batch. */
export function trainingMemory(
  model: ModelSpec,
  samples: number,
  precision: 'fp32' | 'bf16' = 'fp32',
): MemoryEstimate {
  const parameters = parameterCount(model)
  const stateBytes = 20 * parameters
  let activationValues: number
  if (model.kind === 'mlp-classifier') {
    const widths = [model.inputSize, ...model.hiddenSizes, model.classes]
    activationValues = samples * widths.reduce((sum, w) => sum + 2 * w, 0)
  } else {
    const { contextLength: t, dModel: d, layers, heads, mlpHidden: m, vocabSize: v } = model
    const perTokenLayer = 10 * d + 2 * m + heads * t
    activationValues = samples * t * (layers * perTokenLayer + 2 * v + 2 * d)
  }
  const activationBytes = activationValues * (precision === 'bf16' ? 2 : 4)
  return {
    parameters,
    stateBytes,
    activationBytes,
    totalBytes: Math.ceil((stateBytes + activationBytes) * MARGIN),
  }
}

export class InsufficientMemoryError extends Error {
  override name = 'InsufficientMemoryError'
}

export interface MemoryBudget {
  /** bytes free where the model trains; default: the free system memory */
  freeBytes?: number
  /** where, for the message: "the GPU (NVIDIA ...)" or "this machine" */
  where?: string
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`

/**
 * Throws InsufficientMemoryError when training the genesis's model would not fit: the message
 * gives the estimate, what is free and a micro-batch count or batch size that fits.
 */
export function checkMemory(
  genesis: Genesis,
  device: 'cpu' | 'cuda',
  precision: 'fp32' | 'bf16',
  budget: MemoryBudget = {},
): MemoryEstimate {
  const { batchSize, microBatches } = genesis.inner
  const free = budget.freeBytes ?? freemem()
  const where = budget.where ?? (device === 'cuda' ? 'the GPU' : 'this machine')
  const estimate = trainingMemory(genesis.model, batchSize / microBatches, precision)
  if (estimate.totalBytes <= free) return estimate
  const fits = (samples: number) => trainingMemory(genesis.model, samples, precision).totalBytes <= free
  const divisors = Array.from({ length: batchSize }, (_, i) => i + 1).filter((m) => batchSize % m === 0)
  const microFix = divisors.find((m) => m > microBatches && fits(batchSize / m))
  const fix =
    microFix !== undefined
      ? `a run with inner.microBatches ${microFix} fits (the same batch in ${microFix} parts; dtrain init and the genesis set it)`
      : fits(1)
        ? `even ${microBatches} micro-batches do not divide the batch finely enough: use a batch size with more divisors`
        : `the weights and optimizer state alone need ${gb(estimate.stateBytes * MARGIN)}: use a smaller preset or a device with more memory`
  throw new InsufficientMemoryError(
    `training ${estimate.parameters.toLocaleString('en')} parameters needs about ${gb(estimate.totalBytes)} ` +
      `(${gb(estimate.stateBytes)} weights, gradients and AdamW moments, ${gb(estimate.activationBytes)} activations ` +
      `for ${batchSize / microBatches} samples per micro-batch, ${precision}, plus 20 %), ` +
      `but ${where} has ${gb(free)} free; ${fix}`,
  )
}

/**
 * What a node's own process needs beside its trainer (issue 17): 32 bytes a parameter and 300 MB
 * of runtime. Its state is 16 bytes a parameter (weights, outer momentum, previous aggregate,
 * residual); a large model's node holds 8-13 of them while it trains, encodes and collects (the
 * momentum and the reference wait on disk), and its state again at its outer step: at 1.1 x 10^8
 * the process peaked at 2.1-2.2 GiB, 16 bytes a parameter over its runtime (a debug run sampled
 * from /proc, BENCHMARKS.md). A settle recompute holds the most: the first result, the starting
 * weights and momentum read back and the new aggregate beside the residual, 28 bytes a parameter;
 * 32 leaves a margin.
 */
export const NODE_BYTES_PER_PARAMETER = 32
const NODE_RUNTIME_BYTES = 300e6

export function nodeProcessMemory(model: ModelSpec): number {
  return NODE_RUNTIME_BYTES + NODE_BYTES_PER_PARAMETER * parameterCount(model)
}

/** Throws InsufficientMemoryError when the node's process would not fit in the memory free. */
export function checkNodeMemory(genesis: Genesis, budget: MemoryBudget = {}): number {
  const needed = nodeProcessMemory(genesis.model)
  const free = budget.freeBytes ?? freemem()
  if (needed <= free) return needed
  throw new InsufficientMemoryError(
    `this node's process needs about ${gb(needed)} for a model of ${parameterCount(genesis.model).toLocaleString('en')} parameters ` +
      `(${NODE_BYTES_PER_PARAMETER} bytes a parameter: its global state and a round's settle recompute beside it), ` +
      `beside what its trainer needs, but ${budget.where ?? 'this machine'} has ${gb(free)} free; free memory, or run a smaller model`,
  )
}

/**
 * The memory a trainer on this machine's CPU may count on beside the node's own process (which
 * dtrain start checks first, checkNodeMemory): what is free less the node's estimate, since both
 * live in the same memory. A GPU trainer's weights live on the device and are checked against its
 * own memory.
 */
export function besideNode(genesis: Genesis, free = freemem()): Required<MemoryBudget> {
  const node = nodeProcessMemory(genesis.model)
  return {
    freeBytes: Math.max(0, free - node),
    where: `this machine beside the node's own process (about ${gb(node)} of it)`,
  }
}
