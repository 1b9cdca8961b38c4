// Records a round's proof of learning while it trains (SPEC.md 17.1-17.3): the checkpoints, the
// segments' update norms, and, once the delta is known, the manifest whose root goes into the
// signed announcement.
import type { PrivateKey } from '@libp2p/interface'
import { joinPieces, type Pieces } from '../codec/pieces.js'
import { PROTOCOL } from '../constants.js'
import { float32LeBytes } from '../crypto/hash.js'
import type { BatchSeed } from '../train/batches.js'
import type { TrainingSnapshot } from '../train/inner-loop.js'
import type { InnerLoopOptions, WrittenCheckpoint } from '../train/trainer.js'
import type { Genesis } from '../wire/genesis.js'
import { signAnnouncement } from '../wire/messages.js'
import { checkpointFileDigests, checkpointPieces, objectRoot, optimizerHash } from './checkpoint.js'
import {
  dataCommitment,
  encodeHeader,
  encodeManifest,
  hyperparametersOf,
  proofRoot,
  residualHash,
} from './manifest.js'

/** Everything a node keeps and serves for one round's proof. */
export interface RoundProof {
  round: number
  manifest: Uint8Array
  root: Uint8Array
  /** the checkpoints' bytes; absent when they went to a sink as they were taken */
  checkpoints?: Uint8Array[]
  /** float32 bytes of the error-feedback residual the round started from; absent when none */
  residual?: Uint8Array
  /** the signed announcement that commits the root; set once signed */
  announcement?: Uint8Array
}

export interface ProofContext {
  genesis: Genesis
  seed: BatchSeed
  /** length of the training split (tokens) */
  trainTokens: number
  backend: string
  deltaHash: Uint8Array
  /** residual before and after this round's encoding, when the run uses error feedback */
  residual?: { before: Float32Array; after: Float32Array }
  previousRound: number | null
  /** bf16 when the trainer ran under bf16 autocast; default fp32 */
  precision?: 'fp32' | 'bf16'
}

/**
 * Where a round's checkpoints go as they are taken (ProofStore.checkpointSink): a checkpoint is
 * 12 d bytes, so a large model's round cannot hold them all in memory until it announces.
 */
export interface CheckpointSink {
  /** `bytes`: the checkpoint's pieces (views of the snapshot's vectors), written in order */
  add(index: number, bytes: Pieces): void
  /** where a trainer that writes its checkpoints itself puts checkpoint `index` */
  fileFor(index: number): Promise<string>
  /** checkpoint `index` is in fileFor(index), written by the trainer: the sink makes it durable */
  addWritten(index: number): void
  /** resolves once every checkpoint added so far is written, or failed to be (never rejects) */
  written(): Promise<void>
}

export class ProofRecorder {
  /** the checkpoints' bytes, kept only without a sink */
  private readonly checkpoints: Uint8Array[] = []
  private readonly roots: Uint8Array[] = []
  /** each checkpoint's optimizer hash (SPEC.md 17.1): the first and last go into the header */
  private readonly optimizers: Uint8Array[] = []
  /** digests of checkpoints a trainer wrote to files, being read back (onWrittenCheckpoint) */
  private readonly pending: Promise<void>[] = []
  /** the first file that could not be read back: announce() throws it (nothing goes unhandled) */
  private readFailure?: Error
  private readonly steps: number[] = []
  private readonly norms: number[] = []
  private previousWeights?: Float32Array

  constructor(private readonly sink?: CheckpointSink) {}

  /** Pass as the inner loop's onCheckpoint. */
  readonly onCheckpoint = (snapshot: TrainingSnapshot): void => {
    const index = this.taken(snapshot.localStep, snapshot.weights)
    // pieces, views of the snapshot's vectors: the sink writes them without a joined copy
    const bytes = checkpointPieces(snapshot)
    this.roots[index] = objectRoot(bytes)
    this.optimizers[index] = optimizerHash(bytes)
    if (this.sink) this.sink.add(index, bytes)
    else this.checkpoints.push(joinPieces(bytes))
  }

