// The shard results a node has heard of (SPEC.md 18.4), by round, set root and shard: for each,
// the result each aggregator signed, with its signed envelope. Two different results signed by
// one aggregator for the same round, set and shard are both kept and marked: neither is used.
// Evidence (18.7) excludes an aggregator from a round and refutes a result root: neither is used
// again in that round. Rounds are forgotten as the round advances (LIMITS.keptDeltaRounds), and a
// round holds a bounded number of results.
import { LIMITS } from '../constants.js'
import { bytesEqual, toHex } from '../crypto/hash.js'
import type { Changes } from '../util/clock.js'

export interface ShardResultEntry {
  root: Uint8Array
  size: number
  /** the signed ShardResult as received (evidence is built from it, 18.7) */
  envelope: Uint8Array
  /** the aggregator signed another result for the same round, set and shard: not used */
  equivocated?: boolean
}

/** An aggregator's partials of a shard (18.8): the pairs i < j and to the anchor; marked when it signed two. */
export interface PartialsEntry {
  distances: Float64Array
  anchor: Float64Array
  equivocated?: boolean
}

type Recorded = 'new' | 'duplicate' | 'equivocation' | 'over-limit'

export interface ShardBookComponents {
  changes: Changes
}

/** results kept per round at most: every shard's replicas, for a few sets each */
const MAX_RESULTS_PER_ROUND = 65_536

export class ShardBook {
  private readonly rounds = new Map<number, Map<string, Map<string, ShardResultEntry>>>()
  private readonly counts = new Map<number, number>()
  /** by round: aggregators shown dishonest by evidence (18.7) */
  private readonly excluded = new Map<number, Set<string>>()
  /** by round: result roots shown wrong (hex) */
  private readonly refuted = new Map<number, Set<string>>()
  /** by round, set root and shard: each aggregator's partial distances (18.8) */
  private readonly partials = new Map<number, Map<string, Map<string, PartialsEntry>>>()

  constructor(private readonly components: ShardBookComponents) {}

  /**
   * Records `peer`'s result of a round's shard for the set `setRoot`. Returns 'new', 'duplicate'
   * (the same result again), 'equivocation' (another result: both are marked) or 'over-limit'.
   */
  add(round: number, setRoot: Uint8Array, shard: number, peer: string, entry: ShardResultEntry): Recorded {
    return this.record(
      this.rounds,
      round,
      keyOf(setRoot, shard),
      peer,
      entry,
      (known) => bytesEqual(known.root, entry.root) && known.size === entry.size,
    )
  }

  /**
   * Records `peer`'s partials of a round's shard for a set (18.8), as add() records a result:
   * other partials from the same aggregator mark it, and neither is used.
   */
  addPartials(
    round: number,
    setRoot: Uint8Array,
    shard: number,
    peer: string,
    partials: { distances: Float64Array; anchor: Float64Array },
  ): Recorded {
    const { distances, anchor } = partials
    return this.record(this.partials, round, keyOf(setRoot, shard), peer, { distances, anchor }, (known) =>
      samePartials(known, partials),
    )
  }

  /** The partial distances of a round's shard for a set, by aggregator. */
  partialsOf(round: number, setRoot: Uint8Array, shard: number): ReadonlyMap<string, PartialsEntry> {
    return this.partials.get(round)?.get(keyOf(setRoot, shard)) ?? new Map()
  }

  /** One signed message per (round, key, peer); a second, different one marks the first. */
  private record<T extends { equivocated?: boolean }>(
    store: Map<number, Map<string, Map<string, T>>>,
    round: number,
    key: string,
    peer: string,
    entry: T,
    same: (known: T) => boolean,
  ): Recorded {
    const byKey = store.get(round) ?? new Map<string, Map<string, T>>()
    const byPeer = byKey.get(key) ?? new Map<string, T>()
    const known = byPeer.get(peer)
    if (known !== undefined) {
      if (same(known)) return 'duplicate'
      known.equivocated = true
      this.components.changes.notify()
      return 'equivocation'
    }
    const count = this.counts.get(round) ?? 0
    if (count >= MAX_RESULTS_PER_ROUND) return 'over-limit'
    this.counts.set(round, count + 1)
    byPeer.set(peer, { ...entry, equivocated: undefined })
    byKey.set(key, byPeer)
    store.set(round, byKey)
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

  /** Evidence against `peer` in `round` (18.7): its results are not used. False if known. */
  exclude(round: number, peer: string): boolean {
    return this.addTo(this.excluded, round, peer)
  }

  /** Evidence that the result `root` of `round` is wrong (18.7). False if known. */
  refute(round: number, root: Uint8Array): boolean {
    return this.addTo(this.refuted, round, toHex(root))
  }

  /** Whether a result may be used: its root not refuted, and not every signer excluded. */
  usable(round: number, root: Uint8Array, signers: readonly string[]): boolean {
    if (this.refuted.get(round)?.has(toHex(root))) return false
    const excluded = this.excluded.get(round)
    return excluded === undefined || signers.some((s) => !excluded.has(s))
  }

  isRefuted(round: number, root: Uint8Array): boolean {
    return this.refuted.get(round)?.has(toHex(root)) ?? false
  }

  isExcluded(round: number, peer: string): boolean {
    return this.excluded.get(round)?.has(peer) ?? false
  }

  /** Forgets the rounds more than LIMITS.keptDeltaRounds before `round`. */
  forgetBefore(round: number): void {
    for (const map of [this.rounds, this.counts, this.excluded, this.refuted, this.partials] as Map<
      number,
      unknown
    >[])
      for (const r of [...map.keys()]) if (r + LIMITS.keptDeltaRounds < round) map.delete(r)
  }

  private addTo(map: Map<number, Set<string>>, round: number, value: string): boolean {
    const set = map.get(round) ?? new Set<string>()
    if (set.has(value)) return false
    if (set.size >= LIMITS.maxEvidencePerRound) return false
    set.add(value)
    map.set(round, set)
    this.components.changes.notify()
    return true
  }
}

/** Two vectors of distances bit for bit alike. */
function sameValues(a: Float64Array, b: Float64Array): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]))
}

/** Two sets of a shard's partials alike (SPEC.md 18.8): every value of both fields, bit for bit. */
export function samePartials(
  a: { distances: Float64Array; anchor: Float64Array },
  b: { distances: Float64Array; anchor: Float64Array },
): boolean {
  return sameValues(a.distances, b.distances) && sameValues(a.anchor, b.anchor)
}

function keyOf(setRoot: Uint8Array, shard: number): string {
  return `${toHex(setRoot)}/${shard}`
}
