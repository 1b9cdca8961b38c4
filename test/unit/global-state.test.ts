// The global state (src/round/global-state.ts): its weights hash, computed once per weight vector
// and always the hash of the weights it holds now; and the vote it takes up after a restart.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { encodeState } from '../../src/codec/state.js'
import { LIMITS } from '../../src/constants.js'
import { toHex, weightsHash } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { CommitBook } from '../../src/round/commit-book.js'
import { GlobalState } from '../../src/round/global-state.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { VoteJournal } from '../../src/store/vote-journal.js'
import { decodeCommit, signCommit } from '../../src/wire/messages.js'
import { tempDir } from '../fixtures/temp.js'

describe('GlobalState', () => {
  it('hashes the weights it holds, after an outer step and after adopting a state', () => {
    const trainer = { optimizerState: async () => ({}) as never, setOptimizerState: async () => {} }
    const g = new GlobalState(
      {
        runId: new Uint8Array(32),
        peerId: undefined as never,
        votes: new VoteJournal(),
        publisher: { restoreCommit: async () => {} },
        store: new DeltaStore(),
        commits: new CommitBook({ self: 'me', expectedPeers: 1, faults: 0, maxTracked: 10 }),
        trainer,
        logger: pino({ level: 'silent' }),
      },
      { weights: Float32Array.from([1, 2, 3]) },
    )
    expect(g.weightsHashHex).toBe(toHex(weightsHash(Float32Array.from([1, 2, 3]))))
    expect(g.weightsHash).toBe(g.weightsHash) // one computation per weight vector
    g.state = { weights: Float32Array.from([4, 5, 6]), momentum: new Float32Array(3) }
    expect(g.weightsHashHex).toBe(toHex(weightsHash(Float32Array.from([4, 5, 6]))))
    const weights = Float32Array.from([7, 8, 9])
    const encoded = encodeState({
      round: 2,
      weights,
      momentum: new Float32Array(3),
      reference: new Float32Array(3),
    })
    g.adopt(encoded, { round: 2, weightsHash: toHex(weightsHash(weights)) })
    expect(g.weightsHashHex).toBe(toHex(weightsHash(weights)))
    expect(g.round).toBe(3)
  })
})

/** A node's state directory with its vote journal, and GlobalStates restored from it. */
async function votesFixture() {
  const dir = tempDir('votes')
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key)
  const runId = new Uint8Array(32).fill(7)
  const optimizer = { firstMoment: new Float32Array(3), secondMoment: new Float32Array(3), step: 4 }
  const restored: Array<[number, Uint8Array]> = []
  const make = () => {
    const commits = new CommitBook({ self: peerId.toString(), expectedPeers: 3, faults: 0, maxTracked: 10 })
    const g = new GlobalState(
      {
        runId,
        peerId,
        votes: new VoteJournal(dir),
        publisher: { restoreCommit: async (round, signed) => void restored.push([round, signed]) },
        store: new DeltaStore(),
        commits,
        trainer: { optimizerState: async () => optimizer, setOptimizerState: async () => {} },
        logger: pino({ level: 'silent' }),
      },
      { weights: new Float32Array(3), stateDir: dir },
    )
    return { g, commits }
  }
  const state = (round: number) =>
    encodeState({
      round,
      weights: Float32Array.from([round, 1, 2]),
      momentum: new Float32Array(3),
      reference: new Float32Array(3),
    })
  const commit = async (round: number, weightsHash: number) =>
    signCommit(key, {
      version: 1,
      runId,
      round,
      peerId: peerIdBytes(peerId),
      weightsHash: new Uint8Array(32).fill(weightsHash),
      deltaHashes: [],
      stateRoot: new Uint8Array(32).fill(weightsHash + 1),
      stateSize: state(0).length,
    })
  return { dir, key, make, state, commit, restored }
}

