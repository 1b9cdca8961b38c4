// The node's place in the run (SPEC.md 12.1): the round it is in, the global state it trains from
// (weights and outer momentum), the previous aggregate (centered clipping's reference, 8.6), the
// error-feedback residual (6.9) and the round of its previous proof (17.2); restored from and saved
// to STATE/node-state.bin.

import { appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Pieces } from '../codec/pieces.js'
import { decodeState, stateSize } from '../codec/state.js'
import { toHex, weightsHash } from '../crypto/hash.js'
import type { Publisher } from '../gossip/publisher.js'
import { checkCommit } from '../gossip/validate.js'
import type { DeltaStore } from '../store/delta-store.js'
import { loadNodeState, saveNodeState } from '../store/node-state.js'
import type { VoteJournal } from '../store/vote-journal.js'
import type { Trainer } from '../train/trainer.js'
import type { Commit } from '../wire/messages.js'
import type { CommitBook } from './commit-book.js'
import type { OuterState } from './outer.js'

export interface GlobalStateComponents {
  runId: Uint8Array
  peerId: PeerId
  store: DeltaStore
  votes: Pick<VoteJournal, 'allOf'>
  publisher: Pick<Publisher, 'restoreCommit'>
  commits: CommitBook
  trainer: Pick<Trainer, 'optimizerState' | 'setOptimizerState'>
  logger: Logger
}

export interface GlobalStateInit {
  /** the initial weights (W_0, SPEC.md 7.3) */
  weights: Float32Array
  /** the node's state directory; in memory only without one */
  stateDir?: string
}

export class GlobalState {
  /** the global weights and outer momentum the current round trains from */
  state: OuterState
  /** the previous round's aggregate: centered clipping's reference point (SPEC.md 8.6) */
  reference?: Float32Array
  /** error-feedback residual (SPEC.md 6.9): what earlier encodings dropped */
  residual?: Float32Array
  /** the round of this node's previous proof since it started (its optimizer state's origin) */
  lastProofRound: number | null = null
  /** the round this node is in */
  round = 0

  constructor(
    private readonly components: GlobalStateComponents,
    private readonly init: GlobalStateInit,
  ) {
    this.state = { weights: init.weights, momentum: new Float32Array(init.weights.length) }
  }

  get weights(): Float32Array {
    return this.state.weights
  }

  /**
   * Hash of the current global weights (SPEC.md 4.2), computed once per weight vector: the round,
   * its commit and every status request (the page asks each second) read it, and hashing a large
   * model's weights takes seconds. Weight vectors are replaced, never written in place.
   */
  get weightsHash(): Uint8Array {
    const { weights } = this.state
    if (this.hashed?.weights !== weights) this.hashed = { weights, hash: weightsHash(weights) }
    return this.hashed.hash
  }

  /** Hash of the current global weights (hex). */
  get weightsHashHex(): string {
    return toHex(this.weightsHash)
  }

  private hashed?: { weights: Float32Array; hash: Uint8Array }

  /**
   * Adopts an encoded global state (a restart, or a sync from peers, SPEC.md 12), after checking
   * it is the one `expected` names: the round its commits are of and their weights hash.
   */
  adopt(encoded: Uint8Array, expected?: { round: number; weightsHash: string }): { round: number } {
    const state = decodeState(encoded, this.state.weights.length)
    if (expected && state.round !== expected.round)
      throw new Error(`the state is of round ${state.round}, the commits of round ${expected.round}`)
    if (expected && toHex(weightsHash(state.weights)) !== expected.weightsHash)
      throw new Error('the weights do not hash to the committed hash')
    this.state = { weights: state.weights, momentum: state.momentum }
    this.reference = state.reference
    this.round = state.round + 1
    return { round: state.round }
  }

