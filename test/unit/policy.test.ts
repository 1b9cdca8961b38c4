// The round's decisions (src/round/policy.ts, SPEC.md 11 and 12.2), each through a table of
// cases: a whole round's timeline runs here in microseconds, on no clock but the one in the table.
import { describe, expect, it } from 'vitest'
import { decidedState } from '../../src/round/agreement.js'
import {
  awaitLastRound,
  type CatchUpExtension,
  type CollectView,
  capContributions,
  catchUpDecision,
  collectDecision,
  lingerDecision,
  peersDecision,
  type RoundCommits,
  reconcileDecision,
  type SettleView,
  settleDecision,
} from '../../src/round/policy.js'

const collect: CollectView = {
  now: 1_000,
  arrived: 1,
  valid: 1,
  expectedPeers: 3,
  minPeers: 2,
  networkAhead: false,
  stopped: false,
  startedAt: 0,
  deadline: 4_000,
  deadlineMs: 4_000,
  extended: false,
  collectTimeoutMs: 30_000,
  pollMs: 2_000,
}

describe('collect (SPEC.md 11, step 3; 11.3)', () => {
  const cases: Array<[string, Partial<CollectView>, ReturnType<typeof collectDecision>]> = [
    ['waits for the others, looking again within the poll interval', {}, { action: 'wait', waitMs: 2_000 }],
    ['waits no longer than the deadline', { now: 3_500 }, { action: 'wait', waitMs: 500 }],
    [
      'ends, on time, once every expected delta arrived, usable or not',
      { arrived: 3, valid: 2 },
      { action: 'end', deadlineHit: false, why: 'all-arrived' },
    ],
    [
      'ends with every delta even past the deadline, and that is not a deadline hit',
      { arrived: 3, now: 9_000 },
      { action: 'end', deadlineHit: false, why: 'all-arrived' },
    ],
    ['ends when the node stops', { stopped: true }, { action: 'end', deadlineHit: true, why: 'stopped' }],
    [
      'ends when a later round is decided: the node is behind and catches up next',
      { networkAhead: true },
      { action: 'end', deadlineHit: true, why: 'network-ahead' },
    ],
    [
      'ends at the deadline with a quorum',
      { now: 4_000, arrived: 2, valid: 2 },
      { action: 'end', deadlineHit: true, why: 'deadline' },
    ],
    [
      'extends once below quorum, to collectTimeoutMs after collect began',
      { now: 4_000 },
      { action: 'extend', deadline: 30_000, extraMs: 26_000 },
    ],
    [
      'extends by the deadline length when that is longer',
      { now: 4_000, startedAt: 0, deadlineMs: 4_000, collectTimeoutMs: 5_000 },
      { action: 'extend', deadline: 8_000, extraMs: 4_000 },
    ],
    [
      'ends at the extended deadline even below quorum',
      { now: 30_000, extended: true, deadline: 30_000 },
      { action: 'end', deadlineHit: true, why: 'deadline' },
    ],
    [
      'waits for a previous committer although expectedPeers deltas arrived (a run that grew)',
      { arrived: 3, valid: 3, awaitedMissing: 1 },
      { action: 'wait', waitMs: 2_000 },
    ],
    [
      'ends once every previous committer delivered, fewer than expectedPeers or not',
      { arrived: 2, valid: 2, awaitedMissing: 0 },
      { action: 'end', deadlineHit: false, why: 'all-arrived' },
    ],
    [
      'ends at the deadline when a previous committer is missing',
      { now: 4_000, arrived: 3, valid: 3, awaitedMissing: 1 },
      { action: 'end', deadlineHit: true, why: 'deadline' },
    ],
    [
      'counts only valid deltas for the quorum: two arrived, one usable',
      { now: 4_000, arrived: 2, valid: 1 },
      { action: 'extend', deadline: 30_000, extraMs: 26_000 },
    ],
  ]
  for (const [name, change, expected] of cases)
    it(name, () => expect(collectDecision({ ...collect, ...change })).toEqual(expected))

  it('runs a straggler round: quick peers, the deadline, one extension, then the last delta', () => {
    let view: CollectView = { ...collect, minPeers: 3 }
    const timeline: string[] = []
    for (const [now, arrived] of [
      [1_000, 1],
      [4_000, 2],
      [10_000, 2],
      [12_000, 3],
    ] as const) {
      view = { ...view, now, arrived, valid: arrived }
      const decision = collectDecision(view)
      timeline.push(decision.action)
      if (decision.action === 'extend') view = { ...view, deadline: decision.deadline, extended: true }
    }
    expect(timeline).toEqual(['wait', 'extend', 'wait', 'end'])
  })
})

