// How long a node waits for a shard whose aggregators publish nothing (SPEC.md 18.5, 18.8). The
// waits of one round's shards, for results or for partials, run side by side. A shard none of
// whose aggregators has published gives up, and is computed from the deltas, once every other
// shard's wait has ended, at least one of them after its aggregators published (for this set of
// deltas or another), and as long again has passed since the last such one as that one took (at
// least limits.reannounceMs): its aggregators are withholding, or far slower than the others.
// Without it a withheld shard of one replica cost collectTimeoutMs.
import type { Logger } from 'pino'
import type { Shard } from '../aggregate/shards.js'
import { LIMITS } from '../constants.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'

export class ShardWaits {
  private pending: number
  private lastHeardAt: number | undefined
  private readonly silent = new Set<number>()

  /** `shards`: how many shards the node waits for, from `startedAt` (ms). */
  constructor(
    private readonly startedAt: number,
    shards: number,
  ) {
    this.pending = shards
  }

  /** Shard `index` has heard from none of its aggregators (true), or from one (false). */
  hears(index: number, nothing: boolean): void {
    if (nothing) this.silent.add(index)
    else this.silent.delete(index)
  }

  /** Shard `index`'s wait ended at `now`: after its aggregators published (heard), or not. */
  settle(index: number, heard: boolean, now: number): void {
    this.pending--
    this.silent.delete(index)
    if (heard) this.lastHeardAt = now
  }

  /** Whether a shard that has heard from no aggregator stops waiting at `now`. */
  givesUp(now: number): boolean {
    if (this.lastHeardAt === undefined || this.silent.size < this.pending) return false
    return now - this.lastHeardAt >= Math.max(LIMITS.reannounceMs, this.lastHeardAt - this.startedAt)
  }
}

/**
 * Whether a shard that has heard nothing from its aggregators (`silent`) stops waiting for its
 * result or partials at `now` (SPEC.md 18.5): said and counted when it does.
 */
export function withheld(
  what: 'result' | 'partials',
  waits: ShardWaits,
  shard: Shard,
  aggregators: readonly string[],
  silent: boolean,
  now: number,
  metrics: NodeMetrics,
  log: Logger,
): boolean {
  waits.hears(shard.index, silent)
  if (!silent || !waits.givesUp(now)) return false
  log.warn(
    { phase: 'aggregate', shard: shard.index, aggregators, what },
    `no aggregator of a shard published its ${what} while the other shards' did: computing it from the deltas`,
  )
  metrics.shardWithheld.inc({ what })
  return true
}
