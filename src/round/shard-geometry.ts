// The inputs' geometry in a sharded round (SPEC.md 18.8): every shard's partials (the inputs'
// squared distances to each other and to the anchor over the shard's coordinates), summed in shard
// order. A node computes and publishes its own shards' partials, takes every other shard's from
// its aggregators, and computes a shard's from the deltas where it must. Used by ShardExchange for
// the rules that read the geometry (18.9).
import type { Logger } from 'pino'
import type { Geometry } from '../aggregate/geometry.js'
import {
  type AggregationContext,
  type AggregationRule,
  type Contribution,
  readsReference,
} from '../aggregate/rules.js'
import type { ShardPlan } from '../aggregate/shard-plan.js'
import { partialGeometry, type Shard, shardSources, sumPartials } from '../aggregate/shards.js'
import { LIMITS } from '../constants.js'
import type { Publisher } from '../gossip/publisher.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { Changes, Clock } from '../util/clock.js'
import type { Genesis } from '../wire/genesis.js'
import { type ShardBook, samePartials } from './shard-book.js'
import { ShardWaits, withheld } from './shard-waits.js'

/** What a round's aggregation reads beside the deltas: its seed, and centered clipping's reference. */
export type RoundContext = Pick<AggregationContext, 'seed' | 'reference'>

export interface ShardGeometryComponents {
  genesis: Genesis
  shardBook: ShardBook
  publisher: Publisher
  metrics: NodeMetrics
  clock: Clock
  changes: Changes
  signal: AbortSignal
}

export interface ShardGeometryInit {
  layout: Shard[]
  dimension: number
  /** fetches the shard's part of every contribution held only in part (ShardExchange's) */
  fetchShard: (round: number, ordered: readonly Contribution[], shard: Shard) => Promise<void>
}

export class ShardGeometry {
  constructor(
    private readonly components: ShardGeometryComponents,
    private readonly init: ShardGeometryInit,
  ) {}

  /**
   * The whole vectors' geometry (SPEC.md 18.8): every shard's partials, summed in shard order. This
   * node computes and publishes its own shards' partials; takes every other shard's from its
   * aggregators (all of them, or `reannounceMs` after the first, when they agree); and computes a
   * shard's partials from the deltas when it has no plan, or the aggregators' disagree, sign two,
   * or do not come in `collectTimeoutMs`. The anchor is centered clipping's reference, or the
   * origin.
   */
  async sum(
    round: number,
    setRoot: Uint8Array,
    rule: AggregationRule,
    ordered: readonly Contribution[],
    context: RoundContext,
    plan: ShardPlan | undefined,
    log: Logger,
  ): Promise<Geometry> {
    const reference = readsReference(rule)
      ? (context.reference ?? new Float32Array(this.init.dimension))
      : undefined
    const partialsOf = (shard: Shard) =>
      partialGeometry(
        shardSources(
          ordered.map((c) => c.values),
          shard,
        ),
        reference?.subarray(shard.start, shard.end),
      )
    const mine = new Set(plan?.mine ?? [])
    const partials: Geometry[] = new Array(this.init.layout.length)
    for (const shard of this.init.layout) {
      if (!mine.has(shard.index)) continue
      partials[shard.index] = partialsOf(shard)
      this.components.metrics.shardPartials.inc({ source: 'own' })
      await this.components.publisher.shardPartials({
        round,
        setRoot,
        shard: shard.index,
        inputs: ordered.length,
        distances: upperTriangle(partials[shard.index].distances),
        anchor: partials[shard.index].anchor,
      })
    }
    const waits = new ShardWaits(this.components.clock.now(), this.init.layout.length - mine.size)
    await Promise.all(
      this.init.layout
        .filter((shard) => !mine.has(shard.index))
        .map(async (shard) => {
          const taken =
            plan === undefined
              ? undefined
              : await this.fromAggregators(
                  round,
                  setRoot,
                  shard,
                  plan.aggregators[shard.index],
                  ordered.length,
                  waits,
                  log,
                )
          waits.settle(shard.index, taken !== undefined, this.components.clock.now())
          if (taken !== undefined) {
            partials[shard.index] = taken
            this.components.metrics.shardPartials.inc({ source: 'fetched' })
            return
          }
          await this.init.fetchShard(round, ordered, shard)
          partials[shard.index] = partialsOf(shard)
          this.components.metrics.shardPartials.inc({ source: 'computed' })
        }),
    )
    return sumPartials(partials)
  }

  /** A shard's partials for this set from its aggregators, as `geometry` describes; undefined: compute them. */
  private async fromAggregators(
    round: number,
    setRoot: Uint8Array,
    shard: Shard,
    aggregators: readonly string[],
    inputs: number,
    waits: ShardWaits,
    log: Logger,
  ): Promise<Geometry | undefined> {
    const { shardBook, clock, changes, signal, genesis } = this.components
    const deadline = clock.now() + genesis.round.collectTimeoutMs
    let firstAt: number | undefined
    for (;;) {
      signal.throwIfAborted()
      const held = shardBook.partialsOf(round, setRoot, shard.index)
      const got = aggregators.flatMap((peer) => {
        const p = held.get(peer)
        return p === undefined ? [] : [p]
      })
      const values = got.filter((p) => !p.equivocated)
      if (values.length < got.length || values.some((p) => !samePartials(p, values[0]))) {
        log.warn(
          { phase: 'aggregate', shard: shard.index, aggregators },
          "the aggregators of a shard published different partial distances: computing the shard's from the deltas",
        )
        this.components.metrics.shardMismatches.inc()
        return undefined
      }
      const now = clock.now()
      if (
        withheld(
          'partials',
          waits,
          shard,
          aggregators,
          values.length === 0,
          now,
          this.components.metrics,
          log,
        )
      )
        return undefined
      if (values.length > 0) firstAt ??= now
      if (
        values.length > 0 &&
        (values.length === aggregators.length || now - (firstAt ?? now) >= LIMITS.reannounceMs)
      )
        return { distances: fullMatrix(values[0].distances, inputs), anchor: values[0].anchor }
      if (now >= deadline) return undefined
      await changes.changed(Math.min(deadline - now, firstAt === undefined ? 1000 : 250))
    }
  }
}

/** The pairs i < j of a symmetric matrix with a zero diagonal, row by row (SPEC.md 18.8). */
function upperTriangle(matrix: readonly Float64Array[]): Float64Array {
  const n = matrix.length
  const out = new Float64Array((n * (n - 1)) / 2)
  let at = 0
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[at++] = matrix[i][j]
  return out
}

/** The symmetric n x n matrix of the pairs i < j, row by row, with a zero diagonal. */
function fullMatrix(pairs: Float64Array, n: number): Float64Array[] {
  const out = Array.from({ length: n }, () => new Float64Array(n))
  let at = 0
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      out[i][j] = pairs[at]
      out[j][i] = pairs[at++]
    }
  return out
}
