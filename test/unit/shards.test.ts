import { describe, expect, it } from 'vitest'
import { pairwiseSquaredDistances, sourceSet } from '../../src/aggregate/blocks.js'
import { aggregate } from '../../src/aggregate/rules.js'
import {
  aggregateByShards,
  aggregateShard,
  assignAggregators,
  partialDistances,
  ShardedRuleError,
  shardRanges,
  shardSources,
  sumPartials,
} from '../../src/aggregate/shards.js'
import { HashStream } from '../../src/crypto/prng.js'

function inputs(n: number, d: number, seed: number) {
  const s = new HashStream('shards-test', new Uint8Array([seed]))
  return Array.from({ length: n }, (_, j) => ({
    id: new Uint8Array([(j * 37) % 251, j]),
    values: Float32Array.from({ length: d }, () => s.nextSymmetricUnit() * (1 + (j % 3))),
  }))
}

describe('shard layout and aggregator assignment', () => {
  it('cuts coordinates into shards of whole granules, sizes within one granule of each other', () => {
    const shards = shardRanges(10_000, 3, 512)
    expect(shards[0].start).toBe(0)
    expect(shards.at(-1)!.end).toBe(10_000)
    for (let s = 1; s < shards.length; s++) expect(shards[s].start).toBe(shards[s - 1].end)
    for (const shard of shards.slice(0, -1)) expect(shard.end % 512).toBe(0)
    const granules = shards.map((x) => Math.ceil((x.end - x.start) / 512))
    expect(Math.max(...granules) - Math.min(...granules)).toBeLessThanOrEqual(1)
    expect(() => shardRanges(1000, 3, 512)).toThrow(RangeError)
  })

  it('draws r distinct aggregators per shard from the seed, every peer with floor or ceil(S r / m) shards', () => {
    const table = assignAggregators(7, 10, 2, new Uint8Array([1, 2, 3]))
    expect(table).toEqual(assignAggregators(7, 10, 2, new Uint8Array([1, 2, 3])))
    expect(table).not.toEqual(assignAggregators(7, 10, 2, new Uint8Array([1, 2, 4])))
    const load = new Array(7).fill(0)
    for (const aggregators of table) {
      expect(new Set(aggregators).size).toBe(2)
      for (const a of aggregators) load[a]++
    }
    expect(Math.min(...load)).toBeGreaterThanOrEqual(Math.floor(20 / 7))
    expect(Math.max(...load)).toBeLessThanOrEqual(Math.ceil(20 / 7))
    expect(() => assignAggregators(3, 4, 4, new Uint8Array(1))).toThrow(RangeError)
  })
})

describe('aggregation by shards', () => {
  const contributions = inputs(9, 3000, 1)
  const shards = shardRanges(3000, 4, 256)

  it('gives bit for bit the whole-vector aggregate for coordinate-wise rules and for NNM and Krum', () => {
    for (const rule of [
      { rule: 'mean' as const },
      { rule: 'median' as const },
      { rule: 'trimmed-mean' as const, trimFraction: 0.2 },
      { rule: 'nnm-trimmed-mean' as const, faultFraction: 0.2 },
      { rule: 'krum' as const, f: 2 },
      { rule: 'multi-krum' as const, f: 2, m: 4 },
    ]) {
      const whole = aggregate(rule, contributions)
      const sharded = aggregateByShards(rule, contributions, shards)
      expect(Buffer.from(sharded.buffer).equals(Buffer.from(whole.buffer)), rule.rule).toBe(true)
    }
  })

  it('sums partial distances to the whole vectors’ distances, within binary64 rounding', () => {
    const sources = contributions.map((c) => c.values)
    const whole = pairwiseSquaredDistances(sourceSet(sources))
    const summed = sumPartials(shards.map((shard) => partialDistances(shardSources(sources, shard))))
    for (let i = 0; i < 9; i++)
      for (let j = 0; j < 9; j++)
        expect(Math.abs(summed[i][j] - whole[i][j])).toBeLessThanOrEqual(1e-12 * whole[i][j])
  })

  it('refuses rules it cannot shard yet, and a distance rule without distances, by name', () => {
    const shardInputs = shardSources(
      contributions.map((c) => c.values),
      shards[0],
    )
    expect(() => aggregateShard({ rule: 'nnm-trimmed-mean', faultFraction: 0.2 }, shardInputs)).toThrow(
      ShardedRuleError,
    )
    expect(() =>
      aggregateShard({ rule: 'geometric-median', iterations: 3, nu: 1e-6, tolerance: 0 }, shardInputs),
    ).toThrow(ShardedRuleError)
    expect(() => aggregateShard({ rule: 'mean', normBound: 1 }, shardInputs)).toThrow(ShardedRuleError)
    expect(() => aggregateShard({ rule: 'krum', f: 1, nnmF: 1 }, shardInputs, [])).toThrow(ShardedRuleError)
  })
})
