// A sharded exchange's round plan (SPEC.md 18): the shard layout a genesis fixes, who aggregates
// each shard in a round, the root that names a round's set of deltas, and the encoding of a shard
// result, whose decoding is what every node applies. Pure functions.
import { decodeDelta, type EncodeOptions, encodeDelta, encodedDeltaSize } from '../codec/delta.js'
import { chunksHolding, chunksOfRanges, encodedRangesOf } from '../codec/delta-ranges.js'
import { DOMAINS, PROTOCOL } from '../constants.js'
import { domainHash } from '../crypto/hash.js'
import { compareBytes } from './order.js'
import type { AggregationRule } from './rules.js'
import { assignAggregators, needsGeometry, type Shard, shardRanges, unshardableRule } from './shards.js'

/** A shard result is encoded int8-block with blocks of this many values (SPEC.md 18.4). */
export const SHARD_RESULT_BLOCK = PROTOCOL.codec.shardResultBlockSize

/**
 * Shard results a node checks against the deltas each round, by default (SPEC.md 18.5): each
 * check costs about one transfer chunk of every delta, so the budget is per round, not per result.
 */
export const DEFAULT_SHARD_CHECKS = 2

export const RESULT_ENCODING: EncodeOptions = { encoding: 'int8-block', blockSize: SHARD_RESULT_BLOCK }

/** What of a genesis a sharded exchange reads. */
export interface ShardedRun {
  exchange?: { shards: number; replicas: number }
  delta: { encoding: string; blockSize: number }
  aggregation: AggregationRule
  contribution: { check: boolean }
  round: { expectedPeers: number }
}

/**
 * Shards are cut on granules (SPEC.md 18.1): a delta's quantisation block (int8-block, int4-block),
 * its sparse chunk (sparse-2bit), or a result block (fp32, fp16), so that no block of a delta is
 * split between two shards.
 */
export function shardGranule(delta: ShardedRun['delta']): number {
  return delta.encoding === 'fp32' || delta.encoding === 'fp16' ? SHARD_RESULT_BLOCK : delta.blockSize
}

/** The run's shards (SPEC.md 18.1); undefined when its exchange is all-to-all. */
export function shardLayout(run: ShardedRun, count: number): Shard[] | undefined {
  if (run.exchange === undefined) return undefined
  return shardRanges(count, run.exchange.shards, shardGranule(run.delta))
}

/**
 * The most inputs whose partial distances fit one gossip message (SPEC.md 18.8): n (n - 1) / 2
 * binary64 values beside the message's other fields, within limits.maxGossipMessageBytes.
 */
export const MAX_PARTIAL_INPUTS = 90

/** Why a genesis cannot shard its exchange, by field, with the fix: empty when it can. */
export function shardedExchangeProblems(
  run: ShardedRun,
  count: number,
): Array<{ path: string[]; message: string }> {
  const exchange = run.exchange
  if (exchange === undefined) return []
  const problems: Array<{ path: string[]; message: string }> = []
  if (run.delta.encoding === 'top-k')
    problems.push({
      path: ['delta', 'encoding'],
      message:
        'a sharded exchange reads deltas by coordinate range, and a top-k delta cannot be read so: use sparse-2bit (top-k by chunk) or remove exchange',
    })
  const rule = run.aggregation
  const unshardable = unshardableRule(rule)
  if (unshardable !== undefined)
    problems.push({
      path: ['aggregation'],
      message: `${unshardable}: drop normBound, use another rule, or remove exchange`,
    })
  if (needsGeometry(rule) && run.round.expectedPeers > MAX_PARTIAL_INPUTS)
    problems.push({
      path: ['round', 'expectedPeers'],
      message: `${rule.rule}${rule.nnmF !== undefined ? ' with nnmF' : ''}${rule.normBound !== undefined ? ' with normBound' : ''} needs the inputs' distances, whose partials one gossip message carries for at most ${MAX_PARTIAL_INPUTS} inputs (SPEC.md 18.8): use at most ${MAX_PARTIAL_INPUTS} expected peers, a coordinate-wise rule, or remove exchange`,
    })
  if (run.contribution.check)
    problems.push({
      path: ['contribution', 'check'],
      message:
        'the contribution check scores whole deltas, which a sharded exchange does not fetch: set it false or remove exchange',
    })
  if (exchange.replicas > run.round.expectedPeers)
    problems.push({
      path: ['exchange', 'replicas'],
      message: `exchange.replicas (${exchange.replicas}) cannot exceed round.expectedPeers (${run.round.expectedPeers})`,
    })
  const granule = run.delta.encoding === 'top-k' ? 1 : shardGranule(run.delta)
  const granules = Math.ceil(count / granule)
  if (exchange.shards > granules)
    problems.push({
      path: ['exchange', 'shards'],
      message: `exchange.shards (${exchange.shards}) exceeds the model's ${granules} granules of ${granule} coordinates: use at most ${granules}`,
    })
  return problems
}

/** The root that names a round's set of deltas (SPEC.md 18.4): SHA-256 of the domain and the sorted roots. */
export function shardSetRoot(deltaHashes: readonly Uint8Array[]): Uint8Array {
  return domainHash(DOMAINS.shardSet, ...[...deltaHashes].sort(compareBytes))
}

export interface ShardPlan {
  shards: Shard[]
  /** by shard: the peer ids (strings) of its aggregators */
  aggregators: string[][]
  /** the shards `self` aggregates, ascending */
  mine: number[]
}