describe('a vote kept across a restart (SPEC.md 12.5)', () => {
  it('counts and re-publishes the commit this node signed for the round after its saved state', async () => {
    const { dir, key, make, state, commit, restored } = await votesFixture()
    // Saved after round 30, then voted for round 31 and killed before round 31 was decided.
    await make().g.persist(state(30))
    const journal = new VoteJournal(dir)
    await journal.record(30, await commit(30, 1))
    const vote = await commit(31, 9)
    await journal.record(31, vote)
    const { g, commits } = make()
    expect(await g.restore()).toBe(30)
    const own = commits.ownOf(31)!
    expect(own.weightsHash).toBe(toHex(new Uint8Array(32).fill(9)))
    expect(toHex(own.stateRoot)).toBe(toHex(new Uint8Array(32).fill(10)))
    expect(own.stateSize).toBe(state(0).length)
    expect(restored.map(([r, signed]) => [r, toHex(signed)])).toEqual([[31, toHex(vote)]])
    // Its commit of the saved round is published again when it names the state saved (a peer
    // still holding round 30 needs it), and only then: the commit above named another state.
    const saved = await signCommit(key, {
      ...decodeCommit(await commit(30, 1)).message,
      weightsHash: weightsHash(Float32Array.from([30, 1, 2])),
      stateRoot: commits.ownOf(30)!.stateRoot,
    })
    await journal.record(30, saved)
    restored.length = 0
    const resumed = make()
    await resumed.g.restore()
    expect(restored.map(([r, signed]) => [r, toHex(signed)])).toEqual([
      [30, toHex(saved)],
      [31, toHex(vote)],
    ])
    // Another node's commit, or a vote of another run, is not taken up.
    const other = await generateKeyPair('Ed25519')
    await journal.record(31, await signCommit(other, decodeCommit(vote).message))
    restored.length = 0
    const again = make()
    await again.g.restore()
    expect(again.commits.ownOf(31)).toBeUndefined()
    expect(restored.map(([r]) => r)).toEqual([30]) // the saved round's, as above, and no vote
    // A node that adopted another state forgets its later votes.
    await journal.forgetAfter(30)
    expect(await journal.of(31)).toBeUndefined()
    expect(await journal.of(30)).toBeDefined()
  })

  it('keeps every commit of a round, and recalls the earlier ones after a restart (SPEC.md 12.2)', async () => {
    const { dir, make, state, commit } = await votesFixture()
    await make().g.persist(state(30))
    const journal = new VoteJournal(dir)
    // The settle step moved the vote of round 31 from state 5 to state 9; the same commit twice is
    // kept once.
    const first = await commit(31, 5)
    await journal.record(31, first)
    await journal.record(31, first)
    const moved = await commit(31, 9)
    await journal.record(31, moved)
    expect((await journal.allOf(31)).map(toHex)).toEqual([toHex(first), toHex(moved)])
    expect(toHex((await journal.of(31))!)).toBe(toHex(moved))
    const { g, commits } = make()
    await g.restore()
    expect(commits.ownOf(31)!.weightsHash).toBe(toHex(new Uint8Array(32).fill(9)))
    expect(commits.earlierOf(31).map((r) => r.weightsHash)).toEqual([toHex(new Uint8Array(32).fill(5))])
    // A journal written by dtrain 1.10 (the latest commit only, commit-<round>) reads as the oldest.
    const legacy = await commit(32, 3)
    writeFileSync(join(dir, 'votes', 'commit-32'), legacy)
    const later = await commit(32, 4)
    await journal.record(32, later)
    expect((await journal.allOf(32)).map(toHex)).toEqual([toHex(legacy), toHex(later)])
    // Rounds past the kept ones are dropped as new rounds are recorded.
    await journal.record(31 + LIMITS.keptDeltaRounds + 1, await commit(31 + LIMITS.keptDeltaRounds + 1, 2))
    expect(await journal.allOf(31)).toEqual([])
    expect((await journal.allOf(32)).length).toBe(2)
  })
})
