// The round's decisions (SPEC.md 11, 12.2) as pure functions of what the node has seen and the
// time: when the collect phase ends or its deadline is extended, when the settle step ends, and
// whether a node waits for its last round to be decided. The node (src/node/node.ts) gathers the
// facts and acts on the answer; test/unit/policy.test.ts runs each decision through a table.

/** What the collect phase (SPEC.md 11, step 3) knows when it decides. All times in ms. */
export interface CollectView {
  now: number
  /** deltas of the round that arrived, usable or not (a peer on another state sends no other) */
  arrived: number
  /**
   * of the peers that committed the previous round's decided state (other than this node), how
   * many have not delivered a delta of this round yet; undefined when that state's voters are not
   * known (round 0, or commits forgotten across a restart): then `expectedPeers` deltas end collect
   */
  awaitedMissing?: number
  /** of them, valid and trained from this node's W_r */
  valid: number
  expectedPeers: number
  minPeers: number
  /** a later round is decided: the peers have closed this one (SPEC.md 12.2) */
  networkAhead: boolean
  stopped: boolean
  /** when collect began, and its current deadline */
  startedAt: number
  deadline: number
  /** the adaptive deadline's length (11.2), and whether it was extended already (11.3) */
  deadlineMs: number
  extended: boolean
  collectTimeoutMs: number
  /** the longest the node waits before it looks again (it re-announces in between) */
  pollMs: number
}

export type CollectDecision =
  | { action: 'end'; deadlineHit: boolean; why: 'all-arrived' | 'stopped' | 'network-ahead' | 'deadline' }
  | { action: 'extend'; deadline: number; extraMs: number }
  | { action: 'wait'; waitMs: number }

/**
 * SPEC.md 11, step 3: collect ends once the delta of every peer that committed the previous
 * decided state arrived (when those are not known, `expectedPeers` deltas), when the node stops,
 * when the network has closed the round (the node is behind and catches up next), or at the
 * deadline with a quorum. Below quorum the deadline is extended once, by its own length and at
 * least to collectTimeoutMs after collect began (11.3): an adaptive deadline learned while peers
 * were quick must not split a network in which one peer is late.
 */
export function collectDecision(v: CollectView): CollectDecision {
  // A run may grow past the genesis's expectedPeers: counting arrivals would then end collect
  // before the slowest previous committer delivered, and leave its delta out every round.
  const allArrived = v.awaitedMissing === undefined ? v.arrived >= v.expectedPeers : v.awaitedMissing === 0
  if (allArrived) return { action: 'end', deadlineHit: false, why: 'all-arrived' }
  if (v.stopped) return { action: 'end', deadlineHit: true, why: 'stopped' }
  if (v.networkAhead) return { action: 'end', deadlineHit: true, why: 'network-ahead' }
  if (v.now >= v.deadline) {
    if (v.valid >= v.minPeers || v.extended) return { action: 'end', deadlineHit: true, why: 'deadline' }
    const extraMs = Math.max(v.deadlineMs, v.startedAt + v.collectTimeoutMs - v.now)
    return { action: 'extend', deadline: v.now + extraMs, extraMs }
  }
  return { action: 'wait', waitMs: Math.min(v.deadline - v.now, v.pollMs) }
}

/** What the settle step (SPEC.md 11, step 6) knows after this node committed its state. */
export interface SettleView {
  now: number
  deadline: number
  stopped: boolean
  /** deltas listed in peers' commits that this node holds and can add: the set grows */
  canGrow: boolean
  /**
   * a shard result this node applied was shown wrong since (SPEC.md 18.7): the round is
   * recomputed with the same set, without it
   */
  refuted?: boolean
  /** the weights hash this node committed */
  ownHash: string
  /** for each contributor of this node's set, the weights hash it committed (undefined: none yet) */
  contributorHashes: ReadonlyArray<string | undefined>
  /** the decided state of the round, when it is another state than this node's (12.2) */
  lostTo?: { peers: number }
  /** whether the round has a decided state (12.2) yet: this node's own, another, or none */
  decided: 'own' | 'other' | undefined
  /** a later round is decided: the network closed this round without this node */
  networkAhead: boolean
  expectedPeers: number
  pollMs: number
}

