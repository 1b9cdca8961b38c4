// A sharded exchange's plan (aggregate/shard-plan.ts, SPEC.md 18): what a genesis may shard, the
// aggregator draw, the result encoding every node applies, and the span one random check covers.
import { describe, expect, it } from 'vitest'
import { roundSeed } from '../../src/aggregate/rules.js'
import {
  checkSpan,
  planShards,
  SHARD_RESULT_BLOCK,
  shardingSaves,
  shardLayout,
  shardResult,
  shardSetRoot,
} from '../../src/aggregate/shard-plan.js'
import { shardRanges } from '../../src/aggregate/shards.js'
import { type EncodeOptions, encodedDeltaSize } from '../../src/codec/delta.js'
import { chunksHolding, encodedRangesOf } from '../../src/codec/delta-ranges.js'
import { LIMITS } from '../../src/constants.js'
import { sha256 } from '../../src/crypto/hash.js'
import { defaultGenesis, parseGenesis } from '../../src/wire/genesis.js'

describe('shard plan', () => {
  it('refuses, by field and with the fix, a genesis that cannot shard its exchange', () => {
    const base = defaultGenesis({ preset: 'tiny', dataset: 'synthetic', expectedPeers: 4 })
    const refusal = (patch: object) => {
      try {
        parseGenesis({ ...base, exchange: { shards: 4, replicas: 2 }, ...patch })
        return 'accepted'
      } catch (err) {
        return (err as Error).message
      }
    }
    // the default rule (NNM, trimmed mean) takes the summed partial distances (SPEC.md 18.8); the
    // rules and pre-steps that read more of the geometry take it too (18.9)
    expect(refusal({})).toBe('accepted')
    for (const aggregation of [
      { rule: 'geometric-median', iterations: 5, nu: 1e-6, tolerance: 1e-6 },
      { rule: 'centered-clipping', tau: 'auto', iterations: 2, bucketSize: 2 },
      { rule: 'krum', f: 0, nnmF: 1 },
      { rule: 'mean', normBound: 1 },
    ])
      expect(refusal({ aggregation }), aggregation.rule).toBe('accepted')
    // but one anchor cannot serve both the reference and the norms
    expect(
      refusal({ aggregation: { rule: 'centered-clipping', tau: 1, iterations: 2, normBound: 1 } }),
    ).toMatch(/aggregation.*centered clipping with a norm bound.*drop normBound/s)
    // nor does one message hold the partials of more than 90 inputs
    expect(refusal({ round: { ...base.round, expectedPeers: 91 } })).toMatch(
      /round\.expectedPeers.*at most 90 inputs/s,
    )
    expect(
      refusal({
        aggregation: { rule: 'median', bucketSize: 2 },
        round: { ...base.round, expectedPeers: 91 },
      }),
    ).toBe('accepted')
    const ok = { aggregation: { rule: 'trimmed-mean', trimFraction: 0.25 } }
    expect(refusal(ok)).toBe('accepted')
    expect(refusal({ aggregation: { rule: 'median', nnmF: 1 } })).toBe('accepted')
    expect(refusal({ ...ok, delta: { ...base.delta, encoding: 'top-k' } })).toMatch(
      /delta\.encoding.*sparse-2bit/s,
    )
    expect(refusal({ ...ok, contribution: { ...base.contribution, check: true } })).toMatch(
      /contribution\.check.*set it false/s,
    )
    expect(refusal({ ...ok, exchange: { shards: 4, replicas: 5 } })).toMatch(
      /exchange\.replicas.*expectedPeers \(4\)/s,
    )
    // the tiny model has 15,648 coordinates: 62 blocks of 256
    expect(refusal({ ...ok, exchange: { shards: 63, replicas: 2 } })).toMatch(
      /exchange\.shards.*use at most 62/s,
    )
  })

  it('shards a round only where it reads fewer bytes than whole deltas: not with few contributors or a delta of few chunks', () => {
    const options: EncodeOptions = { encoding: 'int8-block', blockSize: 256 }
    const seed = roundSeed(new Uint8Array(32).fill(3), 1)
    const peers = (m: number) => Array.from({ length: m }, (_, i) => `peer-${i}`)
    const saves = (count: number, shards: number, m: number, replicas = 2) => {
      const plan = planShards(shardRanges(count, shards, 256), peers(m), replicas, seed, 'peer-0')
      return shardingSaves(plan, peers(m), count, options, LIMITS.chunkBytes)
    }
    // 2 contributors of 2 replicas each aggregate every shard: their parts are whole deltas, and
    // nothing is saved; one contributor reads nothing either way
    expect(saves(2_000_000, 2, 2)).toBe(false)
    expect(saves(2_000_000, 2, 1)).toBe(false)
    // a delta of one transfer chunk: every part is the whole delta
    expect(saves(200_000, 4, 8)).toBe(false)
    // the sharded drill's MLP (2.04 M, 8 chunks), 4 nodes, 2 shards: 5 chunks of each delta and
    // half a result against 8 chunks
    expect(saves(2_035_210, 2, 4)).toBe(true)
    expect(saves(124_000_000, 16, 16)).toBe(true)
    // the sum it compares, by hand: 4 contributors of 3 shards of a 10-chunk delta, one replica
    const count = 10 * LIMITS.chunkBytes - 2_000
    const size = encodedDeltaSize(count, options)
    const plan = planShards(shardRanges(count, 3, 256), peers(4), 1, seed, 'peer-0')
    let total = 0
    for (const peer of peers(4)) {
      const mine = plan.aggregators.flatMap((row, s) => (row.includes(peer) ? [s] : []))
      const ranges = mine.flatMap((s) =>
        encodedRangesOf(count, options, plan.shards[s].start, plan.shards[s].end),
      )
      const chunks = chunksHolding(
        ranges.length > 0 ? ranges : encodedRangesOf(count, options, 0, 0),
        size,
        LIMITS.chunkBytes,
      )
      const part = chunks.reduce(
        (sum, c) => sum + Math.min(LIMITS.chunkBytes, size - c * LIMITS.chunkBytes),
        0,
      )
      const results = plan.shards
        .filter((shard) => !mine.includes(shard.index))
        .reduce((sum, shard) => sum + encodedDeltaSize(shard.end - shard.start, options), 0)
      total += 3 * part + results
    }
    expect(shardingSaves(plan, peers(4), count, options, LIMITS.chunkBytes)).toBe(total < 12 * size)
  })

  it('draws every shard distinct aggregators from the sorted contributors, the same whatever their order', () => {
    const shards = shardRanges(100_000, 8, 256)
    const peers = ['peer-c', 'peer-a', 'peer-e', 'peer-b', 'peer-d']
    const seed = roundSeed(new Uint8Array(32).fill(7), 3)
    const plan = planShards(shards, peers, 2, seed, 'peer-a')
    expect(planShards(shards, [...peers].reverse(), 2, seed, 'peer-a')).toEqual(plan)
    for (const row of plan.aggregators) expect(new Set(row).size).toBe(2)
    // each peer aggregates floor or ceil(8 x 2 / 5) shards
    const load = peers.map((p) => plan.aggregators.filter((row) => row.includes(p)).length)
    expect(Math.min(...load)).toBeGreaterThanOrEqual(3)
    expect(Math.max(...load)).toBeLessThanOrEqual(4)
    expect(plan.mine).toEqual(plan.aggregators.flatMap((row, s) => (row.includes('peer-a') ? [s] : [])))
    // another round, another draw; fewer contributors than replicas: each aggregates every shard
    expect(planShards(shards, peers, 2, roundSeed(new Uint8Array(32).fill(7), 4), 'peer-a')).not.toEqual(plan)
    expect(planShards(shards, ['x'], 2, seed, 'x').mine).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })

  it('names a set by its roots whatever their order, and applies the decoding of the int8-block result', () => {
    const a = sha256(new Uint8Array([1]))
    const b = sha256(new Uint8Array([2]))
    expect(shardSetRoot([a, b])).toEqual(shardSetRoot([b, a]))
    expect(shardSetRoot([a])).not.toEqual(shardSetRoot([a, b]))
    const values = Float32Array.from({ length: 600 }, (_, i) => Math.sin(i) * 0.001)
    const result = shardResult(values)
    expect(result.bytes.length).toBe(
      encodedDeltaSize(600, { encoding: 'int8-block', blockSize: SHARD_RESULT_BLOCK }),
    )
    // within half a quantisation step of the aggregate, block by block
    for (let i = 0; i < 600; i++)
      expect(Math.abs(result.values[i] - values[i])).toBeLessThanOrEqual(0.001 / 127)
  })

  it('lays out no shards for an all-to-all run', () => {
    expect(shardLayout(defaultGenesis({ preset: 'tiny' }), 15_648)).toBeUndefined()
  })

  for (const options of [
    { encoding: 'int8-block', blockSize: 256 },
    { encoding: 'sparse-2bit', blockSize: 4096, k: 128 },
    { encoding: 'fp32' },
  ] as EncodeOptions[])
    it(`${options.encoding}: a check covers every result block in the transfer chunks its drawn block needs, and no more`, () => {
      const count = 3_000_000
      const size = encodedDeltaSize(count, options)
      const chunksOf = (r: { start: number; end: number }) =>
        chunksHolding(encodedRangesOf(count, options, r.start, r.end), size, LIMITS.chunkBytes)
      const shard = { index: 1, start: 1_000_192, end: 2_500_096 }
      const blocks = Math.ceil((shard.end - shard.start) / SHARD_RESULT_BLOCK)
      for (const block of [0, 1, 777, 2000, blocks - 1]) {
        const span = checkSpan(shard, block, count, options, LIMITS.chunkBytes)
        const own = {
          start: shard.start + block * 256,
          end: Math.min(shard.end, shard.start + (block + 1) * 256),
        }
        expect(span.start).toBeLessThanOrEqual(own.start)
        expect(span.end).toBeGreaterThanOrEqual(own.end)
        expect(span.start >= shard.start && span.end <= shard.end).toBe(true)
        expect((span.start - shard.start) % 256).toBe(0)
        // the same chunks as the block alone; one block more on either side needs another
        expect(chunksOf(span)).toEqual(chunksOf(own))
        if (span.start > shard.start)
          expect(chunksOf({ start: span.start - 256, end: span.end }).length).toBeGreaterThan(
            chunksOf(own).length,
          )
        if (span.end < shard.end)
          expect(
            chunksOf({ start: span.start, end: Math.min(shard.end, span.end + 256) }).length,
          ).toBeGreaterThan(chunksOf(own).length)
      }
      // a transfer chunk of int8 values holds about 1,000 result blocks: a check covers hundreds
      if (options.encoding === 'int8-block')
        expect(
          checkSpan(shard, 2000, count, options, LIMITS.chunkBytes).end -
            checkSpan(shard, 2000, count, options, LIMITS.chunkBytes).start,
        ).toBeGreaterThan(100 * 256)
    })
})
