import { describe, expect, it } from 'vitest'
import { CommitBook, type CommitRecord } from '../../src/round/commit-book.js'

const state = (byte: number, weightsHash = `${byte}`.padStart(64, '0')): CommitRecord => ({
  weightsHash,
  stateRoot: new Uint8Array(32).fill(byte),
  stateSize: 100,
})

const book = (maxTracked = 100) => new CommitBook({ self: 'me', expectedPeers: 4, faults: 1, maxTracked })

describe('CommitBook', () => {
  it('keeps one commit per peer and round, the latest (a re-commit replaces the earlier one)', () => {
    const b = book()
    expect(b.add(3, 'p1', state(1))).toBe(true)
    expect(b.add(3, 'p1', state(2))).toBe(true)
    expect(b.add(3, 'p2', state(2))).toBe(true)
    expect(b.size).toBe(2)
    expect(b.peersOf(3).get('p1')?.stateRoot[0]).toBe(2)
    expect(b.peersOf(4).size).toBe(0)
    expect(b.rounds()).toEqual([3])
  })

  it('refuses a new record once full, but still lets a held peer replace its commit', () => {
    const b = book(2)
    expect(b.add(1, 'p1', state(1))).toBe(true)
    expect(b.add(1, 'p2', state(1))).toBe(true)
    expect(b.add(1, 'p3', state(1))).toBe(false)
    expect(b.add(2, 'p1', state(1))).toBe(false)
    expect(b.add(1, 'p2', state(5))).toBe(true)
    expect(b.size).toBe(2)
    expect(b.peersOf(1).has('p3')).toBe(false)
  })

  it("counts the node's own commit as a vote in the decided state (SPEC.md 12.2)", () => {
    const b = book()
    b.add(7, 'p1', state(9))
    b.add(7, 'p2', state(9))
    // Two of four expected peers: not a majority (3), no majority of voters, not ahead.
    expect(b.decided(7, false)).toBeUndefined()
    // The same two votes decide a round the node has not reached (more than max(1, f) votes).
    expect(b.decided(7, true)?.peers.sort()).toEqual(['p1', 'p2'])
    // Its own commit of the same state makes a majority of the expected peers.
    b.setOwn(7, state(9))
    expect(b.decided(7, false)?.peers.sort()).toEqual(['me', 'p1', 'p2'])
    expect(b.ownOf(7)?.stateRoot[0]).toBe(9)
    // Its own commit of another state: 3 voters of 4, the plurality (2 votes > f = 1) wins.
    b.setOwn(7, state(4))
    expect(b.decided(7, false)?.record.stateRoot[0]).toBe(9)
  })

  it('forgets whole rounds, its own commits included, and frees their room', () => {
    const b = book(3)
    b.add(1, 'p1', state(1))
    b.add(2, 'p1', state(1))
    b.add(3, 'p1', state(1))
    b.setOwn(1, state(1))
    b.setOwn(3, state(1))
    expect(b.add(4, 'p1', state(1))).toBe(false)
    b.forgetThrough(2)
    expect(b.rounds()).toEqual([3])
    expect(b.size).toBe(1)
    expect(b.ownOf(1)).toBeUndefined()
    expect(b.ownOf(3)).toBeDefined()
    expect(b.add(4, 'p1', state(1))).toBe(true)
  })
})