/**
 * Who aggregates each shard in a round (SPEC.md 18.2): `peers` (the previous decided state's
 * contributors) sorted by their id strings, drawn with assignAggregators from the round's seed,
 * `min(replicas, peers)` to a shard.
 */
export function planShards(
  shards: Shard[],
  peers: readonly string[],
  replicas: number,
  seed: Uint8Array,
  self: string,
): ShardPlan {
  const sorted = [...new Set(peers)].sort()
  const table = assignAggregators(sorted.length, shards.length, Math.min(replicas, sorted.length), seed)
  const aggregators = table.map((row) => row.map((j) => sorted[j]))
  const mine = aggregators.flatMap((row, s) => (row.includes(self) ? [s] : []))
  return { shards, aggregators, mine }
}

/**
 * Whether a round's plan reads fewer bytes than whole deltas (SPEC.md 18.2): each of the `m`
 * contributors reads, of each of the other `m - 1` deltas, the transfer chunks of its shards
 * (18.3: the header's alone when it aggregates none), and the result of every shard it does not
 * aggregate (18.4); the round is sharded when that, summed over the contributors, is below
 * `m (m - 1)` deltas. Checks are left out (each node's own budget, 18.5). Below a size where
 * all-to-all is cheaper (few contributors, or a delta of few chunks a shard), it is not.
 */
export function shardingSaves(
  plan: Pick<ShardPlan, 'shards' | 'aggregators'>,
  contributors: readonly string[],
  count: number,
  options: EncodeOptions,
  chunkBytes: number,
): boolean {
  const m = new Set(contributors).size
  return (
    shardedReadBytes(plan, contributors, count, options, chunkBytes) <
    m * (m - 1) * encodedDeltaSize(count, options)
  )
}

/** The bytes shardingSaves compares: sum over the contributors p of (m - 1) P_p + Q_p (SPEC.md 18.2). */
export function shardedReadBytes(
  plan: Pick<ShardPlan, 'shards' | 'aggregators'>,
  contributors: readonly string[],
  count: number,
  options: EncodeOptions,
  chunkBytes: number,
): number {
  const size = encodedDeltaSize(count, options)
  const peers = new Set(contributors)
  const byMine = new Map<string, number>()
  let total = 0
  for (const peer of peers) {
    const mine = plan.aggregators.flatMap((row, s) => (row.includes(peer) ? [s] : []))
    const key = mine.join(',')
    let bytes = byMine.get(key)
    if (bytes === undefined) {
      const part = chunksOfRanges(
        mine.map((s) => plan.shards[s]),
        count,
        options,
        chunkBytes,
      ).reduce((sum, c) => sum + Math.min(chunkBytes, size - c * chunkBytes), 0)
      const results = plan.shards
        .filter((shard) => !mine.includes(shard.index))
        .reduce((sum, shard) => sum + shardResultSize(shard), 0)
      bytes = (peers.size - 1) * part + results
      byMine.set(key, bytes)
    }
    total += bytes
  }
  return total
}

/** The encoded size of a shard's result (SPEC.md 18.4). */
export function shardResultSize(shard: Shard): number {
  return encodedDeltaSize(shard.end - shard.start, RESULT_ENCODING)
}

/**
 * A shard's aggregate as its result (SPEC.md 18.4): the int8-block encoding that is served, and its
 * decoding, which every node applies, whoever computed the shard.
 */
export function shardResult(aggregate: Float32Array): { bytes: Uint8Array; values: Float32Array } {
  const bytes = encodeDelta(aggregate, RESULT_ENCODING)
  return { bytes, values: decodeDelta(bytes, aggregate.length).values }
}

/**
 * The coordinates a check of result block `block` of `shard` covers (SPEC.md 18.5): the blocks of
 * the shard around it whose bytes, in a delta encoded with `options`, lie in the transfer chunks
 * that block `block`'s own bytes lie in. Fetching those chunks of every delta is what checking the
 * one block costs; checking every block they hold costs nothing more, and catches a wrong value
 * there with certainty.
 */
export function checkSpan(
  shard: Shard,
  block: number,
  count: number,
  options: EncodeOptions,
  chunkBytes: number,
): Shard {
  const size = encodedDeltaSize(count, options)
  const blocks = Math.ceil((shard.end - shard.start) / SHARD_RESULT_BLOCK)
  const range = (first: number, last: number) => ({
    index: shard.index,
    start: shard.start + first * SHARD_RESULT_BLOCK,
    end: Math.min(shard.end, shard.start + (last + 1) * SHARD_RESULT_BLOCK),
  })
  const chunksOf = (r: Shard) =>
    chunksHolding(encodedRangesOf(count, options, r.start, r.end), size, chunkBytes)
  const own = new Set(chunksOf(range(block, block)))
  const fits = (first: number, last: number) => chunksOf(range(first, last)).every((c) => own.has(c))
  // the blocks that fit are a run around `block`: find each end by doubling, then bisecting
  const farthest = (limit: number, step: 1 | -1): number => {
    const ok = (b: number) => (step === 1 ? fits(block, b) : fits(b, block))
    let good = block
    let bad = limit + step
    for (let reach = 1; ; reach *= 2) {
      const at = block + step * reach
      if (step * (at - limit) > 0) {
        if (ok(limit)) return limit
        bad = limit
        break
      }
      if (!ok(at)) {
        bad = at
        break
      }
      good = at
    }
    while (Math.abs(bad - good) > 1) {
      const mid = Math.trunc((good + bad) / 2)
      if (ok(mid)) good = mid
      else bad = mid
    }
    return good
  }
  return range(farthest(0, -1), farthest(blocks - 1, 1))
}
