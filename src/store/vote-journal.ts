// This node's own signed commits (SPEC.md 5.5, 12.5), written to STATE/votes before they are
// published. A node saves a round's state only once the round is decided, so a node killed after
// it voted for a state but before that state was decided and saved came back without its vote: a
// peer that had counted it and saved the state then held the next round, and the restarted node
// held this one, each with one vote of the two a majority needs, for good (randomized fault
// schedule, FAULT_SEED=1572129057). With the vote kept, the restarted node counts it again: the
// state is decided, and the node adopts it from the peer that saved it.
//
// Every commit of a round is kept, not only the latest (`commit-<round>-<seq>`): a settle step
// moves a node's vote as its set grows, and a peer may have decided the round on an earlier vote
// and gone on; the restarted node recalls that vote (SPEC.md 12.2, the recall rule) instead of
// holding the round with its latest vote alone (fault schedule, FAULT_SEED=278299544).
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LIMITS } from '../constants.js'
import { bytesEqual } from '../crypto/hash.js'
import { readRegularFile, syncDirectory, writeFileSynced } from './durable-file.js'

/** `commit-<round>-<seq>`; `commit-<round>` (the latest only) is how dtrain 1.10 kept it */
const VOTE_FILE = /^commit-(\d+)(?:-(\d+))?$/

interface VoteFile {
  round: number
  seq: number
  name: string
}

export class VoteJournal {
  private readonly dir?: string

  /** `stateDir`: the node's state directory (votes go to DIR/votes); without one, nothing is kept. */
  constructor(stateDir?: string) {
    this.dir = stateDir === undefined ? undefined : join(stateDir, 'votes')
  }

  /**
   * Keeps this node's signed commit of `round` durably, after the ones it signed before for that
   * round, before it is published. The same commit again is not kept twice.
   */
  async record(round: number, signedCommit: Uint8Array): Promise<void> {
    if (!this.dir) return
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const files = await this.files()
    const mine = files.filter((f) => f.round === round)
    const latest = mine.at(-1)
    if (latest !== undefined) {
      const bytes = await readRegularFile(join(this.dir, latest.name), LIMITS.maxGossipMessageBytes).catch(
        () => undefined,
      )
      if (bytes !== undefined && bytesEqual(bytes, signedCommit)) return
    }
    const path = join(this.dir, `commit-${round}-${(latest?.seq ?? -1) + 1}`)
    await writeFileSynced(`${path}.partial`, signedCommit)
    await rename(`${path}.partial`, path)
    await syncDirectory(this.dir)
    for (const kept of files)
      if (kept.round + LIMITS.keptDeltaRounds < round) await rm(join(this.dir, kept.name), { force: true })
  }

  /** This node's latest signed commit of `round`, if it kept one. */
  async of(round: number): Promise<Uint8Array | undefined> {
    return (await this.allOf(round)).at(-1)
  }

  /** Every signed commit this node kept of `round`, oldest first. */
  async allOf(round: number): Promise<Uint8Array[]> {
    if (!this.dir) return []
    const all: Uint8Array[] = []
    for (const file of (await this.files()).filter((f) => f.round === round)) {
      const bytes = await readRegularFile(join(this.dir, file.name), LIMITS.maxGossipMessageBytes)
      if (bytes !== undefined) all.push(bytes)
    }
    return all
  }

  /** Forgets the votes of the rounds after `round`: the node adopted another lineage's state there. */
  async forgetAfter(round: number): Promise<void> {
    if (!this.dir) return
    for (const kept of await this.files())
      if (kept.round > round) await rm(join(this.dir, kept.name), { force: true })
  }

  /** The journal's files, by round and then in the order they were written. */
  private async files(): Promise<VoteFile[]> {
    const names = await readdir(this.dir!).catch(() => [] as string[])
    return names
      .map((name) => ({ name, m: VOTE_FILE.exec(name) }))
      .filter((f): f is { name: string; m: RegExpExecArray } => f.m !== null)
      .map(({ name, m }) => ({ name, round: Number(m[1]), seq: m[2] === undefined ? -1 : Number(m[2]) }))
      .sort((a, b) => a.round - b.round || a.seq - b.seq)
  }
}
