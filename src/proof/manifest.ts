// A round's proof-of-learning manifest (SPEC.md 17.2-17.3): the header (what was trained, on which
// data, with which settings) and the roots of its checkpoints. The proof root, committed in the
// signed delta announcement, is the Merkle root over leaf(SHA-256(header)) and leaf(root_i).
import { DOMAINS, LIMITS, PROTOCOL } from '../constants.js'
import { domainHash, float32LeBytes } from '../crypto/hash.js'
import { leafHash, MerkleTree } from '../crypto/merkle.js'
import { type BatchSeed, trainingOffsets } from '../train/batches.js'
import { canonicalJson } from '../wire/canonical-json.js'
import { hashField, safeInteger } from '../wire/fields.js'
import { type Genesis, sampleSpan } from '../wire/genesis.js'
import { unpackRepeated } from '../wire/packed.js'
import { ProofHeader, ProofManifest } from '../wire/proto/dtrain.js'

export class ProofFormatError extends Error {
  override name = 'ProofFormatError'
}

export interface Header {
  version: number
  runId: Uint8Array
  round: number
  peerId: Uint8Array
  baseHash: Uint8Array
  deltaHash: Uint8Array
  hyperparameters: string
  backend: string
  checkpointInterval: number
  dataCommitment: Uint8Array
  checkpointSteps: number[]
  updateNorms: number[]
  optimizerIn: Uint8Array
  optimizerOut: Uint8Array
  /** empty when the run has no error-feedback residual */
  residualIn: Uint8Array
  residualOut: Uint8Array
  /** the round of this peer's previous proof, or null for its first */
  previousRound: number | null
  /** bf16: the steps ran under bf16 autocast (genesis inner.precision, SPEC.md 17.2) */
  precision: 'fp32' | 'bf16'
}

export interface Manifest {
  /** the encoded header, exactly as hashed into the proof root */
  headerBytes: Uint8Array
  header: Header
  checkpointRoots: Uint8Array[]
}

/** The inner-loop settings a proof pins (SPEC.md 17.2): canonical JSON of genesis.inner. */
export function hyperparametersOf(genesis: Genesis): string {
  return canonicalJson(genesis.inner)
}

/** The local steps after which a round keeps a checkpoint: 0, k, 2k, ..., and always H. */
export function checkpointSteps(steps: number, interval: number): number[] {
  const out: number[] = []
  for (let s = 0; s < steps; s += interval) out.push(s)
  out.push(steps)
  return out
}

/**
 * The data commitment (SPEC.md 17.2): SHA-256 under domain proof-data of u64le(training length:
 * tokens, or examples) then u32le of every sample position of every step, in step order. It fixes
 * the exact batches.
 */
export function dataCommitment(genesis: Genesis, trainTokens: number, seed: BatchSeed): Uint8Array {
  const { steps, batchSize } = genesis.inner
  const body = new Uint8Array(8 + 4 * steps * batchSize)
  const view = new DataView(body.buffer)
  view.setBigUint64(0, BigInt(trainTokens), true)
  let at = 8
  for (let step = 0; step < steps; step++) {
    for (const offset of trainingOffsets(trainTokens, seed, step, sampleSpan(genesis.model), batchSize)) {
      view.setUint32(at, offset, true)
      at += 4
    }
  }
  return domainHash(DOMAINS.proofData, body)
}

/** SHA-256 under domain proof-residual of an error-feedback residual's float32 bytes. */
export function residualHash(residual: Float32Array): Uint8Array {
  return domainHash(DOMAINS.proofResidual, float32LeBytes(residual))
}

export function encodeHeader(h: Header): Uint8Array {
  return ProofHeader.encode({
    version: h.version,
    runId: h.runId as Uint8Array<ArrayBuffer>,
    round: BigInt(h.round),
    peerId: h.peerId as Uint8Array<ArrayBuffer>,
    baseHash: h.baseHash as Uint8Array<ArrayBuffer>,
    deltaHash: h.deltaHash as Uint8Array<ArrayBuffer>,
    hyperparameters: h.hyperparameters,
    backend: h.backend,
    checkpointInterval: h.checkpointInterval,
    dataCommitment: h.dataCommitment as Uint8Array<ArrayBuffer>,
    checkpointSteps: h.checkpointSteps,
    updateNorms: h.updateNorms,
    optimizerIn: h.optimizerIn as Uint8Array<ArrayBuffer>,
    optimizerOut: h.optimizerOut as Uint8Array<ArrayBuffer>,
    residualIn: h.residualIn as Uint8Array<ArrayBuffer>,
    residualOut: h.residualOut as Uint8Array<ArrayBuffer>,
    previousRoundPlusOne: h.previousRound === null ? 0n : BigInt(h.previousRound + 1),
    precision: h.precision === 'bf16' ? 'bf16' : '',
  })
}

