// Agreement and catch-up (SPEC.md 12.2-12.4): from the commits a node holds, whether the network
// decided another state than its own or a later round; if so, fetching the decided state from the
// peers that committed it, verifying it and adopting it. Also the waits around a run: a late
// joiner waiting for a decided state, a restarted node catching up, and the linger after the last
// round. The decisions are pure functions (policy.ts); this part gathers their inputs and acts.

import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { piecesSource } from '../codec/pieces.js'
import { LIMITS } from '../constants.js'
import { toHex } from '../crypto/hash.js'
import type { Publisher } from '../gossip/publisher.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { Host } from '../net/host.js'
import { ChunkAssembly, fetchChunkPieces, type TransferCounters } from '../net/transfer.js'
import type { DeltaStore } from '../store/delta-store.js'
import type { VoteJournal } from '../store/vote-journal.js'
import type { Changes, Clock } from '../util/clock.js'
import type { Genesis } from '../wire/genesis.js'
import type { StateVotes } from './agreement.js'
import type { CommitBook, CommitRecord } from './commit-book.js'
import type { DeltaBook } from './delta-book.js'
import type { GlobalState } from './global-state.js'
import {
  awaitLastRound,
  type CatchUpExtension,
  type CatchUpOutcome,
  catchUpDecision,
  lingerDecision,
  reconcileDecision,
} from './policy.js'

export interface SyncComponents {
  host: Host
  peerId: PeerId
  genesis: Genesis
  commits: CommitBook
  deltaBook: Pick<DeltaBook, 'entries'>
  globalState: GlobalState
  store: DeltaStore
  votes: Pick<VoteJournal, 'forgetAfter'>
  publisher: Pick<Publisher, 'commit' | 'reannounceIfDue'>
  counters: TransferCounters
  metrics: NodeMetrics
  logger: Logger
  clock: Clock
  changes: Changes
  signal: AbortSignal
}

export interface SyncInit {
  /** called when the node adopted the network's state of `round` */
  onSynced?: (round: number, weightsHash: string, why: 'behind' | 'minority') => void
}

export class Sync {
  constructor(
    private readonly components: SyncComponents,
    private readonly init: SyncInit = {},
  ) {}

  private get round(): number {
    return this.components.globalState.round
  }

  private get stopped(): boolean {
    return this.components.signal.aborted
  }

  /**
   * Reconciles (SPEC.md 12.2) from the commits received so far; returns true when it synced. A
   * node that lost the round before its last one first waits for its last round's decision: the
   * two halves of a healed partition run in step but a little apart, the faster half starts round
   * R + 1 before the slower half's commits of R arrive, finds R undecided, and would otherwise
   * never apply a decision (the next round's start looks at R + 1).
   */
  async reconcile(): Promise<boolean> {
    if (await this.reconcileOnce()) return true
    const last = this.round - 1
    if (
      !awaitLastRound({
        lostBeforeLast: this.lostRound(last - 1),
        lastDecided: this.decidedOf(last) !== undefined,
      })
    )
      return false
    const { clock, changes, genesis, logger } = this.components
    const deadline = clock.now() + genesis.round.collectTimeoutMs
    logger.info(
      { round: last },
      'lost the round before the last one: waiting for the last round to be decided',
    )
    while (clock.now() < deadline && !this.stopped) {
      await changes.changed(Math.min(500, deadline - clock.now()))
      if (this.decidedOf(last) !== undefined) return await this.reconcileOnce()
    }
    return false
  }

  /** Whether a state other than this node's own commit of `round` was decided (SPEC.md 12.2). */
  lostRound(round: number, ahead = round >= this.round): boolean {
    return this.standing(round, ahead)?.lost ?? false
  }