  /**
   * The inner loop's options for a trainer that writes its checkpoints itself (into the sink's
   * files; their digests are read back from the files): none without a sink.
   */
  writtenCheckpoints(
    parameterCount: number,
  ): Pick<InnerLoopOptions, 'checkpointFile' | 'onWrittenCheckpoint'> {
    const sink = this.sink
    if (!sink) return {}
    return {
      checkpointFile: (index) => sink.fileFor(index),
      onWrittenCheckpoint: (checkpoint: WrittenCheckpoint) => {
        const index = this.taken(checkpoint.localStep, checkpoint.weights)
        sink.addWritten(index)
        this.pending.push(
          checkpointFileDigests(checkpoint.path, parameterCount).then(
            ({ root, optimizer }) => {
              this.roots[index] = root
              this.optimizers[index] = optimizer
            },
            (err: Error) => {
              this.readFailure ??= err
            },
          ),
        )
      },
    }
  }

  /** Records a checkpoint's step and update norm; returns its index. */
  private taken(localStep: number, weights: Float32Array): number {
    if (this.previousWeights) this.norms.push(distance(weights, this.previousWeights))
    this.previousWeights = weights
    this.steps.push(localStep)
    return this.steps.length - 1
  }

  /**
   * finish(), then the signed announcement that commits the proof's root (SPEC.md 17.3), kept in
   * the returned proof: what a node publishes for its round.
   */
  async announce(
    key: PrivateKey,
    context: ProofContext & { encodedSize: number; trainLoss: number; sampleCount: number },
  ): Promise<RoundProof & { announcement: Uint8Array }> {
    // a written checkpoint's digests come from its file, read after the trainer wrote it
    await Promise.all(this.pending)
    if (this.readFailure) throw this.readFailure
    const proof = this.finish(context)
    const { seed } = context
    const announcement = await signAnnouncement(key, {
      version: PROTOCOL.protocolVersion,
      runId: seed.runId,
      round: seed.round,
      peerId: seed.peerId,
      baseHash: seed.baseHash,
      deltaHash: context.deltaHash,
      encodedSize: context.encodedSize,
      encoding: context.genesis.delta.encoding,
      trainLoss: context.trainLoss,
      sampleCount: context.sampleCount,
      proofRoot: proof.root,
    })
    return { ...proof, announcement }
  }

  finish(context: ProofContext): RoundProof {
    const { genesis, seed } = context
    if (this.steps.length < 2) throw new Error('a proof needs the first and last checkpoints')
    if (this.roots.filter((r) => r !== undefined).length !== this.steps.length)
      throw new Error('a written checkpoint is still being read back: announce() waits for it')
    const headerBytes = encodeHeader({
      version: PROTOCOL.protocolVersion,
      runId: seed.runId,
      round: seed.round,
      peerId: seed.peerId,
      baseHash: seed.baseHash,
      deltaHash: context.deltaHash,
      hyperparameters: hyperparametersOf(genesis),
      backend: context.backend,
      checkpointInterval: genesis.proof.checkpointInterval,
      dataCommitment: dataCommitment(genesis, context.trainTokens, seed),
      checkpointSteps: this.steps,
      updateNorms: this.norms,
      optimizerIn: this.optimizers[0],
      optimizerOut: this.optimizers[this.steps.length - 1],
      residualIn: context.residual ? residualHash(context.residual.before) : new Uint8Array(0),
      residualOut: context.residual ? residualHash(context.residual.after) : new Uint8Array(0),
      previousRound: context.previousRound,
      precision: context.precision ?? 'fp32',
    })
    return {
      round: seed.round,
      manifest: encodeManifest(headerBytes, this.roots),
      root: proofRoot(headerBytes, this.roots),
      checkpoints: this.sink ? undefined : this.checkpoints,
      // a view, not a copy (4 d bytes): the residual a round started from is replaced, never
      // changed, by the round's encoding (codec/error-feedback.ts)
      residual: context.residual ? float32LeBytes(context.residual.before) : undefined,
    }
  }
}

/** L2 distance of two vectors, accumulated in binary64 in index order. */
export function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2
  return Math.sqrt(sum)
}
