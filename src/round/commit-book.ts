// The model commits a node holds (SPEC.md 5.5, 12): one per peer and round, the latest accepted
// (a re-commit after a sync replaces the earlier one, 12.3), and the node's own, with the decided
// state of a round (12.2) computed from them. Bounded: a flood of commits cannot grow it past
// `maxTracked` records.
import { type CommittedState, decidedState, type StateVotes } from './agreement.js'

export interface CommitRecord extends CommittedState {
  /** the roots of the deltas the committer aggregated (SPEC.md 5.5); the settle step reads them */
  deltaHashes?: Uint8Array[]
}

export interface CommitBookOptions {
  /** this node's peer id (string), which its own commits vote as */
  self: string
  expectedPeers: number
  /** the faults the run's aggregation rule tolerates among `expectedPeers` (SPEC.md 8.9) */
  faults: number
  /** records kept at most, all rounds together */
  maxTracked: number
}

export class CommitBook {
  private readonly theirs = new Map<number, Map<string, CommitRecord>>()
  private readonly own = new Map<number, CommitRecord>()
  /** when a peer last re-committed a round (a commit of a round it had committed before) */
  private readonly recommitted = new Map<number, number>()
  private tracked = 0

  constructor(private readonly options: CommitBookOptions) {}

  /**
   * Records a peer's commit of `round`, replacing its earlier one of that round. Returns false
   * (and records nothing) when the book is full and the peer has no commit of that round yet.
   */
  add(round: number, peer: string, record: CommitRecord): boolean {
    const byPeer = this.theirs.get(round) ?? new Map<string, CommitRecord>()
    if (!byPeer.has(peer)) {
      if (this.tracked >= this.options.maxTracked) return false
      this.tracked++
    }
    byPeer.set(peer, record)
    this.theirs.set(round, byPeer)
    return true
  }

  /**
   * Notes that a peer re-committed `round` at `now` (clock ms): a peer re-publishes its commit
   * only while it holds the round open (SPEC.md 12.5), so it may still lack this node's vote.
   */
  noteRecommit(round: number, now: number): void {
    this.recommitted.set(round, now)
  }

  /** When a peer last re-committed `round`, if one did. */
  lastRecommitAt(round: number): number | undefined {
    return this.recommitted.get(round)
  }

  /** Records (or replaces) this node's own commit of `round`. */
  setOwn(round: number, record: CommitRecord): void {
    this.own.set(round, record)
  }

  ownOf(round: number): CommitRecord | undefined {
    return this.own.get(round)
  }

  /** The other peers' commits of `round`, by peer id. */
  peersOf(round: number): ReadonlyMap<string, CommitRecord> {
    return this.theirs.get(round) ?? new Map()
  }

  /** The rounds of which a peer's commit is held, unordered. */
  rounds(): number[] {
    return [...this.theirs.keys()]
  }

  /**
   * The decided state of `round` (SPEC.md 12.2) from every commit held for it, this node's own
   * included; `ahead`: a round the node has not reached yet.
   */
  decided(round: number, ahead: boolean): StateVotes<CommitRecord> | undefined {
    const commits: Array<[string, CommitRecord]> = [...this.peersOf(round)]
    const own = this.own.get(round)
    if (own) commits.push([this.options.self, own])
    return decidedState(commits, this.options.expectedPeers, this.options.faults, ahead)
  }

  /** Forgets every commit of rounds up to `round`, this node's own included. */
  forgetThrough(round: number): void {
    for (const [r, byPeer] of [...this.theirs]) {
      if (r > round) continue
      this.tracked -= byPeer.size
      this.theirs.delete(r)
    }
    for (const r of [...this.own.keys()]) if (r <= round) this.own.delete(r)
    for (const r of [...this.recommitted.keys()]) if (r <= round) this.recommitted.delete(r)
  }

  /** Records held (other peers' commits, all rounds). */
  get size(): number {
    return this.tracked
  }
}
