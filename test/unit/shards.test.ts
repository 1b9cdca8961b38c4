import { describe, expect, it } from 'vitest'
import {
  groupMeans,
  materialize,
  pairwiseSquaredDistances,
  sourceSet,
  squaredNorms,
} from '../../src/aggregate/blocks.js'
import { combined, meanRow, scaledRow } from '../../src/aggregate/geometry.js'
import { type AggregationRule, aggregate } from '../../src/aggregate/rules.js'
import {
  aggregateByShards,
  aggregateShard,
  assignAggregators,
  partialGeometry,
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

  it('gives bit for bit the whole-vector aggregate of a coordinate-wise rule after bucketing, and of Krum after NNM', () => {
    const seed = new Uint8Array([7, 7])
    for (const rule of [
      { rule: 'median' as const, bucketSize: 2 },
      { rule: 'trimmed-mean' as const, trimFraction: 0.25, nnmF: 2 },
      { rule: 'krum' as const, f: 1, nnmF: 2 },
    ]) {
      const whole = aggregate(rule, contributions, { seed })
      const sharded = aggregateByShards(rule, contributions, shards, { seed })
      expect(Buffer.from(sharded.buffer).equals(Buffer.from(whole.buffer)), JSON.stringify(rule)).toBe(true)
    }
  })

  it('sums partials to the whole vectors’ distances and distances to the anchor, within binary64 rounding', () => {
    const sources = contributions.map((c) => c.values)
    const whole = pairwiseSquaredDistances(sourceSet(sources))
    const summed = sumPartials(shards.map((shard) => partialGeometry(shardSources(sources, shard))))
    const norms = squaredNorms(sourceSet(sources))
    for (let i = 0; i < 9; i++) {
      expect(Math.abs(summed.anchor[i] - norms[i])).toBeLessThanOrEqual(1e-12 * norms[i])
      for (let j = 0; j < 9; j++)
        expect(Math.abs(summed.distances[i][j] - whole[i][j])).toBeLessThanOrEqual(1e-12 * whole[i][j])
    }
    // the anchor a reference: each input's distance to it
    const reference = contributions[4].values.map((v) => v * 0.5)
    const toReference = sumPartials(
      shards.map((shard) =>
        partialGeometry(shardSources(sources, shard), reference.subarray(shard.start, shard.end)),
      ),
    ).anchor
    for (let i = 0; i < 9; i++) {
      const direct = sources[i].reduce((sum, v, k) => sum + (v - reference[k]) ** 2, 0)
      expect(Math.abs(toReference[i] - direct)).toBeLessThanOrEqual(1e-12 * direct)
    }
  })

  it('derives the distances and norms of means and scaled inputs from the inputs’ geometry', () => {
    const sources = contributions.map((c) => c.values)
    const set = sourceSet(sources)
    const geometry = { distances: pairwiseSquaredDistances(set), anchor: squaredNorms(set) }
    const groups = [[0, 1, 2], [3], [4, 5, 6, 7, 8], [1, 8]]
    const derived = combined(
      geometry,
      groups.map((g) => meanRow(9, g)),
    )
    const means = groupMeans(set, groups)
    const direct = pairwiseSquaredDistances(means)
    const directNorms = squaredNorms(means)
    for (let a = 0; a < groups.length; a++) {
      // the derived geometry is exact arithmetic; the means are rounded to binary32
      expect(Math.abs(derived.anchor[a] - directNorms[a])).toBeLessThanOrEqual(1e-6 * directNorms[a])
      for (let b = 0; b < groups.length; b++)
        expect(Math.abs(derived.distances[a][b] - direct[a][b])).toBeLessThanOrEqual(
          1e-6 * direct[a][b] + 1e-9,
        )
    }
    const scaled = combined(
      geometry,
      [0.5, 2, 1].map((s, j) => scaledRow(9, j, s)),
    )
    const x = materialize(set)
    const d01 = x[0].reduce((sum, v, k) => sum + (0.5 * v - 2 * x[1][k]) ** 2, 0)
    expect(Math.abs(scaled.distances[0][1] - d01)).toBeLessThanOrEqual(1e-9 * d01)
    expect(Math.abs(scaled.anchor[1] - 4 * geometry.anchor[1])).toBeLessThanOrEqual(1e-9 * geometry.anchor[1])
  })

  it('gives geometric median, centered clipping and the norm bound within rounding of the whole-vector rule', () => {
    const reference = contributions[2].values.map((v) => v * 0.3)
    const cases: Array<{ rule: AggregationRule; reference?: Float32Array }> = [
      { rule: { rule: 'geometric-median', iterations: 6, nu: 1e-6, tolerance: 0 } },
      { rule: { rule: 'geometric-median', iterations: 6, nu: 1e-6, tolerance: 0, nnmF: 2, bucketSize: 2 } },
      { rule: { rule: 'centered-clipping', tau: 'auto', iterations: 3 }, reference },
      { rule: { rule: 'centered-clipping', tau: 20, iterations: 2, bucketSize: 3 }, reference },
      { rule: { rule: 'mean', normBound: 25 } },
      { rule: { rule: 'nnm-trimmed-mean', faultFraction: 0.2, normBound: 25 } },
    ]
    const seed = new Uint8Array([1])
    for (const { rule, reference: ref } of cases) {
      const whole = aggregate(rule, contributions, { seed, reference: ref })
      const sharded = aggregateByShards(rule, contributions, shards, { seed, reference: ref })
      const one = aggregateByShards(rule, contributions, shardRanges(3000, 1, 256), { seed, reference: ref })
      const scale = Math.max(...whole.map(Math.abs))
      let worst = 0
      let worstOne = 0
      for (let i = 0; i < whole.length; i++) {
        worst = Math.max(worst, Math.abs(sharded[i] - whole[i]))
        worstOne = Math.max(worstOne, Math.abs(sharded[i] - one[i]))
      }
      expect(worst, JSON.stringify(rule)).toBeLessThanOrEqual(1e-5 * scale)
      expect(worstOne, JSON.stringify(rule)).toBeLessThanOrEqual(1e-6 * scale)
      // and not the trivial answer: the rule moved away from the plain mean
      if (rule.rule !== 'mean') expect(sharded).not.toEqual(aggregate({ rule: 'mean' }, contributions))
    }
  })

  it('keeps the geometric median of a sharded set near the honest inputs when two are far off', () => {
    const honest = inputs(7, 3000, 3)
    const far = inputs(2, 3000, 4).map((c, j) => ({
      id: new Uint8Array([200, j]),
      values: c.values.map((v) => v * 1000),
    }))
    const rule: AggregationRule = { rule: 'geometric-median', iterations: 50, nu: 1e-6, tolerance: 1e-7 }
    const sharded = aggregateByShards(rule, [...honest, ...far], shards)
    const honestMean = aggregate({ rule: 'mean' }, honest)
    const off = (v: Float32Array) => Math.sqrt(v.reduce((sum, x, i) => sum + (x - honestMean[i]) ** 2, 0))
    const spread = Math.sqrt(honest[0].values.reduce((sum, x, i) => sum + (x - honestMean[i]) ** 2, 0))
    expect(off(sharded)).toBeLessThan(spread)
    expect(off(aggregate({ rule: 'mean' }, [...honest, ...far]))).toBeGreaterThan(100 * spread)
  })

  it('refuses centered clipping with a norm bound, and a rule that needs the geometry without it, by name', () => {
    const shardInputs = shardSources(
      contributions.map((c) => c.values),
      shards[0],
    )
    expect(() => aggregateShard({ rule: 'nnm-trimmed-mean', faultFraction: 0.2 }, shardInputs)).toThrow(
      /needs the whole vectors' geometry/,
    )
    expect(() =>
      aggregateShard({ rule: 'geometric-median', iterations: 3, nu: 1e-6, tolerance: 0 }, shardInputs),
    ).toThrow(ShardedRuleError)
    expect(() => aggregateShard({ rule: 'mean', normBound: 1 }, shardInputs)).toThrow(ShardedRuleError)
    const geometry = sumPartials([partialGeometry(shardInputs)])
    expect(() =>
      aggregateShard(
        { rule: 'centered-clipping', tau: 1, iterations: 1, normBound: 1 },
        shardInputs,
        geometry,
      ),
    ).toThrow(/centered clipping with a norm bound/)
  })
})