  /**
   * Loads STATE/node-state.bin when there is one (a restart, SPEC.md 12.1): the state, the
   * optimizer's moments, the residual and the last proof round. Returns the round it resumes
   * after, or null for a fresh start.
   */
  async restore(): Promise<number | null> {
    const { stateDir } = this.init
    if (!stateDir) return null
    const saved = await loadNodeState(stateDir, this.components.runId)
    if (!saved) return null
    const { round } = this.adopt(saved.global)
    await this.components.trainer.setOptimizerState(saved.optimizer)
    this.residual = saved.residual
    this.lastProofRound = saved.lastProofRound
    const stateRoot = this.components.store.put(round, saved.global)
    this.components.commits.setOwn(round, {
      weightsHash: this.weightsHashHex,
      stateRoot,
      stateSize: saved.global.length,
    })
    this.components.logger.info(
      { round, weightsHash: this.weightsHashHex.slice(0, 16) },
      'resumed from the state directory',
    )
    // Its commit of the saved round, for peers still holding that round open (they need it to
    // decide it, and re-commit it to ask: Publisher.republish), and its vote for the next one.
    await this.restoreVote(round, this.weightsHashHex)
    await this.restoreVote(round + 1)
    return round
  }

  /**
   * The commits this node published for `round` before it stopped (VoteJournal, SPEC.md 12.5). For
   * the round after its saved state: the latest is its vote, counted and published again, so that
   * a state decided with it stays decided (a node saves every round it closes, so no later round
   * can hold a vote of it); the earlier ones are remembered for the recall rule (12.2). For the
   * saved round (`savedWeightsHash` given): the latest is published again, and kept for
   * Publisher.republish, for peers that still hold that round open and need it to decide.
   */
  private async restoreVote(round: number, savedWeightsHash?: string): Promise<void> {
    const { votes, commits, publisher, logger } = this.components
    const kept: Array<{ signed: Uint8Array; commit?: Commit }> = []
    for (const signed of await votes.allOf(round).catch(() => [] as Uint8Array[]))
      kept.push({ signed, commit: await this.checkOwnCommit(signed, round) })
    // A latest commit that fails the checks is no vote: an earlier one is not put in its place.
    const latest = kept.at(-1)
    if (latest?.commit === undefined) return
    const record = (c: Commit) => ({
      weightsHash: toHex(c.weightsHash),
      stateRoot: c.stateRoot,
      stateSize: c.stateSize,
    })
    // The saved round's commit is published again only if it names the state saved (the node's
    // own record of that round comes from the saved bytes); the next round's counts as its vote.
    const own = commits.ownOf(round)
    if (savedWeightsHash !== undefined) {
      if (
        toHex(latest.commit.weightsHash) !== savedWeightsHash ||
        toHex(latest.commit.stateRoot) !== toHex(own?.stateRoot ?? new Uint8Array(0))
      )
        return
    } else {
      for (const { commit } of kept.slice(0, -1)) if (commit) commits.addEarlier(round, record(commit))
      commits.setOwn(round, record(latest.commit))
    }
    await publisher.restoreCommit(round, latest.signed).catch(() => {})
    logger.info(
      { round, weightsHash: toHex(latest.commit.weightsHash).slice(0, 16), earlier: kept.length - 1 },
      savedWeightsHash === undefined
        ? 'took up the vote this node published before it stopped'
        : 'published again its commit of the round it resumes after',
    )
  }

  /**
   * A commit from the vote journal, checked as a peer's commit would be (SPEC.md 5.5): this run's,
   * signed by this node, of `round`, naming a state of this model's size; undefined otherwise.
   */
  private async checkOwnCommit(signed: Uint8Array, round: number): Promise<Commit | undefined> {
    const { runId, peerId } = this.components
    try {
      const stateBytes = stateSize(this.weights.length)
      const checked = await checkCommit(signed, peerId, { runId, currentRound: round, stateSize: stateBytes })
      return checked.message.round === round ? checked.message : undefined
    } catch {
      return undefined
    }
  }

  /**
   * Saves the node's state (after a decided round or a state sync) and appends to the round log;
   * `global` (whole, or its pieces: statePieces) undefined: the round log only (the round's state
   * was not the decided one).
   */
  async persist(global: Uint8Array | Pieces | undefined, report?: object): Promise<void> {
    const dir = this.init.stateDir
    if (!dir) return
    if (global)
      await saveNodeState(dir, {
        runId: this.components.runId,
        global,
        optimizer: await this.components.trainer.optimizerState(),
        residual: this.residual,
        lastProofRound: this.lastProofRound,
      })
    if (report) await appendFile(join(dir, 'rounds.jsonl'), `${JSON.stringify(report)}\n`, { mode: 0o600 })
  }
}

export const createGlobalState =
  (init: GlobalStateInit) =>
  (components: GlobalStateComponents): GlobalState =>
    new GlobalState(components, init)
