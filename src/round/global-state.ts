// The node's place in the run (SPEC.md 12.1): the round it is in, the global state it trains from
// (weights and outer momentum), the previous aggregate (centered clipping's reference, 8.6), the
// error-feedback residual (6.9) and the round of its previous proof (17.2); restored from and saved
// to STATE/node-state.bin. A large model's node parks on disk what it does not need for a while: its
// residual from its announcement to its next encoding (parkResidual, residualNow), its momentum and
// reference from the save of a round's state to the next round's outer step (park, roundStart).

import { appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { ByteSource } from '../codec/delta.js'
import { type Pieces, piecesLength } from '../codec/pieces.js'
import {
  type GlobalState as GlobalStateValues,
  readState,
  readStatePart,
  type StatePart,
  statePieces,
  stateSize,
} from '../codec/state.js'
import { LIMITS } from '../constants.js'
import { toHex, weightsHash } from '../crypto/hash.js'
import { checkedByLeaves } from '../crypto/merkle.js'
import type { Publisher } from '../gossip/publisher.js'
import { checkCommit } from '../gossip/validate.js'
import type { DeltaStore } from '../store/delta-store.js'
import { loadNodeState, saveNodeState } from '../store/node-state.js'
import { parkedVectorBlocks, parkVector, readParkedVector } from '../store/parked-vector.js'
import type { VoteJournal } from '../store/vote-journal.js'
import type { Trainer } from '../train/trainer.js'
import type { Commit } from '../wire/messages.js'
import type { CommitBook } from './commit-book.js'
import type { OuterState } from './outer.js'
import { type ReadBack, RoundStart } from './round-start.js'

export interface GlobalStateComponents {
  runId: Uint8Array
  peerId: PeerId
  store: DeltaStore
  votes: Pick<VoteJournal, 'allOf'>
  publisher: Pick<Publisher, 'restoreCommit'>
  commits: CommitBook
  trainer: Pick<Trainer, 'optimizerState' | 'optimizerReader' | 'setOptimizerState'>
  logger: Logger
}

export interface GlobalStateInit {
  /** the initial weights (W_0, SPEC.md 7.3); not kept once the state moves on */
  weights: Float32Array
  /**
   * W_0 made again (from the genesis), for a round 0 whose outer step was computed in place of
   * them (roundStart); without it, round 0's starting state is kept in memory
   */
  initialWeights?: () => Float32Array
  /** the node's state directory; in memory only without one */
  stateDir?: string
}

export class GlobalState {
  /** the round of this node's previous proof since it started (its optimizer state's origin) */
  lastProofRound: number | null = null
  /** the round this node is in */
  round = 0

  private readonly stateDir?: string
  private readonly initialWeights?: () => Float32Array
  /** the state; without its momentum while parked */
  private current: { weights: Float32Array; momentum?: Float32Array }
  private previousAggregate?: Float32Array
  /** the round whose momentum and reference are parked, and the state object that holds them */
  private parked?: { round: number; root: Uint8Array }
  private heldResidual?: Float32Array
  /** the digest of the residual parked in STATE/residual.parked (parkResidual) */
  private parkedResidual?: Uint8Array

  constructor(
    private readonly components: GlobalStateComponents,
    init: GlobalStateInit,
  ) {
    // Only the state holds W_0: kept here, they would stay resident for the whole run (4 d bytes).
    this.stateDir = init.stateDir
    this.initialWeights = init.initialWeights
    this.current = { weights: init.weights, momentum: new Float32Array(init.weights.length) }
  }

  /** the global weights and outer momentum the current round trains from (not while parked) */
  get state(): OuterState {
    const { weights, momentum } = this.current
    if (momentum === undefined) throw new ParkedError('the outer momentum')
    return { weights, momentum }
  }

  /** Sets the state; its momentum and reference are no longer parked (set the reference too). */
  set state(state: OuterState) {
    this.current = state
    this.parked = undefined
    // an outer step in place (RoundStart) keeps the weights vector and changes its values
    this.hashed = undefined
  }

  /** the previous round's aggregate: centered clipping's reference point (SPEC.md 8.6); undefined: zeros */
  get reference(): Float32Array | undefined {
    if (this.parked !== undefined) throw new ParkedError('the reference')
    return this.previousAggregate
  }

  set reference(reference: Float32Array | undefined) {
    this.previousAggregate = reference
  }

  /** the error-feedback residual (SPEC.md 6.9): what earlier encodings dropped (not while parked) */
  get residual(): Float32Array | undefined {
    if (this.parkedResidual !== undefined) throw new ParkedError('the error-feedback residual', 'residualNow')
    return this.heldResidual
  }

  /** Sets the residual; it is no longer parked. */
  set residual(residual: Float32Array | undefined) {
    this.heldResidual = residual
    this.parkedResidual = undefined
  }

  /** The residual, read back first where it is parked (the round's encoding). */
  async residualNow(): Promise<Float32Array | undefined> {
    const digest = this.parkedResidual
    if (digest !== undefined) {
      this.heldResidual = readParkedVector(this.residualFile!, this.current.weights.length, digest)
      this.parkedResidual = undefined
    }
    return this.heldResidual
  }

  /**
   * Lets go of the error-feedback residual (4 d bytes) until the next encoding reads it back
   * (residualNow): a large model's node writes it to STATE/residual.parked once it announced, and
   * the state write streams it from there (issue 17). Returns the parts it parked: the residual,
   * or none (no state directory, no residual, parked already).
   */
  async parkResidual(): Promise<Array<'residual'>> {
    const residual = this.heldResidual
    if (this.residualFile === undefined || residual === undefined || this.parkedResidual !== undefined)
      return []
    const digest = await parkVector(this.residualFile, residual)
    // set again meanwhile: the file holds an older one
    if (this.heldResidual !== residual || this.parkedResidual !== undefined) return []
    this.parkedResidual = digest
    this.heldResidual = undefined
    return ['residual']
  }

  private get residualFile(): string | undefined {
    return this.stateDir === undefined ? undefined : join(this.stateDir, RESIDUAL_FILE)
  }

  get weights(): Float32Array {
    return this.current.weights
  }

  /**
   * Hash of the current global weights (SPEC.md 4.2), computed once per weight vector: the round,
   * its commit and every status request (the page asks each second) read it, and hashing a large
   * model's weights takes seconds. Weight vectors change only with a new state (the setter).
   */
  get weightsHash(): Uint8Array {
    const { weights } = this.current
    if (this.hashed?.weights !== weights) this.hashed = { weights, hash: weightsHash(weights) }
    return this.hashed.hash
  }

  /** Hash of the current global weights (hex). */
  get weightsHashHex(): string {
    return toHex(this.weightsHash)
  }

  private hashed?: { weights: Float32Array; hash: Uint8Array }

  /**
   * Lets go of the outer momentum and the reference (8 d bytes) until the outer step of the round
   * after `afterRound` reads them back (roundStart), and of the error-feedback residual (4 d bytes)
   * until that round's encoding does (residualNow): a large model's node needs none of them while
   * it evaluates, trains and collects (issue 17). Only where they can be read back: the momentum
   * and reference where the state object this node recorded for `afterRound` is on disk and holds
   * the weights the node holds; the residual (parkResidual) wherever there is a state directory.
   * Called once the state of `afterRound` is saved, and again at the start of the next round
   * (after a restart or a state sync). Returns the parts it parked.
   */
  async park(afterRound: number): Promise<Array<'momentum and reference' | 'residual'>> {
    const parts: Array<'momentum and reference' | 'residual'> = []
    if (this.stateDir === undefined) return parts
    const { commits, store } = this.components
    const at = this.round
    const own = commits.ownOf(afterRound)
    const holdsOurs = () =>
      this.round === at && commits.ownOf(afterRound) === own && own?.weightsHash === this.weightsHashHex
    if (
      this.parked === undefined &&
      (afterRound === at || afterRound === at - 1) &&
      own !== undefined &&
      holdsOurs()
    ) {
      // an adoption may have replaced the state during the wait
      if ((await store.onDisk(own.stateRoot)) && holdsOurs() && this.current.momentum !== undefined) {
        this.current = { weights: this.current.weights }
        this.previousAggregate = undefined
        this.parked = { round: afterRound + 1, root: own.stateRoot }
        parts.push('momentum and reference')
      }
    }
    parts.push(...(await this.parkResidual()))
    return parts
  }

  /**
   * The state `round` (the current one) starts from, for its outer steps (RoundStart). `inPlace`:
   * the outer step is computed in place of it where it can be read back for a recompute, namely
   * when the state object this node recorded for the previous round is on disk (its objects are
   * in the state directory), or in round 0 of a fresh start with a state directory, from W_0 made
   * again. Parts read back must match their chunks of the object's Merkle tree (and the weights,
   * the round's weights hash). Parked parts are always read back.
   */
  async roundStart(round: number, inPlace: boolean): Promise<RoundStart> {
    const { weights, momentum } = this.current
    if (this.parked?.round === round)
      return new RoundStart({ weights }, this.readBack(round, this.parked.root))
    const live = { weights, momentum, reference: this.reference }
    if (!inPlace || this.stateDir === undefined) return new RoundStart(live)
    const root = this.components.commits.ownOf(round - 1)?.stateRoot
    if (root === undefined) {
      const { initialWeights } = this
      if (round !== 0 || initialWeights === undefined) return new RoundStart(live)
      const expected = this.weightsHashHex
      return new RoundStart(live, async (part) => {
        if (part === 'momentum') return new Float32Array(weights.length)
        if (part === 'reference') return undefined
        return checkedWeights(round, initialWeights(), expected, 'the genesis')
      })
    }
    if (!(await this.components.store.onDisk(root))) return new RoundStart(live)
    return new RoundStart(live, this.readBack(round, root))
  }

  /**
   * Reads parts of `round`'s starting state back from the state object `root`, this node's record
   * of the previous round in its store (on disk), each chunk checked against the object's tree.
   */
  private readBack(round: number, root: Uint8Array): ReadBack {
    const { store } = this.components
    const count = this.current.weights.length
    const expected = this.weightsHashHex
    const name = `state object ${toHex(root).slice(0, 16)}`
    const notStored = (what: string) =>
      new Error(`round ${round}'s starting state read back from ${name} is not the object stored: ${what}`)
    return async (part: StatePart) => {
      const held = store.get(root)
      if (held === undefined) throw new Error(`round ${round}'s starting state (${name}) left the store`)
      const source = checkedByLeaves(held.bytes, held.tree, LIMITS.chunkBytes, (i) =>
        notStored(i < 0 ? `${held.size} bytes` : `chunk ${i} differs`),
      )
      const { round: of, values } = readStatePart(source, count, part)
      if (of !== round - 1) throw notStored(`a state of round ${of}`)
      return part === 'weights' ? checkedWeights(round, values, expected, name) : values
    }
  }

  /**
   * Adopts an encoded global state (a restart, or a sync from peers, SPEC.md 12), after checking
   * it is the one `expected` names: the round its commits are of and their weights hash.
   */
  adopt(encoded: ByteSource, expected?: { round: number; weightsHash: string }): { round: number } {
    return this.adoptDecoded(readState(encoded, this.weights.length), expected)
  }

  /** adopt, of a state decoded already (a restart's, read from the state file by range). */
  private adoptDecoded(
    state: GlobalStateValues,
    expected?: { round: number; weightsHash: string },
  ): { round: number } {
    if (state.weights.length !== this.weights.length)
      throw new Error(`the state holds ${state.weights.length} parameters, the model ${this.weights.length}`)
    if (expected && state.round !== expected.round)
      throw new Error(`the state is of round ${state.round}, the commits of round ${expected.round}`)
    if (expected && toHex(weightsHash(state.weights)) !== expected.weightsHash)
      throw new Error('the weights do not hash to the committed hash')
    this.state = { weights: state.weights, momentum: state.momentum }
    this.previousAggregate = state.reference
    this.round = state.round + 1
    return { round: state.round }
  }

  /**
   * Loads STATE/node-state.bin when there is one (a restart, SPEC.md 12.1): the state, the
   * optimizer's moments, the residual and the last proof round. Returns the round it resumes
   * after, or null for a fresh start.
   */
  async restore(): Promise<number | null> {
    const { stateDir } = this
    if (!stateDir) return null
    const saved = await loadNodeState(stateDir, this.components.runId)
    if (!saved) return null
    const { round } = this.adoptDecoded(saved.global)
    await this.components.trainer.setOptimizerState(saved.optimizer)
    this.residual = saved.residual
    this.lastProofRound = saved.lastProofRound
    // served as its pieces, views of the adopted vectors (no encoded copy of 12 d bytes)
    const pieces = statePieces(saved.global)
    const stateRoot = this.components.store.put(round, pieces)
    this.components.commits.setOwn(round, {
      weightsHash: this.weightsHashHex,
      stateRoot,
      stateSize: piecesLength(pieces),
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
   * Saves the node's state (after a decided round or a state sync): `global` whole, or its pieces
   * (statePieces). A parked residual is streamed from its file, checked, and stays parked.
   */
  async persist(global: Uint8Array | Pieces): Promise<void> {
    const dir = this.stateDir
    if (!dir) return
    const { trainer } = this.components
    const digest = this.parkedResidual
    const count = this.current.weights.length
    await saveNodeState(dir, {
      runId: this.components.runId,
      global,
      // the torch worker's moments by range, never both in the node at once (issue 17)
      optimizer: trainer.optimizerReader?.() ?? (await trainer.optimizerState()),
      residual:
        digest === undefined
          ? this.heldResidual
          : () => parkedVectorBlocks(this.residualFile!, count, digest),
      lastProofRound: this.lastProofRound,
    })
  }

  /** Appends a round's report to STATE/rounds.jsonl. */
  async logRound(report: object): Promise<void> {
    const dir = this.stateDir
    if (dir) await appendFile(join(dir, 'rounds.jsonl'), `${JSON.stringify(report)}\n`, { mode: 0o600 })
  }
}

/** Where a large model's node parks its residual between its announcement and its next encoding. */
export const RESIDUAL_FILE = 'residual.parked'

/** A part of the state read while it is parked on disk (GlobalState.park): a defect of its caller. */
class ParkedError extends Error {
  constructor(part: string, reader = 'roundStart') {
    super(`${part} is parked on disk while the round trains: read it through ${reader}`)
  }
}

/** `weights` read back for `round`, checked against the weights hash it started from. */
function checkedWeights(round: number, weights: Float32Array, expected: string, from: string): Float32Array {
  if (toHex(weightsHash(weights)) !== expected)
    throw new Error(
      `round ${round}'s starting state read back from ${from} does not hash to the weights the round started from`,
    )
  return weights
}

export const createGlobalState =
  (init: GlobalStateInit) =>
  (components: GlobalStateComponents): GlobalState =>
    new GlobalState(components, init)