/** The proof root (SPEC.md 17.3). */
export function proofRoot(headerBytes: Uint8Array, checkpointRoots: readonly Uint8Array[]): Uint8Array {
  const leaves = [domainHash(DOMAINS.proofHeader, headerBytes), ...checkpointRoots].map(leafHash)
  return MerkleTree.fromLeaves(leaves).root
}

export function encodeManifest(headerBytes: Uint8Array, checkpointRoots: readonly Uint8Array[]): Uint8Array {
  return ProofManifest.encode({
    header: headerBytes as Uint8Array<ArrayBuffer>,
    checkpointRoots: checkpointRoots as Uint8Array<ArrayBuffer>[],
  })
}

/** Decodes a manifest and checks its structure (SPEC.md 17.3); throws ProofFormatError. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > LIMITS.maxProofManifestBytes)
    throw new ProofFormatError(
      `manifest of ${bytes.length} bytes, the limit is ${LIMITS.maxProofManifestBytes}`,
    )
  const limits = LIMITS.maxProofCheckpoints
  let raw: ProofManifest
  let h: ProofHeader
  try {
    raw = ProofManifest.decode(bytes, { limits: { checkpointRoots: limits } })
    h = ProofHeader.decode(unpackRepeated(raw.header, { 11: 'varint', 12: 'fixed32' }), {
      limits: { checkpointSteps: limits, updateNorms: limits },
    })
  } catch (err) {
    throw new ProofFormatError(`manifest does not decode: ${(err as Error).message}`)
  }
  const hash = (value: Uint8Array, field: string, optional = false): Uint8Array =>
    optional && value.length === 0 ? value : hashField(value, field, ProofFormatError)
  const safe = (value: bigint, field: string): number => safeInteger(value, field, ProofFormatError)
  if (h.version !== PROTOCOL.protocolVersion)
    throw new ProofFormatError(`proof version ${h.version}; this node speaks ${PROTOCOL.protocolVersion}`)
  const header: Header = {
    version: h.version,
    runId: hash(h.runId, 'runId'),
    round: safe(h.round, 'round'),
    peerId: h.peerId,
    baseHash: hash(h.baseHash, 'baseHash'),
    deltaHash: hash(h.deltaHash, 'deltaHash'),
    hyperparameters: h.hyperparameters,
    backend: h.backend,
    checkpointInterval: h.checkpointInterval,
    dataCommitment: hash(h.dataCommitment, 'dataCommitment'),
    checkpointSteps: h.checkpointSteps,
    updateNorms: h.updateNorms,
    optimizerIn: hash(h.optimizerIn, 'optimizerIn'),
    optimizerOut: hash(h.optimizerOut, 'optimizerOut'),
    residualIn: hash(h.residualIn, 'residualIn', true),
    residualOut: hash(h.residualOut, 'residualOut', true),
    previousRound: h.previousRoundPlusOne === 0n ? null : safe(h.previousRoundPlusOne, 'previousRound') - 1,
    precision: h.precision === 'bf16' ? 'bf16' : 'fp32',
  }
  if (h.precision !== '' && h.precision !== 'bf16')
    throw new ProofFormatError(`precision "${h.precision.slice(0, 32)}": only "bf16" or empty (fp32) exist`)
  const roots = raw.checkpointRoots.map((r, i) => hash(r, `checkpointRoots[${i}]`))
  if (roots.length < 2 || roots.length !== header.checkpointSteps.length)
    throw new ProofFormatError(
      `${roots.length} checkpoint roots for ${header.checkpointSteps.length} checkpoint steps (at least 2)`,
    )
  if (header.updateNorms.length !== roots.length - 1)
    throw new ProofFormatError(`${header.updateNorms.length} update norms for ${roots.length - 1} segments`)
  if (header.updateNorms.some((n) => !Number.isFinite(n) || n < 0))
    throw new ProofFormatError('update norms must be finite and non-negative')
  return { headerBytes: raw.header, header, checkpointRoots: roots }
}