  /**
   * The decided state of `round` (SPEC.md 12.2) beside this node's own commit of it: `lost` when
   * it is another state. Undefined while undecided, or when this node has no commit of the round.
   */
  standing(
    round: number,
    ahead = round >= this.round,
  ): { top: StateVotes<CommitRecord>; lost: boolean } | undefined {
    const own = this.components.commits.ownOf(round)
    const top = own && this.decidedOf(round, ahead)
    return top && { top, lost: toHex(top.record.stateRoot) !== toHex(own.stateRoot) }
  }

  /**
   * The decided state of `round` (SPEC.md 12.2) from the commits held, this node's own included,
   * and its earlier commits of states a peer went on from (the recall rule): the bases of the
   * peers' announcements of round + 1 say which state each went on from.
   */
  decidedOf(round: number, ahead = round >= this.round): StateVotes<CommitRecord> | undefined {
    const builtOn = new Map<string, string>()
    for (const [peer, delta] of this.components.deltaBook.entries(round + 1))
      if (delta.baseHash !== undefined) builtOn.set(peer, toHex(delta.baseHash))
    return this.components.commits.decided(round, ahead, builtOn)
  }

  /**
   * Whether the network has decided a round after the one this node is running: it is a whole
   * round behind (it was restarted, or it is far slower) and the next reconciliation will sync
   * it. Peers' commits of the current round do not count: a node still fetching the last deltas
   * of a round the others just closed finishes it and settles (SPEC.md 11, step 6).
   */
  networkAhead(): boolean {
    for (const round of this.components.commits.rounds())
      if (round > this.round && this.decidedOf(round) !== undefined) return true
    return false
  }

  /** Waits up to `timeoutMs` for a decided state of some round, then reconciles (a late joiner). */
  async syncFromNetwork(timeoutMs: number): Promise<boolean> {
    const { clock, changes } = this.components
    const deadline = clock.now() + timeoutMs
    for (;;) {
      if (await this.reconcile()) return true
      if (clock.now() >= deadline || this.stopped) return false
      await changes.changed(Math.min(1000, deadline - clock.now()))
    }
  }

  /**
   * After a restart: waits up to `waitMs` for the network's commits; once commits of later rounds
   * came without a decided state, up to `aheadWaitMs` from then; once commits of the node's own
   * next round only came and decide nothing for `heldWaitMs`, no longer: its peers hold that
   * round open and need this node (catchUpDecision).
   */
  async catchUp(waitMs: number, aheadWaitMs = waitMs, heldWaitMs = waitMs): Promise<CatchUpOutcome> {
    const { clock, changes, commits } = this.components
    let deadline = clock.now() + waitMs
    let extended: CatchUpExtension = 'none'
    for (;;) {
      if (await this.reconcile()) return 'synced'
      const decision = catchUpDecision({
        now: clock.now(),
        deadline,
        extended,
        aheadWaitMs,
        heldWaitMs,
        currentRound: this.round,
        rounds: commits.rounds(),
        stopped: this.stopped,
        pollMs: 1000,
      })
      if (decision.action === 'end') return decision.outcome
      ;({ deadline, extended } = decision)
      await changes.changed(decision.waitMs)
    }
  }

  /**
   * After the last round, keeps serving until every expected peer has committed that round with
   * this node's weights, or the collect timeout (lingerDecision). A node that ended the last round
   * in the minority adopts the majority's state as soon as a majority shows. Returns the commits
   * of the round held, this node's own included.
   */
  async linger(round: number): Promise<number> {
    const { clock, changes, commits, genesis, publisher } = this.components
    const { expectedPeers, collectTimeoutMs } = genesis.round
    const deadline = clock.now() + collectTimeoutMs
    for (;;) {
      await this.reconcile()
      const records = [...commits.peersOf(round).values()]
      const own = commits.ownOf(round)
      const committed = records.length + (own ? 1 : 0)
      const decision = lingerDecision({
        now: clock.now(),
        deadline,
        stopped: this.stopped,
        committed,
        agreed: own !== undefined && records.every((r) => r.weightsHash === own.weightsHash),
        expectedPeers,
        pollMs: LIMITS.reannounceMs,
        lastRecommitAt: commits.lastRecommitAt(round),
        quietMs: 2 * LIMITS.reannounceMs,
      })
      if (decision.action === 'end') return committed
      await publisher.reannounceIfDue()
      await changes.changed(decision.waitMs)
    }
  }

