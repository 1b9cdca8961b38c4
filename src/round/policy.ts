// The round's decisions (SPEC.md 11, 12.2) as pure functions of what the node has seen and the
// time: when the collect phase ends or its deadline is extended, when the settle step ends, and
// whether a node waits for its last round to be decided. The node (src/node/node.ts) gathers the
// facts and acts on the answer; test/unit/policy.test.ts runs each decision through a table.

/** What the collect phase (SPEC.md 11, step 3) knows when it decides. All times in ms. */
export interface CollectView {
  now: number
  /** deltas of the round that arrived, usable or not (a peer on another state sends no other) */
  arrived: number
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
 * SPEC.md 11, step 3: collect ends once every expected peer's delta arrived, when the node stops,
 * when the network has closed the round (the node is behind and catches up next), or at the
 * deadline with a quorum. Below quorum the deadline is extended once, by its own length and at
 * least to collectTimeoutMs after collect began (11.3): an adaptive deadline learned while peers
 * were quick must not split a network in which one peer is late.
 */
export function collectDecision(v: CollectView): CollectDecision {
  if (v.arrived >= v.expectedPeers) return { action: 'end', deadlineHit: false, why: 'all-arrived' }
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
  /** the weights hash this node committed */
  ownHash: string
  /** for each contributor of this node's set, the weights hash it committed (undefined: none yet) */
  contributorHashes: ReadonlyArray<string | undefined>
  /** the decided state of the round, when it is another state than this node's (12.2) */
  lostTo?: { peers: number }
  expectedPeers: number
  pollMs: number
}

export type SettleDecision =
  | { action: 'recompute' }
  | { action: 'end'; why: 'settled' | 'outvoted' | 'timeout' | 'stopped' }
  | { action: 'wait'; waitMs: number }

/**
 * SPEC.md 11, step 6: the set grows by the deltas peers aggregated and this node left out, and
 * the round is recomputed; it ends once every contributor committed this node's weights; when a
 * majority of the expected peers committed another state (its set cannot grow to theirs, and the
 * reconciliation after the round adopts theirs); at the settle timeout; or when the node stops.
 */
export function settleDecision(v: SettleView): SettleDecision {
  if (v.canGrow) return { action: 'recompute' }
  if (v.contributorHashes.every((hash) => hash === v.ownHash)) return { action: 'end', why: 'settled' }
  if (v.lostTo && v.lostTo.peers > v.expectedPeers / 2) return { action: 'end', why: 'outvoted' }
  if (v.stopped) return { action: 'end', why: 'stopped' }
  if (v.now >= v.deadline) return { action: 'end', why: 'timeout' }
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
