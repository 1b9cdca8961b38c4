// Where a node keeps its proofs (SPEC.md 17.1): in its state directory, one directory per round
// (proofs/round-<r>/ with announcement, manifest, checkpoint-<i> and residual), written crash-safe
// (files written and fsynced in round-<r>.partial/, then renamed into place), keeping the last
// `retention` rounds. Without a directory (tests, light nodes) the proofs stay in memory.
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { piecesLength } from '../codec/pieces.js'
import { LIMITS } from '../constants.js'
import {
  readIfPresent,
  readRegularFile,
  syncDirectory,
  syncPath,
  writeFileSynced,
} from '../store/durable-file.js'
import { collectGarbage } from '../util/gc.js'
import type { CheckpointSink, RoundProof } from './recorder.js'

export type Lookup<T> =
  | { status: 'ok'; value: T }
  | { status: 'pruned'; message: string }
  | { status: 'not-found'; message: string }

export interface ProofStoreOptions {
  /** the node's state directory; proofs go to DIR/proofs */
  dir?: string
  /** rounds of proofs kept (the newest) */
  retention: number
}

const ROUND_DIR = /^round-(\d+)$/

/** A round's checkpoints written as they are taken; done() resolves once all are on disk. */
interface PartialRound extends CheckpointSink {
  done(): Promise<void>
}

export class ProofStore {
  private readonly memory = new Map<number, RoundProof>()
  private readonly partials = new Map<number, PartialRound>()
  private readonly dir?: string
  /** the highest round pruned so far (-1: none) */
  private prunedThrough = -1

  constructor(private readonly options: ProofStoreOptions) {
    if (!Number.isInteger(options.retention) || options.retention < 1)
      throw new RangeError(`proof retention must be a whole number of rounds >= 1 (got ${options.retention})`)
    this.dir = options.dir === undefined ? undefined : join(options.dir, 'proofs')
  }

