// The model commits a node holds (SPEC.md 5.5, 12): one per peer and round, the latest accepted
// (a re-commit after a sync replaces the earlier one, 12.3), and the node's own, with the decided
// state of a round (12.2) computed from them. It also remembers the other states this node
// committed for a round before its latest (12.2, the recall rule). Bounded: a flood of commits
// cannot grow it past `maxTracked` records.
import { type CommittedState, decidedState, type StateVotes, stateKey } from './agreement.js'

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
  /** the other states this node committed for a round before its latest commit, oldest first */
  private readonly ownEarlier = new Map<number, CommitRecord[]>()
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

  /**
   * Records (or replaces) this node's own commit of `round`; a replaced commit of another state is
   * remembered as an earlier one. Bounded: one entry per state, and a node commits a new state of
   * a round only when its set grows (sets only grow) or when it adopts the network's state.
   */
  setOwn(round: number, record: CommitRecord): void {
    const previous = this.own.get(round)
    this.own.set(round, record)
    if (previous !== undefined) this.addEarlier(round, previous)
    const earlier = this.ownEarlier.get(round)
    if (earlier !== undefined)
      this.ownEarlier.set(
        round,
        earlier.filter((r) => stateKey(r) !== stateKey(record)),
      )
  }

  /** Remembers a state this node committed for `round` before its latest commit (after a restart). */
  addEarlier(round: number, record: CommitRecord): void {
    const own = this.own.get(round)
    if (own !== undefined && stateKey(own) === stateKey(record)) return
    const earlier = this.ownEarlier.get(round) ?? []
    if (earlier.some((r) => stateKey(r) === stateKey(record))) return
    earlier.push(record)
    this.ownEarlier.set(round, earlier)
  }

  /** The other states this node committed for `round` before its latest commit, oldest first. */
  earlierOf(round: number): readonly CommitRecord[] {
    return this.ownEarlier.get(round) ?? []
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
   * included; `ahead`: a round the node has not reached yet. `builtOn`: by peer, the weights hash
   * its delta of round + 1 was trained from, for the recall rule over this node's earlier commits.
   */
  decided(
    round: number,
    ahead: boolean,
    builtOn: ReadonlyMap<string, string> = new Map(),
  ): StateVotes<CommitRecord> | undefined {
    const commits: Array<[string, CommitRecord]> = [...this.peersOf(round)]
    const own = this.own.get(round)
    if (own) commits.push([this.options.self, own])
    const recall = { self: this.options.self, earlier: this.earlierOf(round), builtOn }
    return decidedState(commits, this.options.expectedPeers, this.options.faults, ahead, recall)
  }

  /**
   * Forgets this node's own commits (latest and earlier) of the rounds after `round`: it adopted
   * another lineage's state of `round`, and its votes of later rounds were cast on another state
   * (SPEC.md 12.5), as the vote journal forgets them.
   */
  forgetOwnAfter(round: number): void {
    for (const r of [...this.own.keys()]) if (r > round) this.own.delete(r)
    for (const r of [...this.ownEarlier.keys()]) if (r > round) this.ownEarlier.delete(r)
  }

  /** Forgets every commit of rounds up to `round`, this node's own included. */
  forgetThrough(round: number): void {
    for (const [r, byPeer] of [...this.theirs]) {
      if (r > round) continue
      this.tracked -= byPeer.size
      this.theirs.delete(r)
    }
    for (const r of [...this.own.keys()]) if (r <= round) this.own.delete(r)
    for (const r of [...this.ownEarlier.keys()]) if (r <= round) this.ownEarlier.delete(r)
    for (const r of [...this.recommitted.keys()]) if (r <= round) this.recommitted.delete(r)
  }

  /** Records held (other peers' commits, all rounds). */
  get size(): number {
    return this.tracked
  }
}