export type SettleDecision =
  | { action: 'recompute' }
  | { action: 'end'; why: 'settled' | 'outvoted' | 'timeout' | 'stopped' | 'network-ahead' }
  | { action: 'wait'; waitMs: number }
  | { action: 'hold'; waitMs: number }

/**
 * SPEC.md 11, step 6: the set grows by the deltas peers aggregated and this node left out, and
 * the round is recomputed. The round ends when the node stops; when a later round is decided (the
 * network went on; reconciliation catches up); when a majority of the expected peers committed
 * another state (its set cannot grow to theirs, and the reconciliation after the round adopts
 * theirs); once its own state is decided and every contributor committed it; or at the settle
 * timeout, if the round is decided. An undecided round is held open past the timeout (12.5): the
 * node does not train the next round from a state no majority holds, and keeps growing its set
 * as peers come back.
 */
export function settleDecision(v: SettleView): SettleDecision {
  if (v.canGrow || v.refuted) return { action: 'recompute' }
  if (v.stopped) return { action: 'end', why: 'stopped' }
  if (v.networkAhead) return { action: 'end', why: 'network-ahead' }
  if (v.lostTo && v.lostTo.peers > v.expectedPeers / 2) return { action: 'end', why: 'outvoted' }
  if (v.decided === 'own' && v.contributorHashes.every((hash) => hash === v.ownHash))
    return { action: 'end', why: 'settled' }
  if (v.now >= v.deadline) {
    if (v.decided !== undefined) return { action: 'end', why: 'timeout' }
    return { action: 'hold', waitMs: v.pollMs }
  }
  return { action: 'wait', waitMs: Math.min(v.deadline - v.now, v.pollMs) }
}

/**
 * SPEC.md 12.2: a node whose state lost round R - 1 (another state was decided) while its last
 * round R is undecided waits, up to collectTimeoutMs, for R's decision before its next round.
 * After a healed partition the faster half would otherwise start each round before the slower
 * half's commits arrive, and never apply a decision.
 */
export function awaitLastRound(v: { lostBeforeLast: boolean; lastDecided: boolean }): boolean {
  return v.lostBeforeLast && !v.lastDecided
}

/** A round with commits, as reconciliation (SPEC.md 12.2) sees it. State roots in hex. */
export interface RoundCommits {
  round: number
  /** the decided state's root and the peers that committed it; undefined while undecided */
  decided?: { stateRoot: string; peers: readonly string[] }
  /** this node's own commit of the round, if it made one */
  ownStateRoot?: string
}

export type ReconcileDecision =
  | { action: 'stay' }
  | { action: 'sync'; round: number; why: 'behind' | 'minority'; sources: string[] }

/**
 * SPEC.md 12.2: the most recent round, not older than the node's last one, whose state is
 * decided. If it is ahead of the node (the node is behind), or it is the node's last round and
 * the node committed another state (the node is in the minority), the node fetches the decided
 * state from the peers that committed it; otherwise it stays.
 */
export function reconcileDecision(v: {
  currentRound: number
  self: string
  rounds: readonly RoundCommits[]
}): ReconcileDecision {
  const candidates = v.rounds.filter((r) => r.round >= v.currentRound - 1).sort((a, b) => b.round - a.round)
  for (const r of candidates) {
    if (r.decided === undefined) continue
    const behind = r.round >= v.currentRound
    const lost = r.ownStateRoot !== undefined && r.ownStateRoot !== r.decided.stateRoot
    if (!behind && !lost) return { action: 'stay' }
    return {
      action: 'sync',
      round: r.round,
      why: behind ? 'behind' : 'minority',
      sources: r.decided.peers.filter((p) => p !== v.self),
    }
  }
  return { action: 'stay' }
}

export type CatchUpOutcome = 'synced' | 'in-step' | 'behind' | 'held' | 'no-commits'

export type CatchUpDecision =
  | { action: 'end'; outcome: Exclude<CatchUpOutcome, 'synced'> }
  | { action: 'wait'; waitMs: number; deadline: number; extended: CatchUpExtension }

/** How the wait was changed by the commits seen: not yet, for a held round, or for a later one. */
export type CatchUpExtension = 'none' | 'held' | 'later'

