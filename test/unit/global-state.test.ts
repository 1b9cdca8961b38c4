// The global state (src/round/global-state.ts): its weights hash, computed once per weight vector
// and always the hash of the weights it holds now; and the vote it takes up after a restart.

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { piecesLength } from '../../src/codec/pieces.js'
import { encodeState, statePieces } from '../../src/codec/state.js'
import { LIMITS } from '../../src/constants.js'
import { toHex, weightsHash } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { CommitBook } from '../../src/round/commit-book.js'
import { GlobalState, RESIDUAL_FILE } from '../../src/round/global-state.js'
import { nesterovStep } from '../../src/round/outer.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { VoteJournal } from '../../src/store/vote-journal.js'
import { decodeCommit, signCommit } from '../../src/wire/messages.js'
import { bareGlobalState } from '../fixtures/global-state.js'
import { tempDir } from '../fixtures/temp.js'

describe('GlobalState', () => {
  it('hashes the weights it holds, after an outer step and after adopting a state', () => {
    const { g } = bareGlobalState({ weights: Float32Array.from([1, 2, 3]) })
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

/** A GlobalState of `count` parameters whose store writes to `dir`/objects (a node's, issue 17). */
function largeFixture(
  count: number,
  init: { stateDir?: string; initialWeights?: () => Float32Array },
  store = new DeltaStore({ dir: init.stateDir === undefined ? undefined : join(init.stateDir, 'objects') }),
) {
  return bareGlobalState({ weights: init.initialWeights?.() ?? new Float32Array(count), ...init }, { store })
}

const vector = (count: number, seed: number) =>
  Float32Array.from({ length: count }, (_, i) => Math.sin(seed * 7919 + i * 0.001) * (1 + (i % 7)))
const bits = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)
const config = { lr: 0.7, momentum: 0.9 }

/**
 * A large GlobalState in round 5, holding the state after round 4; `record` stores and commits that
 * state as the runner's commit step does, and returns its root.
 */
function inRound5(prefix: string) {
  // more values than readState converts at a time (16 MiB), so a vector spans two blocks
  const count = (1 << 22) + 1001
  const dir = tempDir(prefix)
  const { g, store, commits } = largeFixture(count, { stateDir: dir })
  g.state = { weights: vector(count, 1), momentum: vector(count, 2) }
  g.reference = vector(count, 3)
  g.round = 5
  const original = { weights: vector(count, 1), momentum: vector(count, 2), reference: vector(count, 3) }
  const record = () => {
    const pieces = statePieces({ round: 4, ...g.state, reference: g.reference! })
    const root = store.put(4, pieces)
    commits.setOwn(4, { weightsHash: g.weightsHashHex, stateRoot: root, stateSize: piecesLength(pieces) })
    return root
  }
  return { g, dir, count, original, record }
}

describe("a round's starting state, stepped in place and read back (issue 17)", () => {
  it('is read back from the state object on disk, bit for bit, across read blocks', async () => {
    const { g, dir, count, original, record } = inRound5('round-start')
    const root = record()

    const start = await g.roundStart(5, true)
    expect(start.inPlace).toBe(true)
    const taken = await start.take()
    expect(taken.weights).toBe(g.state.weights) // the live state itself, no copy
    expect(taken.momentum).toBe(g.state.momentum)
    const aggregate = vector(count, 4)
    g.state = nesterovStep(taken, aggregate, config, true)
    expect(g.state.weights).toBe(taken.weights)
    expect(bits(g.state.weights).equals(bits(original.weights))).toBe(false)
    expect(g.weightsHashHex).toBe(toHex(weightsHash(g.state.weights))) // not the cached hash

    // a recompute reads the starting state back
    const again = await start.take()
    expect(again.weights).not.toBe(g.state.weights)
    expect(bits(again.weights).equals(bits(original.weights))).toBe(true)
    expect(bits(again.momentum).equals(bits(original.momentum))).toBe(true)
    expect(bits((await start.reference())!).equals(bits(original.reference))).toBe(true)
    // and steps it to the same bits as the first step
    const recomputed = nesterovStep(again, aggregate, config, true)
    expect(bits(recomputed.weights).equals(bits(g.state.weights))).toBe(true)

    // An object changed on disk is refused, never used: the changed chunk does not match its leaf.
    g.state = again
    const path = join(dir, 'objects', toHex(root))
    const bytes = readFileSync(path)
    bytes[16 + 4 * 12345] ^= 1
    writeFileSync(path, bytes)
    const tampered = await g.roundStart(5, true)
    await tampered.take() // the live state; the next take reads the object back
    await expect(tampered.take()).rejects.toThrow(/is not the object stored: chunk 0 differs/)
  })

  it('parks the momentum and reference on disk while the round trains, and reads them back checked', async () => {
    const { g, dir, count, original, record } = inRound5('round-start-park')
    // not before the previous round's state object is recorded, nor after a round the node is not
    // in or just past
    expect(await g.park(4)).toEqual([])
    const root = record()
    expect(await g.park(6)).toEqual([])
    expect(await g.park(3)).toEqual([])
    const live = g.weights
    expect(await g.park(4)).toEqual(['momentum and reference'])
    // parked: nothing reads the momentum or the reference by mistake (zeros, for a reference)
    expect(() => g.state).toThrow(/parked on disk/)
    expect(() => g.reference).toThrow(/parked on disk/)
    expect(g.weights).toBe(live)

    const start = await g.roundStart(5, true)
    expect(start.inPlace).toBe(true)
    expect(await start.weights()).toBe(live) // the weights stay in memory
    const reference = await start.reference()
    expect(bits(reference!).equals(bits(original.reference))).toBe(true)
    const taken = await start.take()
    expect(taken.weights).toBe(live)
    expect(bits(taken.momentum).equals(bits(original.momentum))).toBe(true)
    const aggregate = vector(count, 4)
    g.state = nesterovStep(taken, aggregate, config, true)
    g.reference = aggregate
    expect(g.reference).toBe(aggregate) // set again: no longer parked
    // the outer step from the parked state equals the one from the state held whole
    const whole = nesterovStep({ weights: original.weights, momentum: original.momentum }, aggregate, config)
    expect(bits(g.state.weights).equals(bits(whole.weights))).toBe(true)
    expect(bits(g.state.momentum).equals(bits(whole.momentum))).toBe(true)
    // a recompute reads all of it back
    const again = await start.take()
    expect(bits(again.weights).equals(bits(original.weights))).toBe(true)
    expect(bits(again.momentum).equals(bits(original.momentum))).toBe(true)

    // a parked part changed on disk is refused when read back
    g.state = { weights: original.weights, momentum: original.momentum }
    g.reference = original.reference
    expect(await g.park(4)).toEqual(['momentum and reference'])
    const path = join(dir, 'objects', toHex(root))
    const bytes = readFileSync(path)
    bytes[16 + 4 * count + 4 * 3_000_000] ^= 1 // the momentum's
    writeFileSync(path, bytes)
    const tampered = await g.roundStart(5, true)
    expect(bits((await tampered.reference())!).equals(bits(original.reference))).toBe(true)
    await expect(tampered.take()).rejects.toThrow(/is not the object stored: chunk \d+ differs/)
    // an adoption unparks: the adopted state is held whole
    g.round = 5
    g.adopt(encodeState({ round: 4, ...original }), {
      round: 4,
      weightsHash: toHex(weightsHash(original.weights)),
    })
    expect(bits(g.state.momentum).equals(bits(original.momentum))).toBe(true)
    expect(bits(g.reference!).equals(bits(original.reference))).toBe(true)
  })

  it('parks the residual in a file of its own, reads it back checked, and saves it from there', async () => {
    // more values than a block of 16 MiB, so the residual spans two blocks wherever it is read
    const count = (1 << 22) + 1001
    const dir = tempDir('park-residual')
    const optimizer = { firstMoment: vector(count, 2), secondMoment: vector(count, 3), step: 3 }
    const trainer = { optimizerState: async () => optimizer, setOptimizerState: async () => {} }
    const { g } = bareGlobalState({ weights: vector(count, 1), stateDir: dir }, { trainer })
    const state = encodeState({ round: 0, ...g.state, reference: new Float32Array(count) })
    expect(await g.parkResidual()).toEqual([]) // none yet
    g.residual = vector(count, 6)
    // park: the momentum and reference stay (no state object of round 0 is recorded)
    expect(await g.park(0)).toEqual(['residual'])
    expect(await g.parkResidual()).toEqual([]) // parked already
    expect(() => g.residual).toThrow(/the error-feedback residual is parked on disk/)
    const back = await g.residualNow()
    expect(bits(back!).equals(bits(vector(count, 6)))).toBe(true)
    expect(g.residual).toBe(back) // held again
    // a state write streams a parked residual from its file, and it stays parked
    g.residual = vector(count, 7)
    expect(await g.parkResidual()).toEqual(['residual'])
    await g.persist(state)
    expect(() => g.residual).toThrow(/parked on disk/)
    const restarted = bareGlobalState({ weights: new Float32Array(count), stateDir: dir }, { trainer }).g
    expect(await restarted.restore()).toBe(0)
    expect(bits(restarted.residual!).equals(bits(vector(count, 7)))).toBe(true)
    // a parked residual changed on disk is refused when read back, and when saved: the state file
    // saved before stays as it was
    const path = join(dir, RESIDUAL_FILE)
    const bytes = readFileSync(path)
    bytes[4 * count - 5] ^= 1
    writeFileSync(path, bytes)
    await expect(g.persist(state)).rejects.toThrow(/is not the vector parked there \(digest mismatch\)/)
    await expect(g.residualNow()).rejects.toThrow(/is not the vector parked there \(digest mismatch\)/)
    const again = bareGlobalState({ weights: new Float32Array(count), stateDir: dir }, { trainer }).g
    expect(await again.restore()).toBe(0)
    expect(bits(again.residual!).equals(bits(vector(count, 7)))).toBe(true)
    // nothing to park it in without a state directory
    const noDir = bareGlobalState({ weights: new Float32Array(10) }).g
    noDir.residual = new Float32Array(10)
    expect(await noDir.parkResidual()).toEqual([])
  })

  it('does not park what it could not read back: no state directory, another state recorded', async () => {
    const count = 1000
    const noDir = largeFixture(count, {})
    const pieces = statePieces({ round: 0, ...noDir.g.state, reference: new Float32Array(count) })
    noDir.commits.setOwn(0, {
      weightsHash: noDir.g.weightsHashHex,
      stateRoot: noDir.store.put(0, pieces),
      stateSize: 0,
    })
    noDir.g.round = 1
    expect(await noDir.g.park(0)).toEqual([])
    // the record of the previous round names other weights (the state held was adopted since)
    const other = largeFixture(count, { stateDir: tempDir('park-other') })
    const put = statePieces({
      round: 0,
      weights: vector(count, 7),
      momentum: vector(count, 8),
      reference: vector(count, 9),
    })
    other.commits.setOwn(0, {
      weightsHash: toHex(weightsHash(vector(count, 7))),
      stateRoot: other.store.put(0, put),
      stateSize: 0,
    })
    other.g.round = 1
    expect(await other.g.park(0)).toEqual([])
    expect(other.g.state.momentum.length).toBe(count)
  })

  it('round 0 of a fresh start reads W_0 back from the genesis, and checks its hash', async () => {
    const count = 1000
    const w0 = () => vector(count, 9)
    const { g } = largeFixture(count, { stateDir: tempDir('round-start-0'), initialWeights: w0 })
    const start = await g.roundStart(0, true)
    expect(start.inPlace).toBe(true)
    g.state = nesterovStep(await start.take(), vector(count, 5), config, true)
    const again = await start.take()
    expect(bits(again.weights).equals(bits(w0()))).toBe(true)
    expect([...again.momentum].every((m) => m === 0)).toBe(true)
    expect(await start.reference()).toBeUndefined()
    // W_0 made again that differ from the ones the round started from are refused
    let made = 0
    const drifting = () => vector(count, made++ === 0 ? 9 : 8)
    const other = largeFixture(count, { stateDir: tempDir('round-start-0b'), initialWeights: drifting })
    const wrong = await other.g.roundStart(0, true)
    other.g.state = nesterovStep(await wrong.take(), vector(count, 5), config, true)
    await expect(wrong.take()).rejects.toThrow(/does not hash to the weights the round started from/)
  })

  it('stays in memory where it cannot be read back: not asked, no state directory, no object on disk', async () => {
    const count = 100
    const withDir = largeFixture(count, {
      stateDir: tempDir('round-start-mem'),
      initialWeights: () => new Float32Array(count),
    })
    expect((await withDir.g.roundStart(0, false)).inPlace).toBe(false)
    // round 3 with no commit of round 2 recorded: nothing to read back
    expect((await withDir.g.roundStart(3, true)).inPlace).toBe(false)
    const noDir = largeFixture(count, { initialWeights: () => new Float32Array(count) })
    expect((await noDir.g.roundStart(0, true)).inPlace).toBe(false)
    // an object held in memory (its store has no directory) is a view of the live state
    const memoryStore = largeFixture(count, { stateDir: tempDir('round-start-view') }, new DeltaStore())
    const pieces = statePieces({ round: 0, ...memoryStore.g.state, reference: new Float32Array(count) })
    const root = memoryStore.store.put(0, pieces)
    memoryStore.commits.setOwn(0, {
      weightsHash: memoryStore.g.weightsHashHex,
      stateRoot: root,
      stateSize: 16 + 12 * count,
    })
    const start = await memoryStore.g.roundStart(1, true)
    expect(start.inPlace).toBe(false)
    const first = await start.take()
    const second = await start.take()
    expect(second.weights).toBe(first.weights)
    expect(second.momentum).toBe(first.momentum)
  })
})
