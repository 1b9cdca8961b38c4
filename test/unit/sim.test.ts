import { describe, expect, it } from 'vitest'
import { shardRanges } from '../../src/aggregate/shards.js'
import { EventQueue } from '../../src/sim/event-queue.js'
import { lossLimitedRate, SimNetwork, wireBytes } from '../../src/sim/network.js'
import { type AggregatorAttack, type RoundSimConfig, simulateRound } from '../../src/sim/round-sim.js'

const MB = 1e6
const link = (bitsPerSecond: number, latencySeconds = 0.025, loss = 0) => ({
  upBytesPerSecond: bitsPerSecond / 8,
  downBytesPerSecond: bitsPerSecond / 8,
  latencySeconds,
  loss,
})

describe('simulated links', () => {
  it('deliver after serialization plus latency, and share an uplink equally among its flows', () => {
    const queue = new EventQueue()
    const network = new SimNetwork(queue, [link(8 * MB, 0.05), link(8 * MB, 0.05), link(8 * MB, 0.05)])
    const arrivals: number[] = []
    network.send(0, 1, MB, () => arrivals.push(queue.now))
    queue.run()
    const one = wireBytes(MB) / MB
    expect(arrivals[0]).toBeCloseTo(one + 0.05, 6)
    // two at once from one sender: each at half the uplink, both done after twice the time
    network.send(0, 1, MB, () => arrivals.push(queue.now))
    network.send(0, 2, MB, () => arrivals.push(queue.now))
    queue.run()
    expect(arrivals[1]).toBeCloseTo(arrivals[0] + 2 * one + 0.05, 6)
    expect(arrivals[2]).toBeCloseTo(arrivals[1], 6)
    // a third flow that starts half way through takes its share from then on
    const t0 = queue.now
    network.send(0, 1, MB, () => arrivals.push(queue.now))
    queue.at(t0 + one / 2, () => network.send(0, 2, MB, () => arrivals.push(queue.now)))
    queue.run()
    expect(arrivals[3]).toBeCloseTo(t0 + one / 2 + one + 0.05, 6)
    expect(arrivals[4]).toBeCloseTo(t0 + 2 * one + 0.05, 6)
    expect(network.sent[0]).toBe(5 * wireBytes(MB))
    expect(network.received[1]).toBe(3 * wireBytes(MB))
  })

  it('cap a lossy connection by the Mathis bound and count the bytes sent again', () => {
    expect(lossLimitedRate(0.05, 0)).toBe(Number.POSITIVE_INFINITY)
    const capped = lossLimitedRate(0.05, 0.01)
    expect(capped).toBeCloseTo((1460 * 1.22) / (0.1 * 0.1), 3)
    const queue = new EventQueue()
    const network = new SimNetwork(queue, [link(1e9, 0.05, 0.01), link(1e9, 0.05)])
    let arrived = 0
    network.send(0, 1, MB, () => {
      arrived = queue.now
    })
    queue.run()
    expect(network.sent[0]).toBeCloseTo(wireBytes(MB) / 0.99, 3)
    expect(arrived).toBeCloseTo(0.05 + wireBytes(MB) / 0.99 / capped, 6)
  })
})

function config(
  n: number,
  mode: 'all-to-all' | 'sharded',
  extra: Partial<RoundSimConfig> = {},
): RoundSimConfig {
  const parameters = 4_000_000
  return {
    mode,
    links: Array.from({ length: n }, () => link(1e9)),
    computeSeconds: Array.from({ length: n }, (_, i) => 10 + (i % 3)),
    deltaBytes: parameters,
    aggregateBytes: parameters,
    parameters,
    shards: shardRanges(parameters, n, 4096),
    replicas: 2,
    checkedChunks: 1,
    distanceRule: true,
    ruleSecondsPerValue: 1e-9,
    distanceSecondsPerValue: 1e-9,
    byzantine: [],
    attack: 'none',
    messages: { announcement: 400, have: 300, commitBase: 300, shardResult: 300, evidence: 900 },
    chunkBytes: 262_144,
    meshDegree: 6,
    minCollectMs: 2000,
    collectTimeoutMs: 120_000,
    history: [[12_000]],
    settleSeconds: 3,
    seed: new Uint8Array([7]),
    ...extra,
  }
}

