// Sharded aggregation (SPEC.md 18; the design, its measurements and what is still open:
// docs/sharded-aggregation.md): the shard layout, the aggregator draw, and aggregation shard by
// shard, as a node's sharded exchange (round/shard-exchange.ts) and the traffic simulator
// (src/sim/) run it. Pure functions.
//
// The coordinates are cut into shards on granule boundaries (a granule: a run of coordinates whose
// encoded bytes can be fetched on their own, such as one sparse-2bit chunk). Each shard gets
// `replicas` aggregators drawn from the round's seed. An aggregator reads only its shards'
// coordinates of every delta. A coordinate-wise rule needs nothing else; a rule or pre-step that
// needs whole-vector quantities (the norm bound, NNM, Krum, geometric median, centered clipping)
// gets the inputs' geometry (aggregate/geometry.ts): their pairwise squared distances and their
// squared distances to an anchor, each the sum, in shard order, of every shard's partials (the
// binary64 running sums over the shard's coordinates in index order). Every node derives the same
// geometry from the same partials, so every shard mixes, clips and weighs alike.
import { DOMAINS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'
import {
  AggregationInputError,
  addPairwiseSquaredDistances,
  addSquaredDistances,
  type BlockSet,
  blockRanges,
  groupMeans,
  mirrored,
  sourceSet,
  type VectorSource,
} from './blocks.js'
import {
  centeredClippingCoefficients,
  combination,
  combined,
  type Geometry,
  geometricMedianCoefficients,
  meanRow,
  scaledRow,
} from './geometry.js'
import { compareBytes } from './order.js'
import { buckets, clipScales, mixingGroups, scaleInputs } from './robust.js'
import { type AggregationRule, applyRule, checkTolerance, readsReference } from './rules.js'

/** Domain of the aggregator draw (SPEC.md 18.2). */
export const SHARD_ASSIGNMENT_DOMAIN = DOMAINS.shardAssignment

export interface Shard {
  index: number
  /** coordinates [start, end) */
  start: number
  end: number
}

/**
 * `shards` ranges of `count` coordinates, each a whole number of granules: shard s takes granules
 * [floor(s G / S), floor((s + 1) G / S)) of the G = ceil(count / granule), so sizes differ by at
 * most one granule. Refuses more shards than granules.
 */
export function shardRanges(count: number, shards: number, granule: number): Shard[] {
  if (!Number.isInteger(granule) || granule < 1)
    throw new RangeError(`granule must be a positive integer (got ${granule})`)
  const granules = Math.ceil(count / granule)
  if (!Number.isInteger(shards) || shards < 1 || shards > granules)
    throw new RangeError(
      `shards must be an integer in [1, ${granules}] for ${count} coordinates in granules of ${granule} (got ${shards})`,
    )
  return Array.from({ length: shards }, (_, index) => ({
    index,
    start: Math.min(count, Math.floor((index * granules) / shards) * granule),
    end: Math.min(count, Math.floor(((index + 1) * granules) / shards) * granule),
  }))
}

/**
 * The aggregators of each shard: indices into `peers`, `replicas` distinct ones per shard. The
 * peers are shuffled (Fisher-Yates with a HashStream of the round's seed); shard s takes the
 * shuffled peers at positions (s r + j) mod m for j < r, so every peer aggregates
 * floor or ceil(S r / m) shards. Every node computes the same table from the same seed and peers.
 */
export function assignAggregators(
  peerCount: number,
  shards: number,
  replicas: number,
  seed: Uint8Array,
): number[][] {
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > peerCount)
    throw new RangeError(
      `replicas must be an integer in [1, ${peerCount}] with ${peerCount} peers (got ${replicas})`,
    )
  const order = Array.from({ length: peerCount }, (_, j) => j)
  const stream = new HashStream(SHARD_ASSIGNMENT_DOMAIN, seed)
  for (let i = order.length - 1; i > 0; i--) {
    const j = stream.nextBelow(i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return Array.from({ length: shards }, (_, s) =>
    Array.from({ length: replicas }, (_, j) => order[(s * replicas + j) % peerCount]),
  )
}

/** The coordinates [start, end) of every input, as vector sources of that shard alone. */
export function shardSources(sources: readonly VectorSource[], shard: Shard): VectorSource[] {
  return sources.map((source) => ({
    length: shard.end - shard.start,
    subarray: (start: number, end: number) => source.subarray(shard.start + start, shard.start + end),
  }))
}

/**
 * Does the rule need the inputs' geometry (their distances, and to the anchor) to aggregate a
 * shard? The coordinate-wise rules, alone or after bucketing, do not.
 */
export function needsGeometry(rule: AggregationRule): boolean {
  return (
    rule.rule === 'nnm-trimmed-mean' ||
    rule.rule === 'krum' ||
    rule.rule === 'multi-krum' ||
    rule.rule === 'geometric-median' ||
    rule.rule === 'centered-clipping' ||
    rule.nnmF !== undefined ||
    rule.normBound !== undefined
  )
}

/**
 * Why a rule cannot be aggregated shard by shard, or undefined. Only centered clipping with a
 * norm bound: the clipping needs the distances to the reference and the bound the norms, and the
 * partials give distances to one anchor.
 */
export function unshardableRule(rule: AggregationRule): string | undefined {
  return rule.rule === 'centered-clipping' && rule.normBound !== undefined
    ? "centered clipping with a norm bound needs both the inputs' norms and their distances to the reference, and the partials carry one anchor (SPEC.md 18.9)"
    : undefined
}

/**
 * A shard's partials (SPEC.md 18.8): its inputs' pairwise squared distances (n^2 binary64 values,
 * n (n - 1) / 2 of them distinct) and their squared distances to the anchor's coordinates in the
 * shard (centered clipping's reference; undefined: the origin, whose distances are the norms).
 */
export function partialGeometry(shardInputs: readonly VectorSource[], anchor?: Float32Array): Geometry {
  const set = sourceSet(shardInputs)
  const distances = Array.from({ length: set.count }, () => new Float64Array(set.count))
  const toAnchor = new Float64Array(set.count)
  // one pass over the shard's blocks for both
  for (const [start, end] of blockRanges(set)) {
    const xs = set.read(start, end)
    addPairwiseSquaredDistances(distances, xs)
    addSquaredDistances(toAnchor, xs, anchor?.subarray(start, end))
  }
  return { distances: mirrored(distances), anchor: toAnchor }
}

/** The whole vectors' geometry: the partials of every shard added in shard order (binary64). */
export function sumPartials(partials: readonly Geometry[]): Geometry {
  const n = partials[0].anchor.length
  const distances = Array.from({ length: n }, () => new Float64Array(n))
  const anchor = new Float64Array(n)
  for (const partial of partials) {
    for (let i = 0; i < n; i++) {
      anchor[i] += partial.anchor[i]
      for (let j = 0; j < n; j++) distances[i][j] += partial.distances[i][j]
    }
  }
  return { distances, anchor }
}

export class ShardedRuleError extends Error {
  override name = 'ShardedRuleError'
}

/** What a shard's aggregation reads beside its inputs (SPEC.md 18.9). */
export interface ShardContext {
  /** the round's seed (bucketing's): roundSeed(runId, round) */
  seed: Uint8Array
  /** centered clipping's reference over the shard's coordinates; undefined: zeros */
  reference?: Float32Array
}

/**
 * One shard's aggregate (SPEC.md 18.9): the rule and its pre-steps over the shard's coordinates
 * of the inputs (canonical order: ascending ids, as aggregate() orders them), with the whole
 * vectors' `geometry` where they need it. Coordinate-wise rules, alone or after bucketing, give
 * exactly the whole-vector result's coordinates. The norm bound scales by the summed norms, NNM
 * mixes and Krum picks by the summed distances; the geometry of the points a pre-step makes is
 * derived from the inputs' (geometry.ts). Geometric median and centered clipping iterate on
 * coefficients and combine the shard's coordinates once: each shard's values are then those of
 * one vector of the inputs' span, close to the whole-vector rule's (SPEC.md 8.5, 8.6) but not its
 * bits.
 */
export function aggregateShard(
  rule: AggregationRule,
  shardInputs: readonly VectorSource[],
  geometry?: Geometry,
  context: ShardContext = { seed: new Uint8Array(0) },
): Float32Array {
  const problem = unshardableRule(rule)
  if (problem !== undefined) throw new ShardedRuleError(problem)
  if (needsGeometry(rule) && geometry === undefined)
    throw new ShardedRuleError(`${rule.rule} needs the whole vectors' geometry to aggregate a shard`)
  let inputs: BlockSet = sourceSet(shardInputs)
  checkTolerance(rule, inputs.count)
  let shape = geometry
  if (rule.normBound !== undefined && shape !== undefined) {
    const scales = clipScales(shape.anchor, rule.normBound)
    inputs = scaleInputs(inputs, scales)
    shape = combined(
      shape,
      scales.map((scale, j) => scaledRow(scales.length, j, scale ?? 1)),
    )
  }
  if (rule.nnmF !== undefined && shape !== undefined) {
    const groups = mixingGroups(shape.distances, rule.nnmF)
    inputs = groupMeans(inputs, groups)
    shape = combined(
      shape,
      groups.map((group) => meanRow(groups.length, group)),
    )
  }
  if (rule.bucketSize !== undefined && rule.bucketSize > 1) {
    const groups = buckets(inputs.count, rule.bucketSize, context.seed)
    const count = inputs.count
    inputs = groupMeans(inputs, groups)
    if (shape !== undefined)
      shape = combined(
        shape,
        groups.map((group) => meanRow(count, group)),
      )
  }
  if (rule.rule === 'geometric-median')
    return combination(inputs, geometricMedianCoefficients(shape as Geometry, rule))
  if (rule.rule === 'centered-clipping')
    return combination(
      inputs,
      centeredClippingCoefficients(shape as Geometry, rule.tau, rule.iterations),
      context.reference,
    )
  return applyRule(rule, inputs, { seed: context.seed }, shape?.distances)
}

/**
 * The whole aggregate assembled from every shard's result, computed here in one process (the
 * simulator; a test against aggregate()). Inputs are put in canonical order first. `reference`:
 * centered clipping's, over all coordinates.
 */
export function aggregateByShards(
  rule: AggregationRule,
  contributions: readonly { id: Uint8Array; values: VectorSource }[],
  shards: readonly Shard[],
  context: { seed: Uint8Array; reference?: Float32Array } = { seed: new Uint8Array(0) },
): Float32Array {
  if (contributions.length === 0) throw new AggregationInputError('nothing to aggregate')
  const ordered = [...contributions].sort((a, b) => compareBytes(a.id, b.id)).map((c) => c.values)
  const perShard = shards.map((shard) => shardSources(ordered, shard))
  const reference = readsReference(rule)
    ? (context.reference ?? new Float32Array(ordered[0].length))
    : undefined
  const slice = (shard: Shard) => reference?.subarray(shard.start, shard.end)
  const geometry = needsGeometry(rule)
    ? sumPartials(perShard.map((inputs, s) => partialGeometry(inputs, slice(shards[s]))))
    : undefined
  const out = new Float32Array(ordered[0].length)
  for (const [s, shard] of shards.entries())
    out.set(
      aggregateShard(rule, perShard[s], geometry, { seed: context.seed, reference: slice(shard) }),
      shard.start,
    )
  return out
}