/**
 * After a restart (SPEC.md 12.1, 12.2), once a reconciliation did not sync: the node is in step
 * when peers committed the round it resumed after and none later. Commits of a round after the
 * node's current one without a decided state (one peer's commit arrived before the others', or
 * the node subscribed in the middle of a round's commits) extend the wait once, to `aheadWaitMs`
 * from then: the next round's commits decide it, rather than the node training a round the others
 * closed. Commits of its current round only, still undecided `heldWaitMs` after they came, are of
 * a round its peers hold open (12.5): they wait for more votes, this node's among them, so it
 * ends the wait ('held') and trains that round. At the deadline it is 'behind' (later commits
 * came; the next rounds' reconciliation goes on trying) or 'no-commits' (no commit came: the
 * others are restarting too, or not there).
 */
export function catchUpDecision(v: {
  now: number
  deadline: number
  extended: CatchUpExtension
  aheadWaitMs: number
  heldWaitMs: number
  currentRound: number
  /** the rounds of the commits held */
  rounds: readonly number[]
  stopped: boolean
  pollMs: number
}): CatchUpDecision {
  const later = v.rounds.some((r) => r > v.currentRound)
  const held = !later && v.rounds.includes(v.currentRound)
  if (!later && !held && v.rounds.includes(v.currentRound - 1)) return { action: 'end', outcome: 'in-step' }
  let { deadline, extended } = v
  if (later && extended !== 'later') {
    extended = 'later'
    deadline = Math.max(deadline, v.now + v.aheadWaitMs)
  } else if (held && extended === 'none') {
    extended = 'held'
    deadline = Math.min(deadline, v.now + v.heldWaitMs)
  }
  if (v.now >= deadline || v.stopped)
    return { action: 'end', outcome: later ? 'behind' : held ? 'held' : 'no-commits' }
  return { action: 'wait', waitMs: Math.min(v.pollMs, deadline - v.now), deadline, extended }
}

/**
 * After the last round (SPEC.md 11): a node keeps serving until every expected peer committed the
 * same weights as it did (a minority peer may still need its state), or the collect timeout.
 */
export function lingerDecision(v: {
  now: number
  deadline: number
  stopped: boolean
  /** commits of the last round held, this node's own included */
  committed: number
  /** every commit held names this node's weights */
  agreed: boolean
  expectedPeers: number
  pollMs: number
  /**
   * when a peer last re-committed the round (clock ms): a peer re-commits only while it holds
   * the round open, so it may still lack this node's commit (SPEC.md 12.5)
   */
  lastRecommitAt?: number
  /** how long no peer must have re-committed before the node leaves: 2 x limits.reannounceMs */
  quietMs: number
}): { action: 'end' } | { action: 'wait'; waitMs: number } {
  if (v.now >= v.deadline || v.stopped) return { action: 'end' }
  const quietFor = v.lastRecommitAt === undefined ? Number.POSITIVE_INFINITY : v.now - v.lastRecommitAt
  if (v.committed >= v.expectedPeers && v.agreed && quietFor >= v.quietMs) return { action: 'end' }
  return { action: 'wait', waitMs: Math.min(v.deadline - v.now, v.pollMs) }
}

/**
 * Before the first round: wait until `count` peers (this node included) are subscribed to the
 * delta topic, or until at least one other is and no more came for `settleMs` (peers reachable
 * only through others are found by gossip), or the timeout.
 */
export function peersDecision(v: {
  now: number
  deadline: number
  peers: number
  count: number
  /** when `peers` last changed */
  lastChange: number
  settleMs: number
  stopped: boolean
}): boolean {
  return (
    v.peers >= v.count ||
    v.now >= v.deadline ||
    v.stopped ||
    (v.peers > 1 && v.now - v.lastChange >= v.settleMs)
  )
}

/**
 * The contributions a round aggregates: at most `max` (limits.maxCommitDeltaHashes, as a commit
 * lists every delta aggregated, SPEC.md 5.5 and 11 step 4). When more are valid, those with the
 * lowest delta hashes, so that nodes holding the same valid set aggregate the same ones.
 */
export function capContributions<T extends { id: Uint8Array }>(contributions: T[], max: number): T[] {
  if (contributions.length <= max) return contributions
  return [...contributions].sort((a, b) => Buffer.compare(a.id, b.id)).slice(0, max)
}