const settle: SettleView = {
  now: 1_000,
  deadline: 3_000,
  stopped: false,
  canGrow: false,
  ownHash: 'aa',
  contributorHashes: ['aa', undefined, 'bb'],
  decided: undefined,
  networkAhead: false,
  expectedPeers: 4,
  pollMs: 2_000,
}

describe('settle (SPEC.md 11, step 6)', () => {
  const cases: Array<[string, Partial<SettleView>, ReturnType<typeof settleDecision>]> = [
    ['recomputes when peers aggregated deltas this node can add', { canGrow: true }, { action: 'recompute' }],
    [
      'recomputes before anything else, even at the timeout',
      { canGrow: true, now: 5_000, stopped: true },
      { action: 'recompute' },
    ],
    [
      'ends once its state is decided and every contributor committed its weights',
      { contributorHashes: ['aa', 'aa'], decided: 'own' },
      { action: 'end', why: 'settled' },
    ],
    [
      'ends at once with no other contributor when its state is decided (a run of one expected peer)',
      { contributorHashes: [], decided: 'own', expectedPeers: 1 },
      { action: 'end', why: 'settled' },
    ],
    [
      'waits, with every contributor agreeing, while no majority committed that state',
      { contributorHashes: ['aa'] },
      { action: 'wait', waitMs: 2_000 },
    ],
    [
      'does not end alone: no other contributor and no decision is no round closed (SPEC.md 12.5)',
      { contributorHashes: [], now: 3_000 },
      { action: 'hold', waitMs: 2_000 },
    ],
    [
      'holds the round open past the settle timeout while it is undecided',
      { now: 60_000 },
      { action: 'hold', waitMs: 2_000 },
    ],
    [
      'ends a held round once another state is decided (reconciliation adopts it)',
      { now: 60_000, decided: 'other' },
      { action: 'end', why: 'timeout' },
    ],
    [
      'ends a held round once its own state is decided',
      { now: 60_000, decided: 'own' },
      { action: 'end', why: 'timeout' },
    ],
    [
      'ends when a later round is decided: the network went on and reconciliation catches up',
      { now: 60_000, networkAhead: true },
      { action: 'end', why: 'network-ahead' },
    ],
    [
      'grows a held round when a peer that came back commits a delta it can add',
      { now: 60_000, canGrow: true },
      { action: 'recompute' },
    ],
    [
      'ends when a majority of the expected peers committed another state',
      { lostTo: { peers: 3 } },
      { action: 'end', why: 'outvoted' },
    ],
    [
      'waits when another state was decided by half the expected peers only (a tie is no majority)',
      { lostTo: { peers: 2 } },
      { action: 'wait', waitMs: 2_000 },
    ],
    [
      'ends at the settle timeout when the round is decided',
      { now: 3_000, decided: 'own' },
      { action: 'end', why: 'timeout' },
    ],
    [
      'ends when the node stops, held or not',
      { stopped: true, now: 60_000 },
      { action: 'end', why: 'stopped' },
    ],
    ['waits no longer than the timeout', { now: 2_500 }, { action: 'wait', waitMs: 500 }],
  ]
  for (const [name, change, expected] of cases)
    it(name, () => expect(settleDecision({ ...settle, ...change })).toEqual(expected))
})

describe('the last round after a lost one (SPEC.md 12.2)', () => {
  const cases: Array<[boolean, boolean, boolean]> = [
    // lost R - 1, R decided, waits
    [true, false, true],
    [true, true, false],
    [false, false, false],
    [false, true, false],
  ]
  for (const [lostBeforeLast, lastDecided, waits] of cases)
    it(`${waits ? 'waits' : 'does not wait'} when R - 1 was ${lostBeforeLast ? 'lost' : 'not lost'} and R is ${lastDecided ? 'decided' : 'undecided'}`, () =>
      expect(awaitLastRound({ lostBeforeLast, lastDecided })).toBe(waits))
})

/** A committed state by a one-letter name: its root is 32 bytes of the letter's code. */
const state = (name: string) => ({
  weightsHash: name.repeat(64),
  stateRoot: new Uint8Array(32).fill(name.charCodeAt(0)),
  stateSize: 16,
})