const mean = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0) / xs.length

describe('a simulated round', () => {
  it('all-to-all: every node downloads the n - 1 other deltas, and the nodes agree', () => {
    const result = simulateRound(config(8, 'all-to-all'))
    expect(result.agreed).toBe(true)
    const received = mean(result.bytesReceived)
    expect(received).toBeGreaterThan(7 * 4 * MB)
    expect(received).toBeLessThan(7 * 4 * MB * 1.1)
    // the slowest node trains 12 s; then 7 deltas of 4 MB over 1 Gbit/s, aggregation and settle
    expect(result.roundSeconds).toBeGreaterThan(12)
    expect(result.roundSeconds).toBeLessThan(20)
  })

  it('re-announcements: each node sends its announcement to every peer every 2 s until its round settles', () => {
    const n = 8
    const silent = simulateRound(config(n, 'all-to-all', { reannounceSeconds: 0 }))
    const loud = simulateRound(config(n, 'all-to-all', { reannounceSeconds: 2 }))
    expect(loud.agreed).toBe(true)
    // the rest of the round is the same: only the announcements' copies differ
    expect(loud.receivedByKind.transfer).toBe(silent.receivedByKind.transfer)
    const extra = loud.receivedByKind.gossip - silent.receivedByKind.gossip
    const copy = wireBytes(400)
    expect(extra % ((n - 1) * copy)).toBe(0)
    // node i announces after 10 + (i mod 3) s and re-announces every 2 s until it settles, at
    // about the round's end
    const republished = extra / ((n - 1) * copy)
    const expected = Array.from({ length: n }, (_, i) => Math.floor((loud.roundSeconds - (10 + (i % 3))) / 2))
    const sum = expected.reduce((a, b) => a + b, 0)
    expect(republished).toBeGreaterThanOrEqual(sum - n)
    expect(republished).toBeLessThanOrEqual(sum)
  })

  it('sharded: a node downloads about r deltas, the aggregate and the partial distances, not n - 1 deltas', () => {
    const n = 16
    const all = simulateRound(config(n, 'all-to-all'))
    const sharded = simulateRound(config(n, 'sharded'))
    expect(sharded.agreed).toBe(true)
    expect(sharded.corruptApplied).toBe(false)
    const perDelta = mean(sharded.bytesReceived) / (4 * MB)
    // 2 replicas' inputs, one aggregate, one checked chunk of every delta, a few partials
    expect(perDelta).toBeLessThan(6)
    expect(mean(all.bytesReceived) / (4 * MB)).toBeGreaterThan(n - 1)
  })

  it.each([
    ['wrong-all', 'mismatch'],
    ['wrong-chunk', 'mismatch'],
    ['equivocate', 'evidence'],
  ] as Array<[AggregatorAttack, 'mismatch' | 'evidence']>)(
    'a Byzantine aggregator (%s) beside an honest replica is caught by %s and no honest node applies its result',
    (attack, how) => {
      const result = simulateRound(config(12, 'sharded', { byzantine: [3], attack }))
      expect(result.detections[how]).toBeGreaterThan(0)
      expect(result.corruptApplied).toBe(false)
      expect(result.agreed).toBe(true)
    },
  )

  it('a withheld shard result is fetched from the other aggregator or computed from the deltas', () => {
    const result = simulateRound(config(12, 'sharded', { byzantine: [3, 5], attack: 'withhold' }))
    expect(result.agreed).toBe(true)
    expect(result.corruptApplied).toBe(false)
  })

  it('without a second replica, checks of random chunks catch a wholly wrong shard result', () => {
    const result = simulateRound(config(12, 'sharded', { byzantine: [3], attack: 'wrong-all', replicas: 1 }))
    expect(result.detections.mismatch).toBe(0)
    expect(result.detections.check).toBeGreaterThan(0)
    expect(result.corruptApplied).toBe(false)
    expect(result.agreed).toBe(true)
  })
})