  /**
   * What the commits held say, for a node that found no decided state: e.g. "no commit from any
   * of 2 connected peers" or "commits of rounds 7 (1 peer), 9 (2 peers, 2 states), none decided".
   */
  describeCommits(): string {
    const { commits, host } = this.components
    const rounds = commits.rounds().sort((a, b) => a - b)
    const peers = host.getPeers().length
    if (rounds.length === 0) return `no commit from any of ${peers} connected peer${peers === 1 ? '' : 's'}`
    const parts = rounds.map((round) => {
      const records = [...commits.peersOf(round).values()]
      const states = new Set(records.map((r) => toHex(r.stateRoot))).size
      return `${round} (${records.length} peer${records.length === 1 ? '' : 's'}${states > 1 ? `, ${states} states` : ''})`
    })
    return `commits of round${rounds.length === 1 ? '' : 's'} ${parts.join(', ')}, none decided`
  }

  /** One pass of reconcile(), without waiting. */
  private async reconcileOnce(): Promise<boolean> {
    const { commits, peerId } = this.components
    const rounds = commits.rounds().map((round) => {
      const decided = this.decidedOf(round)
      const own = commits.ownOf(round)
      return {
        round,
        decided: decided && { stateRoot: toHex(decided.record.stateRoot), peers: decided.peers },
        ownStateRoot: own && toHex(own.stateRoot),
      }
    })
    const decision = reconcileDecision({ currentRound: this.round, self: peerId.toString(), rounds })
    if (decision.action === 'stay') return false
    return await this.syncState(
      decision.round,
      this.decidedOf(decision.round)!.record,
      decision.sources.map((p) => peerIdFromString(p)),
      decision.why,
    )
  }

  private async syncState(
    round: number,
    record: CommitRecord,
    sources: PeerId[],
    why: 'behind' | 'minority',
  ): Promise<boolean> {
    const { host, counters, globalState, store, commits, metrics, publisher, signal } = this.components
    const log = this.components.logger.child({ round, phase: 'sync' })
    try {
      const assembly = new ChunkAssembly(record.stateRoot, record.stateSize)
      // its sources committed the state: one that answers NOT_FOUND let it go, and is not asked
      // again. Its verified chunks are decoded, stored and saved as they are, never joined into one
      // copy of the state (12 d bytes, issue 17).
      const chunks = await fetchChunkPieces(host, assembly, sources, counters, {
        signal,
        notFoundIsFinal: true,
      })
      globalState.adopt(piecesSource(chunks), { round, weightsHash: record.weightsHash })
      store.put(round, chunks, assembly.tree())
      commits.setOwn(round, { ...record })
      metrics.stateSyncs.inc({ reason: why })
      await globalState.persist(chunks)
      // Votes of later rounds were cast on another state (SPEC.md 12.5): not this node's any more.
      commits.forgetOwnAfter(round)
      await this.components.votes.forgetAfter(round)
      // Say so: a re-commit of the adopted state (SPEC.md 12.3) replaces our earlier commit in
      // the peers' tallies, so that they see the round agreed (and stop waiting at the end of a run).
      await publisher.commit(round, { ...record, deltaHashes: [] }).catch(() => {})
      log.warn(
        { why, sources: sources.length, weightsHash: record.weightsHash.slice(0, 16) },
        'synced the global state from peers',
      )
      this.init.onSynced?.(round, record.weightsHash, why)
      return true
    } catch (err) {
      metrics.stateSyncFailures.inc()
      log.warn({ why, err: (err as Error).message }, 'state sync failed; continuing with the local state')
      return false
    }
  }
}

export const createSync =
  (init: SyncInit) =>
  (components: SyncComponents): Sync =>
    new Sync(components, init)
