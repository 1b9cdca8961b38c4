// Sharded aggregation (SPEC.md 18; the design, its measurements and what is still open:
// docs/sharded-aggregation.md): the shard layout, the aggregator draw, and aggregation shard by
// shard. A node's sharded exchange (round/shard-exchange.ts) uses the layout and the draw with the
// coordinate-wise rules; the partial distances below, for the rules that need whole-vector
// distances, are used by the traffic simulator (src/sim/) only, not exchanged by nodes yet. Pure
// functions.
//
// The coordinates are cut into shards on granule boundaries (a granule: a run of coordinates whose
// encoded bytes can be fetched on their own, such as one sparse-2bit chunk). Each shard gets
// `replicas` aggregators drawn from the round's seed. An aggregator reads only its shards'
// coordinates of every delta. A coordinate-wise rule needs nothing else; a rule that needs
// whole-vector distances (NNM, Krum) gets them as the sum, in shard order, of every shard's
// partial distances (each the binary64 running sum over the shard's coordinates in index order).
// Every node derives the same distances from the same partials, so every shard mixes alike.
import { DOMAINS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'
import {
  AggregationInputError,
  type BlockSet,
  pairwiseSquaredDistances,
  sourceSet,
  type VectorSource,
} from './blocks.js'
import { compareBytes } from './order.js'
import { nearestNeighbourMixing } from './robust.js'
import { type AggregationRule, applyRule, checkTolerance } from './rules.js'

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

/** Does the rule need whole-vector distances (and then only them) to aggregate a shard? */
export function needsDistances(rule: AggregationRule): boolean {
  return (
    rule.rule === 'nnm-trimmed-mean' ||
    rule.rule === 'krum' ||
    rule.rule === 'multi-krum' ||
    rule.nnmF !== undefined
  )
}

/**
 * A shard's partial pairwise squared distances: what an aggregator publishes beside its result
 * (n^2 binary64 values; n (n - 1) / 2 of them distinct).
 */
export function partialDistances(shardInputs: readonly VectorSource[]): Float64Array[] {
  return pairwiseSquaredDistances(sourceSet(shardInputs))
}

/** The whole vectors' distances: the partials of every shard added in shard order (binary64). */
export function sumPartials(partials: readonly (readonly Float64Array[])[]): Float64Array[] {
  const n = partials[0].length
  const out = Array.from({ length: n }, () => new Float64Array(n))
  for (const partial of partials)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i][j] += partial[i][j]
  return out
}

export class ShardedRuleError extends Error {
  override name = 'ShardedRuleError'
}

/**
 * One shard's aggregate: the rule over the shard's coordinates of the inputs (canonical order:
 * ascending ids, as aggregate() orders them), with the whole vectors' `distances` where the rule
 * needs them. Coordinate-wise rules give exactly the whole-vector result's coordinates; NNM and
 * Krum give them too whenever the summed distances order the inputs as the whole-vector ones do.
 * Rules whose distances change per iteration (geometric median, centered clipping) or that clip
 * norms are not sharded yet: ShardedRuleError.
 */
export function aggregateShard(
  rule: AggregationRule,
  shardInputs: readonly VectorSource[],
  distances?: readonly Float64Array[],
): Float32Array {
  if (
    rule.rule === 'geometric-median' ||
    rule.rule === 'centered-clipping' ||
    rule.normBound !== undefined ||
    (rule.bucketSize !== undefined && rule.bucketSize > 1)
  )
    throw new ShardedRuleError(
      `${rule.rule}${rule.normBound !== undefined ? ' with a norm bound' : ''}${rule.bucketSize ? ' with bucketing' : ''} is not sharded yet (docs/sharded-aggregation.md)`,
    )
  const distanceRule = rule.rule === 'nnm-trimmed-mean' || rule.rule === 'krum' || rule.rule === 'multi-krum'
  if (rule.nnmF !== undefined && distanceRule)
    // the rule would need the distances of the mixed vectors, which the partials do not give
    throw new ShardedRuleError(
      `${rule.rule} after an NNM pre-step is not sharded yet (docs/sharded-aggregation.md)`,
    )
  if (needsDistances(rule) && distances === undefined)
    throw new ShardedRuleError(`${rule.rule} needs the whole vectors' distances to aggregate a shard`)
  let inputs: BlockSet = sourceSet(shardInputs)
  checkTolerance(rule, inputs.count)
  if (rule.nnmF !== undefined) inputs = nearestNeighbourMixing(inputs, rule.nnmF, distances)
  // refused above: geometric median and centered clipping, whose context this never needs
  return applyRule(rule, inputs, { seed: new Uint8Array(0) }, distances)
}

/**
 * The whole aggregate assembled from every shard's result, computed here in one process (the
 * simulator; a test against aggregate()). Inputs are put in canonical order first.
 */
export function aggregateByShards(
  rule: AggregationRule,
  contributions: readonly { id: Uint8Array; values: VectorSource }[],
  shards: readonly Shard[],
): Float32Array {
  if (contributions.length === 0) throw new AggregationInputError('nothing to aggregate')
  const ordered = [...contributions].sort((a, b) => compareBytes(a.id, b.id)).map((c) => c.values)
  const perShard = shards.map((shard) => shardSources(ordered, shard))
  const distances = needsDistances(rule) ? sumPartials(perShard.map(partialDistances)) : undefined
  const out = new Float32Array(ordered[0].length)
  for (const [s, shard] of shards.entries())
    out.set(aggregateShard(rule, perShard[s], distances), shard.start)
  return out
}
