// Deterministic batches (SPEC.md 7.5). The windows of step s of round r trained by peer p are
// drawn from HashStream(domain batches, runId || baseHash || peerId bytes || u64le(r) || u64le(s)),
// so an auditor can recompute every batch from (genesis, base weights, peer, round, step). The
// base hash is the round's agreed global weights: nobody knows it before the round, so no peer can
// grind keys or rounds for easy data (SPEC.md 17.2).
import { DOMAINS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'
import type { BatchInputs } from './flat-model.js'
import type { Tokens } from './tokenizer.js'

export interface Batch {
  /** text: [batchSize * contextLength] token ids; examples: [batchSize * inputSize] features */
  inputs: BatchInputs
  /** text: the same windows shifted by one token; examples: [batchSize] class ids */
  targets: Int32Array
  /** the samples' positions (SPEC.md 7.5) */
  offsets: number[]
}

export interface BatchSeed {
  runId: Uint8Array
  /** SHA-256 of the global weights the round starts from (SPEC.md 4.2) */
  baseHash: Uint8Array
  peerId: Uint8Array
  round: number
}

export function batchSeed(seed: BatchSeed, step: number): Uint8Array {
  const { runId, baseHash, peerId, round } = seed
  const out = new Uint8Array(runId.length + baseHash.length + peerId.length + 16)
  out.set(runId)
  out.set(baseHash, runId.length)
  out.set(peerId, runId.length + baseHash.length)
  const view = new DataView(out.buffer)
  const at = runId.length + baseHash.length + peerId.length
  view.setBigUint64(at, BigInt(round), true)
  view.setBigUint64(at + 8, BigInt(step), true)
  return out
}

/** Window start offsets: nextBelow(len - contextLength) for each of batchSize windows. */
export function batchOffsets(
  stream: HashStream,
  tokenCount: number,
  contextLength: number,
  batchSize: number,
): number[] {
  const range = tokenCount - contextLength
  if (range < 1)
    throw new RangeError(`corpus of ${tokenCount} tokens is too short for context ${contextLength}`)
  const offsets: number[] = []
  for (let b = 0; b < batchSize; b++) offsets.push(stream.nextBelow(range))
  return offsets
}

export function windowsAt(tokens: Tokens, offsets: readonly number[], contextLength: number): Batch {
  const inputs = new Int32Array(offsets.length * contextLength)
  const targets = new Int32Array(offsets.length * contextLength)
  offsets.forEach((offset, b) => {
    for (let t = 0; t < contextLength; t++) {
      inputs[b * contextLength + t] = tokens[offset + t]
      targets[b * contextLength + t] = tokens[offset + t + 1]
    }
  })
  return { inputs, targets, offsets: [...offsets] }
}

/** The window offsets of one training step (SPEC.md 7.5). */
export function trainingOffsets(
  tokenCount: number,
  seed: BatchSeed,
  step: number,
  contextLength: number,
  batchSize: number,
): number[] {
  const stream = new HashStream(DOMAINS.batches, batchSeed(seed, step))
  return batchOffsets(stream, tokenCount, contextLength, batchSize)
}

export function trainingBatch(
  tokens: Tokens,
  seed: BatchSeed,
  step: number,
  contextLength: number,
  batchSize: number,
): Batch {
  return windowsAt(
    tokens,
    trainingOffsets(tokens.length, seed, step, contextLength, batchSize),
    contextLength,
  )
}

/** Held-out evaluation windows: HashStream(domain eval, runId), `windows` offsets (SPEC.md 7.6). */
export function evalOffsets(
  runId: Uint8Array,
  heldOutLength: number,
  contextLength: number,
  windows: number,
): number[] {
  return batchOffsets(new HashStream(DOMAINS.eval, runId), heldOutLength, contextLength, windows)
}
