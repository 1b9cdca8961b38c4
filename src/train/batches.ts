// Deterministic batches (SPEC.md 7.5). The windows of step s of round r trained by peer p are
// drawn from HashStream(domain batches, runId || peerId bytes || u64le(r) || u64le(s)), so an
// auditor can recompute every batch from (genesis, peer, round, step).
import { DOMAINS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'

export interface Batch {
  /** [batchSize * contextLength] token ids */
  inputs: Int32Array
  /** the same windows shifted by one token */
  targets: Int32Array
  offsets: number[]
}

export function batchSeed(runId: Uint8Array, peerId: Uint8Array, round: number, step: number): Uint8Array {
  const seed = new Uint8Array(runId.length + peerId.length + 16)
  seed.set(runId)
  seed.set(peerId, runId.length)
  const view = new DataView(seed.buffer)
  view.setBigUint64(runId.length + peerId.length, BigInt(round), true)
  view.setBigUint64(runId.length + peerId.length + 8, BigInt(step), true)
  return seed
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

export function windowsAt(tokens: Uint8Array, offsets: readonly number[], contextLength: number): Batch {
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

export function trainingBatch(
  tokens: Uint8Array,
  seed: { runId: Uint8Array; peerId: Uint8Array; round: number; step: number },
  contextLength: number,
  batchSize: number,
): Batch {
  const stream = new HashStream(DOMAINS.batches, batchSeed(seed.runId, seed.peerId, seed.round, seed.step))
  return windowsAt(tokens, batchOffsets(stream, tokens.length, contextLength, batchSize), contextLength)
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
