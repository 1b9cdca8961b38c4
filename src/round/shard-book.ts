// The shard results a node has heard of (SPEC.md 18.4), by round, set root and shard: for each,
// the result each aggregator signed. Two different results signed by one aggregator for the same
// round, set and shard are both kept and marked: neither is used. Rounds are forgotten as the
// round advances (LIMITS.keptDeltaRounds), and a round holds a bounded number of results.
import { LIMITS } from '../constants.js'
import { bytesEqual, toHex } from '../crypto/hash.js'
import type { Changes } from '../util/clock.js'

export interface ShardResultEntry {
  root: Uint8Array
  size: number
  /** the aggregator signed another result for the same round, set and shard: not used */
  equivocated?: boolean
}

export interface ShardBookComponents {
  changes: Changes
}

/** results kept per round at most: every shard's replicas, for a few sets each */
const MAX_RESULTS_PER_ROUND = 65_536

export class ShardBook {
  private readonly rounds = new Map<number, Map<string, Map<string, ShardResultEntry>>>()
  private readonly counts = new Map<number, number>()

  constructor(private readonly components: ShardBookComponents) {}

  /**
   * Records `peer`'s result of a round's shard for the set `setRoot`. Returns 'new', 'duplicate'
   * (the same result again), 'equivocation' (another result: both are marked) or 'over-limit'.
   */
  add(
    round: number,
    setRoot: Uint8Array,
    shard: number,
    peer: string,
    entry: ShardResultEntry,
  ): 'new' | 'duplicate' | 'equivocation' | 'over-limit' {
    const byKey = this.rounds.get(round) ?? new Map<string, Map<string, ShardResultEntry>>()
    const key = keyOf(setRoot, shard)
    const byPeer = byKey.get(key) ?? new Map<string, ShardResultEntry>()
    const known = byPeer.get(peer)
    if (known !== undefined) {
      if (bytesEqual(known.root, entry.root) && known.size === entry.size) return 'duplicate'
      known.equivocated = true
      this.components.changes.notify()
      return 'equivocation'
    }
    const count = this.counts.get(round) ?? 0
    if (count >= MAX_RESULTS_PER_ROUND) return 'over-limit'
    this.counts.set(round, count + 1)
    byPeer.set(peer, { root: entry.root, size: entry.size })
    byKey.set(key, byPeer)
    this.rounds.set(round, byKey)
    this.components.changes.notify()
    return 'new'
  }

  /** The results of a round's shard for a set, by aggregator. */
  resultsOf(round: number, setRoot: Uint8Array, shard: number): ReadonlyMap<string, ShardResultEntry> {
    return this.rounds.get(round)?.get(keyOf(setRoot, shard)) ?? new Map()
  }

  /** The aggregators that published a result of a round's shard, for any set. */
  publishersOf(round: number, shard: number): Set<string> {
    const out = new Set<string>()
    for (const [key, byPeer] of this.rounds.get(round) ?? [])
      if (key.endsWith(`/${shard}`)) for (const peer of byPeer.keys()) out.add(peer)
    return out
  }

  /** Forgets the rounds more than LIMITS.keptDeltaRounds before `round`. */
  forgetBefore(round: number): void {
    for (const r of [...this.rounds.keys()])
      if (r + LIMITS.keptDeltaRounds < round) {
        this.rounds.delete(r)
        this.counts.delete(r)
      }
  }
}

function keyOf(setRoot: Uint8Array, shard: number): string {
  return `${toHex(setRoot)}/${shard}`
}
