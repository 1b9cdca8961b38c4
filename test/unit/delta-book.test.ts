// The delta book (src/round/delta-book.ts): what a node knows of each round's deltas, on a fake
// clock; and the contribution check (src/round/contribution-check.ts) over it, with the held-out
// loss injected.
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { LIMITS } from '../../src/constants.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { checkEvidence, validate } from '../../src/gossip/validate.js'
import { NodeMetrics } from '../../src/metrics/node-metrics.js'
import { ContributionCheck } from '../../src/round/contribution-check.js'
import { DeltaBook, type PeerDelta } from '../../src/round/delta-book.js'
import { RoundStart } from '../../src/round/round-start.js'
import { Changes } from '../../src/util/clock.js'
import { defaultGenesis, type Genesis } from '../../src/wire/genesis.js'
import { encodeEvidence, signAnnouncement } from '../../src/wire/messages.js'
import { FakeClock } from '../fixtures/clock.js'

/** A round that starts from `weights` (zero momentum), kept in memory. */
const startAt = (weights: number[]) =>
  new RoundStart({
    weights: Float32Array.from(weights),
    momentum: new Float32Array(weights.length),
    reference: undefined,
  })

const runId = sha256(new Uint8Array([1]))
const baseA = sha256(new Uint8Array([10]))
const baseB = sha256(new Uint8Array([11]))

function book(clock = new FakeClock()) {
  const changes = new Changes(clock)
  let notified = 0
  const notify = changes.notify.bind(changes)
  changes.notify = () => {
    notified++
    notify()
  }
  return { clock, book: new DeltaBook({ clock, changes }, { self: 'me' }), notified: () => notified }
}

const entry = (n: number, base = baseA, state: PeerDelta['state'] = 'fetching'): PeerDelta => ({
  deltaHash: sha256(new Uint8Array([n])),
  baseHash: base,
  state,
  envelope: new Uint8Array([n]),
})

async function equivocation(seed: number, round: number) {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
  const announce = (n: number) =>
    signAnnouncement(key, {
      version: 1,
      runId,
      round,
      peerId: peerIdBytes(peerIdFromPrivateKey(key)),
      baseHash: baseA,
      deltaHash: sha256(new Uint8Array([n])),
      encodedSize: 1008,
      encoding: 'fp32',
      trainLoss: 2.5,
      sampleCount: 64,
      proofRoot: new Uint8Array(32),
    })
  const evidence = encodeEvidence(await announce(1), await announce(2))
  const verdict = await validate(() => checkEvidence(evidence, { runId, currentRound: round }))
  return { peer: peerIdFromPrivateKey(key).toString(), verdict }
}

