// The round's decisions (src/round/policy.ts, SPEC.md 11 and 12.2), each through a table of
// cases: a whole round's timeline runs here in microseconds, on no clock but the one in the table.
import { describe, expect, it } from 'vitest'
import {
  awaitLastRound,
  type CollectView,
  collectDecision,
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
      'ends once every contributor committed its weights',
      { contributorHashes: ['aa', 'aa'] },
      { action: 'end', why: 'settled' },
    ],
    ['ends at once with no other contributor', { contributorHashes: [] }, { action: 'end', why: 'settled' }],
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
    ['ends at the settle timeout', { now: 3_000 }, { action: 'end', why: 'timeout' }],
    ['ends when the node stops', { stopped: true }, { action: 'end', why: 'stopped' }],
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
