// The deltas a node knows of, by round and peer (SPEC.md 5.3, 10.4, 11.1): their state (fetching,
// valid, failed, excluded), their decoded values once verified, the contribution check's decision,
// the equivocation evidence (5.6), and when each delta arrived (the adaptive deadline's input,
// 11.2). Rounds are forgotten as the round advances (LIMITS.keptDeltaRounds).

import type { PeerId } from '@libp2p/interface'
import type { VectorSource } from '../aggregate/blocks.js'
import type { Contribution } from '../aggregate/rules.js'
import { LIMITS } from '../constants.js'
import { toHex } from '../crypto/hash.js'
import type { Equivocation } from '../gossip/validate.js'
import type { ChunkAssembly } from '../net/transfer.js'
import type { Changes, Clock } from '../util/clock.js'
import { DEADLINE_HISTORY_ROUNDS } from './deadline.js'

export interface PeerDelta {
  deltaHash: Uint8Array
  /** weights hash of the state the peer trained from (announcement field 5); absent if excluded */
  baseHash?: Uint8Array
  /** 'excluded': the peer equivocated in this round; none of its deltas for it count (SPEC.md 5.6) */
  state: 'fetching' | 'valid' | 'failed' | 'excluded'
  /** the verified delta's values, decoded block by block as they are read (SPEC.md 8.13) */
  values?: VectorSource
  /** when the delta became valid (clock ms): arrival delays feed the adaptive deadline */
  validAt?: number
  /** why the fetch failed; 'unavailable' deltas are fetched again when re-announced */
  failure?: string
  /** the signed announcement as received, kept as evidence should the peer equivocate */
  envelope: Uint8Array
  /** the contribution check's decision, once made (the settle step must not score a delta twice) */
  kept?: boolean
  /**
   * a sharded exchange's delta (SPEC.md 18.3): only the chunks of this node's shards were fetched;
   * `values` reads them, and the fetcher fetches more into `assembly` from `sources` when a range
   * outside them is needed
   */
  partial?: { assembly: ChunkAssembly; sources: PeerId[]; fetching: Promise<void> }
}

export interface DeltaBookComponents {
  clock: Clock
  changes: Changes
}

export interface DeltaBookInit {
  /** this node's peer id: its own delta is not an arrival */
  self: string
}

export class DeltaBook {
  private readonly deltas = new Map<number, Map<string, PeerDelta>>()
  /** verified equivocation evidence by round (at most LIMITS.maxEvidencePerRound per round) */
  readonly evidence = new Map<number, Equivocation[]>()
  private readonly roundStartedAt = new Map<number, number>()
  /** seconds spent validating the peers' deltas, by round (RoundReport.stepSeconds.validate) */
  private readonly validation = new Map<number, number>()
  /** arrival times (ms after the round began) of the other peers' deltas, oldest round first */
  private readonly delays: number[][] = []

  constructor(
    private readonly components: DeltaBookComponents,
    private readonly init: DeltaBookInit,
  ) {}

  get(round: number, peer: string): PeerDelta | undefined {
    return this.deltas.get(round)?.get(peer)
  }

  entries(round: number): Iterable<[string, PeerDelta]> {
    return this.deltas.get(round)?.entries() ?? []
  }

  /** Records a peer's delta of `round` (a new announcement, or this node's own), replacing any. */
  set(round: number, peer: string, entry: PeerDelta): PeerDelta {
    const byPeer = this.deltas.get(round) ?? new Map<string, PeerDelta>()
    this.deltas.set(round, byPeer)
    byPeer.set(peer, entry)
    return entry
  }

  /** A fetched delta verified and decoded (SPEC.md 10.4, 6.8); ignored for an excluded peer. */
  markValid(entry: PeerDelta, values: VectorSource): void {
    if (entry.state === 'excluded') return
    entry.values = values
    entry.state = 'valid'
    entry.validAt = this.components.clock.now()
    this.components.changes.notify()
  }