describe('DeltaBook', () => {
  it('counts a delta as valid only once verified, with its arrival time from the clock', async () => {
    const { clock, book: b, notified } = book()
    b.roundStarted(3)
    const e = b.set(3, 'p1', entry(1))
    expect(b.arrived(3)).toBe(0)
    await clock.advance(2_500)
    b.markValid(e, new Float32Array([1, 2]))
    expect(b.arrived(3)).toBe(1)
    expect(notified()).toBe(1)
    b.recordArrivals(3)
    expect(b.arrivalDelays).toEqual([[2_500]])
  })

  it("leaves this node's own delta out of the arrival times and of the other contributors", () => {
    const { book: b } = book()
    b.roundStarted(1)
    b.set(1, 'me', { ...entry(1), state: 'valid', values: new Float32Array(2), validAt: 1 })
    const theirs = b.set(1, 'p1', entry(2))
    b.markValid(theirs, new Float32Array(2))
    const all = b.valid(1, toHex(baseA))
    expect(all).toHaveLength(2)
    expect(b.contributorsOf(1, all)).toEqual(['p1'])
    b.recordArrivals(1)
    expect(b.arrivalDelays[0]).toHaveLength(1)
  })

  it('lists as contributions only deltas trained from the given base (SPEC.md 11.1)', () => {
    const { book: b } = book()
    b.markValid(b.set(2, 'p1', entry(1, baseA)), new Float32Array(2))
    b.markValid(b.set(2, 'p2', entry(2, baseB)), new Float32Array(2))
    b.markFailed(b.set(2, 'p3', entry(3, baseA)), 'unavailable')
    expect(b.arrived(2)).toBe(2)
    expect(b.valid(2, toHex(baseA)).map((c) => toHex(c.id))).toEqual([toHex(entry(1).deltaHash)])
    expect(b.get(2, 'p3')?.failure).toBe('unavailable')
  })

  it('excludes an equivocating peer, once, even when its delta arrives later (SPEC.md 5.6)', async () => {
    const { book: b } = book()
    const { peer, verdict } = await equivocation(5, 4)
    if (verdict.action !== 'accept') throw new Error(`evidence not accepted: ${verdict.reason}`)
    const e = b.set(4, peer, entry(1))
    expect(b.exclude(verdict.value)).toBe(true)
    expect(b.exclude(verdict.value)).toBe(false)
    b.markValid(e, new Float32Array(2))
    expect(b.get(4, peer)?.state).toBe('excluded')
    expect(b.valid(4, toHex(baseA))).toEqual([])
    expect(b.evidence.get(4)).toHaveLength(1)
    b.forget(4)
    expect(b.evidence.get(4)).toBeUndefined()
    expect(b.get(4, peer)).toBeUndefined()
  })

  it('keeps at most LIMITS.maxEvidencePerRound pieces of evidence per round', async () => {
    const { book: b } = book()
    let recorded = 0
    for (let i = 0; i < LIMITS.maxEvidencePerRound + 2; i++) {
      const { verdict } = await equivocation(20 + i, 6)
      if (verdict.action === 'accept' && b.exclude(verdict.value)) recorded++
    }
    expect(recorded).toBe(LIMITS.maxEvidencePerRound)
  })
})

describe('ContributionCheck (SPEC.md 11.4)', () => {
  const genesis = (maxLossIncrease: number | null): Genesis => {
    const g = defaultGenesis()
    return { ...g, contribution: { ...g.contribution, check: true, maxLossIncrease, windows: 1 } }
  }

  it('scores each delta once by the loss change it causes, keeps reputations, and leaves out the harmful one', async () => {
    const { book: b } = book()
    b.markValid(b.set(1, 'good', entry(1)), new Float32Array([1, 1]))
    b.markValid(b.set(1, 'bad', entry(2)), new Float32Array([-4, -4]))
    const evaluated: Float32Array[] = []
    // the loss is the sum of the weights: a step along +delta (w - lr * delta) lowers it
    const evaluate = async (w: Float32Array) => {
      evaluated.push(w)
      return w.reduce((a, x) => a + x, 0)
    }
    const g = genesis(0)
    const check = new ContributionCheck(
      { genesis: g, deltaBook: b, metrics: new NodeMetrics() },
      { evaluate },
    )
    const log = pino({ level: 'silent' })
    const kept = await check.check(1, startAt([0, 0]), toHex(baseA), log)
    expect(kept.map((c) => toHex(c.id))).toEqual([toHex(entry(1).deltaHash)])
    expect(check.reputation.get('good')!).toBeLessThan(0)
    expect(check.reputation.get('bad')!).toBeGreaterThan(0)
    const calls = evaluated.length
    expect(calls).toBe(3) // the base, then one trial per delta
    // the settle step asks again: no delta is scored twice
    await check.check(1, startAt([0, 0]), toHex(baseA), log)
    expect(evaluated.length).toBe(calls)
  })

  it('with no threshold, scores but keeps every delta', async () => {
    const { book: b } = book()
    b.markValid(b.set(1, 'bad', entry(2)), new Float32Array([-4, -4]))
    const check = new ContributionCheck(
      { genesis: genesis(null), deltaBook: b, metrics: new NodeMetrics() },
      { evaluate: async (w) => w.reduce((a, x) => a + x, 0) },
    )
    const kept = await check.check(1, startAt([0, 0]), toHex(baseA), pino({ level: 'silent' }))
    expect(kept).toHaveLength(1)
    expect(check.reputation.get('bad')!).toBeGreaterThan(0)
  })
})
