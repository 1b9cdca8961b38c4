// Sync's waits (src/round/sync.ts, SPEC.md 12.1-12.2) on a fake clock: a restart's catch-up and
// the linger after the last round run their whole timelines (minutes) in milliseconds, with the
// commits arriving at chosen moments. No state is fetched on these paths, so no host is needed.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { LIMITS } from '../../src/constants.js'
import { fromHex } from '../../src/crypto/hash.js'
import { NodeMetrics } from '../../src/metrics/node-metrics.js'
import type { Host } from '../../src/net/host.js'
import { CommitBook } from '../../src/round/commit-book.js'
import { DeltaBook } from '../../src/round/delta-book.js'
import { Sync } from '../../src/round/sync.js'
import { VoteJournal } from '../../src/store/vote-journal.js'
import { Changes } from '../../src/util/clock.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { FakeClock } from '../fixtures/clock.js'
import { bareGlobalState } from '../fixtures/global-state.js'

const record = (name: string) => ({
  weightsHash: name.repeat(64),
  stateRoot: new Uint8Array(32).fill(name.charCodeAt(0)),
  stateSize: 16,
})

function setup(round: number) {
  const clock = new FakeClock()
  const changes = new Changes(clock)
  const deltaBook = new DeltaBook({ clock, changes }, { self: 'me' })
  const genesis = defaultGenesis()
  const expectedPeers = 3
  const g = { ...genesis, round: { ...genesis.round, expectedPeers, collectTimeoutMs: 60_000 } }
  const commits = new CommitBook({ self: 'me', expectedPeers, faults: 0, maxTracked: 100 })
  const logger = pino({ level: 'silent' })
  const { g: globalState, store } = bareGlobalState({ weights: new Float32Array(4) }, { commits })
  globalState.round = round
  let reannounced = 0
  const abort = new AbortController()
  const sync = new Sync({
    host: undefined as unknown as Host,
    peerId: { toString: () => 'me' } as never,
    genesis: g,
    commits,
    deltaBook,
    globalState,
    store,
    votes: new VoteJournal(),
    publisher: {
      commit: async () => {},
      reannounceIfDue: async () => {
        reannounced++
      },
    },
    counters: { bytesSent: () => {}, bytesReceived: () => {} },
    metrics: new NodeMetrics(),
    logger,
    clock,
    changes,
    signal: abort.signal,
  })
  const arrive = (round: number, peer: string, name: string) => {
    commits.add(round, peer, record(name))
    changes.notify()
  }
  return { clock, sync, commits, deltaBook, arrive, abort, changes, reannounced: () => reannounced }
}

describe('catch-up after a restart (SPEC.md 12.1)', () => {
  it('has no commits after the whole wait when none comes', async () => {
    const { clock, sync } = setup(5)
    const start = clock.now()
    expect(await clock.run(sync.catchUp(30_000))).toBe('no-commits')
    expect(clock.now() - start).toBe(30_000)
  })

  it('is in step as soon as a peer commits the round it resumed after', async () => {
    const { clock, sync, arrive } = setup(5)
    const start = clock.now()
    const outcome = sync.catchUp(30_000)
    await clock.advance(4_000)
    arrive(4, 'p1', 'a')
    expect(await clock.run(outcome)).toBe('in-step')
    expect(clock.now() - start).toBe(4_000)
  })

  it('waits longer once a later round is committed but undecided, then is behind', async () => {
    const { clock, sync, arrive } = setup(5)
    const start = clock.now()
    const outcome = sync.catchUp(30_000, 45_000)
    await clock.advance(10_000)
    arrive(6, 'p1', 'b') // one commit of three expected: undecided
    expect(await clock.run(outcome)).toBe('behind')
    expect(clock.now() - start).toBe(55_000)
  })

  it('joins its own next round once its commits decide nothing for the held wait: its peers hold it open', async () => {
    const { clock, sync, arrive } = setup(5)
    const start = clock.now()
    const outcome = sync.catchUp(30_000, 30_000, 4_000)
    await clock.advance(3_000)
    arrive(5, 'p1', 'b') // one commit of round 5, the round this node trains next: undecided
    expect(await clock.run(outcome)).toBe('held')
    expect(clock.now() - start).toBe(7_000)
  })

  it('ends when the node stops', async () => {
    const { clock, sync, abort, changes } = setup(5)
    const outcome = sync.catchUp(30_000)
    await clock.advance(1_000)
    abort.abort()
    changes.notify()
    expect(await clock.run(outcome)).toBe('no-commits')
  })
})