  markFailed(entry: PeerDelta, reason: string): void {
    if (entry.state !== 'excluded') {
      entry.state = 'failed'
      entry.failure = reason
    }
    this.components.changes.notify()
  }

  /**
   * Records verified equivocation evidence (SPEC.md 5.6) and excludes the peer's contribution to
   * that round. Returns false when the evidence was known already or the round holds its most.
   */
  exclude(e: Equivocation): boolean {
    const peer = e.signer.toString()
    const list = this.evidence.get(e.round) ?? []
    if (list.some((x) => x.signer.toString() === peer)) return false
    if (list.length >= LIMITS.maxEvidencePerRound) return false
    list.push(e)
    this.evidence.set(e.round, list)
    const entry = this.get(e.round, peer)
    if (entry !== undefined) {
      entry.state = 'excluded'
      entry.values = undefined
    } else
      this.set(e.round, peer, {
        deltaHash: e.first.message.deltaHash,
        state: 'excluded',
        envelope: e.first.body,
      })
    this.components.changes.notify()
    return true
  }

  /**
   * The round's valid deltas trained from the state whose weights hash is `baseHex` (SPEC.md
   * 11.1): a delta of a peer on another state (one in the minority, or a straggler that has not
   * synced yet) is a change of other weights and is left out, or nodes on different states would
   * mix their lineages and never agree again.
   */
  valid(round: number, baseHex: string): Contribution[] {
    const out: Contribution[] = []
    for (const entry of this.deltas.get(round)?.values() ?? []) {
      if (entry.state !== 'valid' || !entry.values) continue
      if (entry.baseHash && toHex(entry.baseHash) !== baseHex) continue
      out.push({ id: entry.deltaHash, values: entry.values })
    }
    return out
  }

  /** Peers whose delta for the round arrived and verified, whatever state they trained from. */
  arrived(round: number): number {
    let count = 0
    for (const entry of this.deltas.get(round)?.values() ?? []) if (entry.state === 'valid') count++
    return count
  }

  /** The other peers whose deltas are among `contributions`. */
  contributorsOf(round: number, contributions: readonly Contribution[]): string[] {
    const ids = new Set(contributions.map((c) => toHex(c.id)))
    const peers: string[] = []
    for (const [peer, entry] of this.entries(round))
      if (peer !== this.init.self && ids.has(toHex(entry.deltaHash))) peers.push(peer)
    return peers
  }

  /** Adds the time one delta of `round` took to validate. */
  addValidation(round: number, seconds: number): void {
    this.validation.set(round, (this.validation.get(round) ?? 0) + seconds)
  }

  validationSeconds(round: number): number {
    return this.validation.get(round) ?? 0
  }

  roundStarted(round: number): void {
    this.roundStartedAt.set(round, this.components.clock.now())
  }

  startedAt(round: number): number | undefined {
    return this.roundStartedAt.get(round)
  }

  /** Keeps the arrival times (since the round began) of the other peers' deltas of `round`. */
  recordArrivals(round: number): void {
    const started = this.roundStartedAt.get(round)
    if (started === undefined) return
    const delays: number[] = []
    for (const [peer, entry] of this.entries(round))
      if (peer !== this.init.self && entry.state === 'valid' && entry.validAt !== undefined)
        delays.push(Math.max(0, entry.validAt - started))
    this.delays.push(delays)
    if (this.delays.length > DEADLINE_HISTORY_ROUNDS) this.delays.shift()
    this.roundStartedAt.delete(round)
  }

  /** The arrival delays of the last rounds, oldest first (SPEC.md 11.2). */
  get arrivalDelays(): readonly number[][] {
    return this.delays
  }

  /** Drops what the book holds of `round` (and its evidence). */
  forget(round: number): void {
    this.deltas.delete(round)
    this.evidence.delete(round)
    this.validation.delete(round)
    this.roundStartedAt.delete(round)
  }
}

export const createDeltaBook =
  (init: DeltaBookInit) =>
  (components: DeltaBookComponents): DeltaBook =>
    new DeltaBook(components, init)