describe('the decided state of a round (SPEC.md 12.2), under ties and partitions', () => {
  // [case, votes as "peer:state", expected peers, tolerated faults, ahead, decided state or null]
  const cases: Array<[string, string[], number, number, boolean, string | null]> = [
    ['two of two split commits do not decide for four expected', ['p1:a', 'p2:b'], 4, 1, false, null],
    ['with a majority committed, the most votes win', ['p1:a', 'p2:a', 'p3:b'], 4, 1, false, 'a'],
    ['three of four is a majority', ['p1:a', 'p2:a', 'p3:a', 'p4:b'], 4, 1, false, 'a'],
    ['a majority alone decides before the others commit', ['p1:a', 'p2:a', 'p3:a'], 5, 1, false, 'a'],
    ['one commit of five is undecided', ['p1:a'], 5, 1, false, null],
    [
      'a healed even partition: the halves tie, and the lower state root wins',
      ['p1:b', 'p2:b', 'p3:a', 'p4:a'],
      4,
      1,
      false,
      'a',
    ],
    ['a tie of single votes is no decision (no more than f votes)', ['p1:a', 'p2:b'], 2, 1, false, null],
    [
      'the most votes win once a majority committed',
      ['p1:a', 'p2:a', 'p3:b', 'p4:c', 'p5:d'],
      6,
      1,
      false,
      'a',
    ],
    [
      'but not with f or fewer votes: Byzantine peers cannot win a split',
      ['p1:a', 'p2:a', 'p3:b', 'p4:c'],
      6,
      2,
      false,
      null,
    ],
    [
      'a round ahead: the peers that went on decide with more than f votes',
      ['p1:b', 'p2:b'],
      6,
      1,
      true,
      'b',
    ],
    ['a round ahead with one vote is not enough', ['p1:b'], 6, 0, true, null],
  ]
  for (const [name, votes, expectedPeers, faults, ahead, expected] of cases)
    it(name, () => {
      const commits = votes.map((v) => {
        const [peer, s] = v.split(':')
        return [peer, state(s)] as const
      })
      const top = decidedState(commits, expectedPeers, faults, ahead)
      expect(top?.record.weightsHash[0] ?? null).toBe(expected)
      // the order the commits arrived in does not matter
      const reversed = decidedState([...commits].reverse(), expectedPeers, faults, ahead)
      expect(reversed?.record.weightsHash[0] ?? null).toBe(expected)
    })
})

describe('reconciliation (SPEC.md 12.2)', () => {
  const decided = (root: string, ...peers: string[]) => ({ stateRoot: root, peers })
  const cases: Array<[string, number, RoundCommits[], ReturnType<typeof reconcileDecision>]> = [
    ['stays with no commit', 5, [], { action: 'stay' }],
    ['stays while the last round is undecided', 5, [{ round: 4, ownStateRoot: 'aa' }], { action: 'stay' }],
    [
      'stays when the last round decided its own state',
      5,
      [{ round: 4, decided: decided('aa', 'me', 'p1'), ownStateRoot: 'aa' }],
      { action: 'stay' },
    ],
    [
      'syncs from the others when the last round decided another state (minority)',
      5,
      [{ round: 4, decided: decided('bb', 'p1', 'p2'), ownStateRoot: 'aa' }],
      { action: 'sync', round: 4, why: 'minority', sources: ['p1', 'p2'] },
    ],
    [
      'syncs to a later decided round when behind, from its committers but not itself',
      5,
      [
        { round: 4, decided: decided('aa', 'me', 'p1'), ownStateRoot: 'aa' },
        { round: 6, decided: decided('cc', 'p1', 'p2', 'me') },
      ],
      { action: 'sync', round: 6, why: 'behind', sources: ['p1', 'p2'] },
    ],
    [
      'takes the most recent decided round, not the first listed',
      5,
      [
        { round: 5, decided: decided('bb', 'p1', 'p2') },
        { round: 7, decided: decided('dd', 'p1', 'p2') },
      ],
      { action: 'sync', round: 7, why: 'behind', sources: ['p1', 'p2'] },
    ],
    [
      'ignores rounds older than its last one',
      5,
      [{ round: 3, decided: decided('bb', 'p1', 'p2'), ownStateRoot: 'aa' }],
      { action: 'stay' },
    ],
    [
      'an undecided later round does not hide a lost last round',
      5,
      [{ round: 5 }, { round: 4, decided: decided('bb', 'p1', 'p2'), ownStateRoot: 'aa' }],
      { action: 'sync', round: 4, why: 'minority', sources: ['p1', 'p2'] },
    ],
  ]
  for (const [name, currentRound, rounds, expected] of cases)
    it(name, () => expect(reconcileDecision({ currentRound, self: 'me', rounds })).toEqual(expected))
})