describe('linger after the last round (SPEC.md 11)', () => {
  it('serves, re-announcing, until every expected peer committed its weights', async () => {
    const { clock, sync, commits, arrive, reannounced } = setup(4)
    commits.setOwn(3, record('a'))
    const start = clock.now()
    const committed = sync.linger(3)
    await clock.advance(7_000)
    arrive(3, 'p1', 'a')
    await clock.advance(5_000)
    arrive(3, 'p2', 'a')
    expect(await clock.run(committed)).toBe(3)
    expect(clock.now() - start).toBe(12_000)
    expect(reannounced()).toBeGreaterThanOrEqual(Math.floor(12_000 / LIMITS.reannounceMs))
  })

  it('ends at the collect timeout when a peer committed other weights', async () => {
    const { clock, sync, commits, arrive } = setup(4)
    commits.setOwn(3, record('a'))
    const start = clock.now()
    const committed = sync.linger(3)
    arrive(3, 'p1', 'a')
    arrive(3, 'p2', 'b')
    expect(await clock.run(committed)).toBe(3)
    expect(clock.now() - start).toBe(60_000)
  })
})

describe('the recall rule (SPEC.md 12.2)', () => {
  it("decides the state a peer went on from on this node's earlier vote, and only then", () => {
    // This node voted for state c of round 59, then its set grew and it voted for d. Peer a decided
    // c on the earlier vote and trains round 60 from it; the third peer is not there.
    const { sync, commits, deltaBook } = setup(59)
    commits.setOwn(59, record('c'))
    commits.setOwn(59, record('d'))
    commits.add(59, 'a', record('c'))
    expect(commits.earlierOf(59).map((r) => r.weightsHash)).toEqual([record('c').weightsHash])
    expect(sync.decidedOf(59)).toBeUndefined()
    // Peer a's announcement of round 60 names another base: still undecided.
    const announce = (base: string) =>
      deltaBook.set(60, 'a', {
        deltaHash: new Uint8Array(32).fill(1),
        baseHash: fromHex(record(base).weightsHash),
        state: 'fetching',
        envelope: new Uint8Array(0),
      })
    announce('e')
    expect(sync.decidedOf(59)).toBeUndefined()
    // Trained from c: c is decided with a's vote and this node's earlier one, and this node lost.
    announce('c')
    expect(sync.decidedOf(59)?.record.weightsHash).toBe(record('c').weightsHash)
    expect(sync.decidedOf(59)?.peers.sort()).toEqual(['a', 'me'])
    expect(sync.lostRound(59)).toBe(true)
    // Once this node adopts c (a re-commit), c is its latest vote, not an earlier one.
    commits.setOwn(59, record('c'))
    expect(commits.earlierOf(59).map((r) => r.weightsHash)).toEqual([record('d').weightsHash])
    expect(sync.lostRound(59)).toBe(false)
    // Adopting a state of round 58 forgets this node's votes of later rounds, earlier ones included.
    commits.forgetOwnAfter(58)
    expect(commits.ownOf(59)).toBeUndefined()
    expect(commits.earlierOf(59)).toEqual([])
    commits.setOwn(59, record('c'))
    commits.setOwn(59, record('d'))
    commits.forgetThrough(59)
    expect(commits.earlierOf(59)).toEqual([])
  })
})