  /** Creates the directory and removes what a crash left half-written. */
  async open(): Promise<void> {
    if (!this.dir) return
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.partial')) await rm(join(this.dir, name), { recursive: true, force: true })
    }
  }

  /** Rounds held, oldest first. */
  async rounds(): Promise<number[]> {
    if (!this.dir) return [...this.memory.keys()].sort((a, b) => a - b)
    const names = await readdir(this.dir).catch(() => [] as string[])
    return names
      .map((n) => ROUND_DIR.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b)
  }

  /**
   * With a directory: where round `round`'s checkpoints go as they are taken (ProofRecorder), each
   * written to round-<r>.partial/ at once, so that memory holds about one checkpoint, not c + 1
   * of 12 d bytes (issue 17). put() completes the round. Without a directory: none (the recorder
   * keeps them).
   */
  checkpointSink(round: number): CheckpointSink | undefined {
    if (!this.dir) return undefined
    const partial = join(this.dir, `round-${round}.partial`)
    let failure: Error | undefined
    // Every failure is kept for done(), the directory's own included: none may go unhandled
    // before the first checkpoint comes (a full disk would then end the process).
    let chain: Promise<void> = rm(partial, { recursive: true, force: true })
      .then(() => mkdir(partial, { mode: 0o700 }))
      .then(
        () => undefined,
        (err: Error) => {
          failure ??= err
        },
      )
    // the directory made (or failed to be): a trainer may write its checkpoint files into it
    const ready = chain
    const file = (index: number) => join(partial, `checkpoint-${index}`)
    const sink: PartialRound = {
      fileFor: async (index) => {
        await ready
        if (failure) throw failure
        return file(index)
      },
      addWritten: (index) => {
        chain = chain
          .then(() => (failure ? undefined : syncPath(file(index))))
          .catch((err: Error) => {
            failure ??= err
          })
      },
      add: (index, bytes) => {
        chain = chain
          .then(() => (failure ? undefined : writeFileSynced(file(index), bytes)))
          .catch((err: Error) => {
            failure ??= err
          })
          // the checkpoint's vectors (12 d bytes) are dead once written: freed now, not rounds later
          .then(() => collectGarbage(piecesLength(bytes)))
      },
      written: () => chain,
      done: async () => {
        await chain
        if (failure) throw failure
      },
    }
    // A round trained but never announced (stopped, or held and trained again) has no put().
    this.partials.clear()
    this.partials.set(round, sink)
    return sink
  }

  async put(proof: RoundProof): Promise<void> {
    if (!proof.announcement) throw new Error('a proof is stored with the announcement that commits it')
    if (!this.dir) {
      if (!proof.checkpoints) throw new Error('a proof kept in memory holds its checkpoints')
      this.memory.set(proof.round, proof)
    } else {
      const final = join(this.dir, `round-${proof.round}`)
      const partial = `${final}.partial`
      const written = this.partials.get(proof.round)
      this.partials.delete(proof.round)
      if (proof.checkpoints) {
        await rm(partial, { recursive: true, force: true })
        await mkdir(partial, { mode: 0o700 })
        for (const [i, bytes] of proof.checkpoints.entries())
          await writeFileSynced(join(partial, `checkpoint-${i}`), bytes)
      } else if (written) await written.done()
      else throw new Error(`the checkpoints of round ${proof.round} were neither kept nor written`)
      await writeFileSynced(join(partial, 'announcement'), proof.announcement)
      await writeFileSynced(join(partial, 'manifest'), proof.manifest)
      if (proof.residual) await writeFileSynced(join(partial, 'residual'), proof.residual)
      await rm(final, { recursive: true, force: true })
      await rename(partial, final)
      await syncDirectory(this.dir)
    }
    await this.prune()
  }

  /** The signed announcement and manifest of a round. */
  async manifest(round: number): Promise<Lookup<{ announcement: Uint8Array; manifest: Uint8Array }>> {
    if (!this.dir) {
      const proof = this.memory.get(round)
      return proof?.announcement
        ? { status: 'ok', value: { announcement: proof.announcement, manifest: proof.manifest } }
        : this.missing(round)
    }
    const at = join(this.dir, `round-${round}`)
    const announcement = await readRegularFile(join(at, 'announcement'), LIMITS.maxGossipMessageBytes)
    const manifest = await readRegularFile(join(at, 'manifest'), LIMITS.maxProofManifestBytes)
    return announcement && manifest
      ? { status: 'ok', value: { announcement, manifest } }
      : this.missing(round)
  }

  /**
   * Checkpoint `index` of a round, or its residual, of at most `maxBytes` (a file of another
   * shape or size throws FileShapeError before it is read).
   */
  async item(
    round: number,
    item: 'checkpoint' | 'residual',
    index = 0,
    maxBytes = Number.MAX_SAFE_INTEGER,
  ): Promise<Lookup<Uint8Array>> {
    let bytes: Uint8Array | undefined
    if (!this.dir) {
      const proof = this.memory.get(round)
      if (!proof) return this.missing(round)
      bytes = item === 'checkpoint' ? proof.checkpoints?.[index] : proof.residual
    } else {
      const at = join(this.dir, `round-${round}`)
      bytes = await readRegularFile(
        join(at, item === 'checkpoint' ? `checkpoint-${index}` : 'residual'),
        maxBytes,
      )
      // Only a miss needs to know whether the round is there at all.
      if (!bytes && !(await readIfPresent(join(at, 'manifest')))) return this.missing(round)
    }
    if (bytes) return { status: 'ok', value: bytes }
    return {
      status: 'not-found',
      message:
        item === 'checkpoint'
          ? `round ${round} has no checkpoint ${index}`
          : `round ${round} has no residual (the run uses no error feedback)`,
    }
  }

  private missing(round: number): Lookup<never> {
    return round <= this.prunedThrough
      ? {
          status: 'pruned',
          message: `the proof of round ${round} was pruned (kept: the last ${this.options.retention} rounds)`,
        }
      : { status: 'not-found', message: `no proof of round ${round} here` }
  }

  /** Bytes the proofs take (SPEC.md 17.1 asks nodes to report it). */
  async bytesUsed(): Promise<number> {
    if (!this.dir) {
      let total = 0
      for (const p of this.memory.values())
        total +=
          p.manifest.length +
          (p.announcement?.length ?? 0) +
          (p.residual?.length ?? 0) +
          (p.checkpoints ?? []).reduce((s, c) => s + c.length, 0)
      return total
    }
    let total = 0
    for (const round of await this.rounds()) {
      const at = join(this.dir, `round-${round}`)
      for (const name of await readdir(at)) total += (await stat(join(at, name))).size
    }
    return total
  }

  private async prune(): Promise<void> {
    const rounds = await this.rounds()
    for (const round of rounds.slice(0, Math.max(0, rounds.length - this.options.retention))) {
      if (this.dir) await rm(join(this.dir, `round-${round}`), { recursive: true, force: true })
      else this.memory.delete(round)
      this.prunedThrough = Math.max(this.prunedThrough, round)
    }
  }
}