describe('catching up after a restart (SPEC.md 12.1, 12.2)', () => {
  const base = {
    now: 1_000,
    deadline: 30_000,
    extended: 'none' as CatchUpExtension,
    aheadWaitMs: 30_000,
    heldWaitMs: 4_000,
    currentRound: 5,
    rounds: [] as number[],
    stopped: false,
    pollMs: 1_000,
  }
  const cases: Array<[string, Partial<typeof base>, ReturnType<typeof catchUpDecision>]> = [
    ['waits for commits', {}, { action: 'wait', waitMs: 1_000, deadline: 30_000, extended: 'none' }],
    [
      'is in step when peers commit the round it resumed after',
      { rounds: [4] },
      { action: 'end', outcome: 'in-step' },
    ],
    [
      'has no commits when none came by the deadline (connected or not)',
      { now: 30_000 },
      { action: 'end', outcome: 'no-commits' },
    ],
    [
      'extends the wait once when later rounds are committed but undecided',
      { now: 25_000, rounds: [4, 6] },
      { action: 'wait', waitMs: 1_000, deadline: 55_000, extended: 'later' },
    ],
    [
      'does not extend twice',
      { now: 30_000, rounds: [6], extended: 'later' },
      { action: 'end', outcome: 'behind' },
    ],
    ['ends when the node stops', { stopped: true, rounds: [6] }, { action: 'end', outcome: 'behind' }],
    [
      'waits no longer than the held wait for commits of its own next round alone',
      { now: 2_000, rounds: [4, 5] },
      { action: 'wait', waitMs: 1_000, deadline: 6_000, extended: 'held' },
    ],
    [
      'keeps a shorter deadline than the held wait',
      { now: 2_000, deadline: 3_000, rounds: [5] },
      { action: 'wait', waitMs: 1_000, deadline: 3_000, extended: 'held' },
    ],
    [
      'joins its own next round, held open by its peers, when its commits still decide nothing',
      { now: 6_000, deadline: 6_000, rounds: [5], extended: 'held' },
      { action: 'end', outcome: 'held' },
    ],
    [
      'waits the longer wait when a later round shows after a held one',
      { now: 3_000, deadline: 6_000, rounds: [5, 6], extended: 'held' },
      { action: 'wait', waitMs: 1_000, deadline: 33_000, extended: 'later' },
    ],
  ]
  for (const [name, change, expected] of cases)
    it(name, () => expect(catchUpDecision({ ...base, ...change })).toEqual(expected))
})

describe('lingering after the last round (SPEC.md 11)', () => {
  const base = {
    now: 0,
    deadline: 10_000,
    stopped: false,
    committed: 2,
    agreed: true,
    expectedPeers: 3,
    pollMs: 2_000,
    quietMs: 4_000,
    lastRecommitAt: undefined as number | undefined,
  }
  const cases: Array<[string, Partial<typeof base>, ReturnType<typeof lingerDecision>]> = [
    ['serves while a peer has not committed', {}, { action: 'wait', waitMs: 2_000 }],
    ['ends once every expected peer committed its weights', { committed: 3 }, { action: 'end' }],
    [
      'serves on while a peer re-commits the round: it holds it open and may lack this vote',
      { committed: 3, now: 5_000, lastRecommitAt: 3_000 },
      { action: 'wait', waitMs: 2_000 },
    ],
    [
      'ends once no peer re-committed for the quiet period',
      { committed: 3, now: 7_000, lastRecommitAt: 3_000 },
      { action: 'end' },
    ],
    [
      'serves on when they committed other weights',
      { committed: 3, agreed: false },
      { action: 'wait', waitMs: 2_000 },
    ],
    ['ends at the deadline', { now: 10_000, agreed: false }, { action: 'end' }],
    ['ends when stopped', { stopped: true }, { action: 'end' }],
  ]
  for (const [name, change, expected] of cases)
    it(name, () => expect(lingerDecision({ ...base, ...change })).toEqual(expected))
})

describe('waiting for peers before the first round', () => {
  const base = {
    now: 5_000,
    deadline: 60_000,
    peers: 2,
    count: 4,
    lastChange: 4_000,
    settleMs: 3_000,
    stopped: false,
  }
  const cases: Array<[string, Partial<typeof base>, boolean]> = [
    ['waits while peers keep coming', {}, false],
    ['starts once every expected peer is there', { peers: 4 }, true],
    ['starts when no more came for the settle time', { now: 7_000 }, true],
    ['alone, it waits past the settle time', { peers: 1, now: 7_000 }, false],
    ['starts at the timeout, even alone', { peers: 1, now: 60_000 }, true],
    ['ends when stopped', { stopped: true }, true],
  ]
  for (const [name, change, expected] of cases)
    it(name, () => expect(peersDecision({ ...base, ...change })).toBe(expected))
})

describe('the contributions a round aggregates (SPEC.md 11, step 4)', () => {
  const c = (first: number, second = 0) => ({ id: new Uint8Array([first, second]) })

  it('keeps a set within limits.maxCommitDeltaHashes as it is', () => {
    const set = [c(3), c(1), c(2)]
    expect(capContributions(set, 3)).toBe(set)
  })

  it('keeps the lowest delta hashes of a larger set, whatever order they came in', () => {
    const set = [c(9), c(1, 5), c(4), c(1, 2), c(7)]
    const expected = [c(1, 2), c(1, 5), c(4)]
    expect(capContributions(set, 3)).toEqual(expected)
    expect(capContributions([...set].reverse(), 3)).toEqual(expected)
  })
})
