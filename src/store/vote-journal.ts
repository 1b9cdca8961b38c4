// This node's own signed commits (SPEC.md 5.5, 12.5), written to STATE/votes before they are
// published. A node saves a round's state only once the round is decided, so a node killed after
// it voted for a state but before that state was decided and saved came back without its vote: a
// peer that had counted it and saved the state then held the next round, and the restarted node
// held this one, each with one vote of the two a majority needs, for good (randomized fault
// schedule, FAULT_SEED=1572129057). With the vote kept, the restarted node counts it again: the
// state is decided, and the node adopts it from the peer that saved it.
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LIMITS } from '../constants.js'
import { readRegularFile, syncDirectory, writeFileSynced } from './durable-file.js'

const VOTE_FILE = /^commit-(\d+)$/

export class VoteJournal {
  private readonly dir?: string

  /** `stateDir`: the node's state directory (votes go to DIR/votes); without one, nothing is kept. */
  constructor(stateDir?: string) {
    this.dir = stateDir === undefined ? undefined : join(stateDir, 'votes')
  }

  /** Keeps this node's signed commit of `round` durably (the latest per round), before it is published. */
  async record(round: number, signedCommit: Uint8Array): Promise<void> {
    if (!this.dir) return
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const path = join(this.dir, `commit-${round}`)
    await writeFileSynced(`${path}.partial`, signedCommit)
    await rename(`${path}.partial`, path)
    await syncDirectory(this.dir)
    for (const kept of await this.rounds())
      if (kept + LIMITS.keptDeltaRounds < round) await rm(join(this.dir, `commit-${kept}`), { force: true })
  }

  /** This node's signed commit of `round`, if it kept one. */
  async of(round: number): Promise<Uint8Array | undefined> {
    if (!this.dir) return undefined
    return await readRegularFile(join(this.dir, `commit-${round}`), LIMITS.maxGossipMessageBytes)
  }

  /** Forgets the votes of the rounds after `round`: the node adopted another lineage's state there. */
  async forgetAfter(round: number): Promise<void> {
    if (!this.dir) return
    for (const kept of await this.rounds())
      if (kept > round) await rm(join(this.dir, `commit-${kept}`), { force: true })
  }

  private async rounds(): Promise<number[]> {
    const names = await readdir(this.dir!).catch(() => [] as string[])
    return names
      .map((name) => VOTE_FILE.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
  }
}
