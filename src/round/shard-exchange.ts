// A sharded exchange's round (SPEC.md 18): at a round's start the node draws who aggregates each
// shard; while it collects, its fetcher fetches only its own shards' part of every delta; at the
// aggregation it computes its shards, serves their results and announces them, and takes every
// other shard's result from the shard's aggregators, or computes the shard from the deltas when
// they disagree, withhold it or serve bytes that do not decode. Every node applies the same
// decoded results, whoever computed them, so honest nodes stay bit-identical.
import { randomInt } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import type { Geometry } from '../aggregate/geometry.js'
import { compareBytes } from '../aggregate/order.js'
import { type AggregationRule, type Contribution, roundSeed } from '../aggregate/rules.js'
import {
  checkSpan,
  planShards,
  RESULT_ENCODING,
  SHARD_RESULT_BLOCK,
  type ShardPlan,
  shardingSaves,
  shardResult,
  shardResultSize,
  shardSetRoot,
} from '../aggregate/shard-plan.js'
import { aggregateShard, needsGeometry, type Shard, shardSources } from '../aggregate/shards.js'
import { decodeDelta, type EncodeOptions, openDelta } from '../codec/delta.js'
import { chunksHolding, encodedRangesOf } from '../codec/delta-ranges.js'
import { LIMITS } from '../constants.js'
import { toHex } from '../crypto/hash.js'
import { peerIdFromBytes } from '../crypto/sign.js'
import type { Publisher } from '../gossip/publisher.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { DeltaFetcher } from '../net/delta-fetcher.js'
import type { Host } from '../net/host.js'
import type { PenaltyReason } from '../net/peer-guard.js'
import { ChunkAssembly, fetchChunks, fetchWanted, type TransferCounters } from '../net/transfer.js'
import type { DeltaStore } from '../store/delta-store.js'
import type { Changes, Clock } from '../util/clock.js'
import type { Genesis } from '../wire/genesis.js'
import { encodeShardEvidence, type ShardResult } from '../wire/messages.js'
import type { CommitBook } from './commit-book.js'
import type { DeltaBook } from './delta-book.js'
import { attackedResults, type ShardAttack } from './shard-attacks.js'
import type { ShardBook } from './shard-book.js'
import { type RoundContext, ShardGeometry } from './shard-geometry.js'
import { ShardWaits, withheld } from './shard-waits.js'
import type { Sync } from './sync.js'

export interface ShardExchangeComponents {
  genesis: Genesis
  runId: Uint8Array
  peerId: PeerId
  host: Host
  store: DeltaStore
  deltaBook: DeltaBook
  commits: CommitBook
  sync: Sync
  fetcher: DeltaFetcher
  shardBook: ShardBook
  publisher: Publisher
  counters: TransferCounters
  penalize: (peer: string, reason: PenaltyReason) => void
  metrics: NodeMetrics
  clock: Clock
  changes: Changes
  signal: AbortSignal
}

export interface ShardExchangeInit {
  /** the run's shards (shardLayout) */
  layout: Shard[]
  /** the model's parameter count */
  dimension: number
  /** the encoding of the run's deltas: which of their chunks a check reads */
  encodeOptions: EncodeOptions
  /** results taken from aggregators this node checks against the deltas each round (SPEC.md 18.5) */
  checks: number
  /** drills only: the checks' draws below `n`, of results then blocks (default: node:crypto's randomInt) */
  draw?: (n: number) => number
  /** Byzantine drills only: by round, what this node announces instead of its honest results */
  attack?: (round: number) => ShardAttack | undefined
}

/** A shard result taken from its aggregators (SPEC.md 18.5), decoded. */
interface Taken {
  shard: Shard
  values: Float32Array
  root: Uint8Array
  signers: string[]
  /** one signer's signed ShardResult: evidence is built from it (18.7) */
  envelope: Uint8Array
}

/** Deltas whose part a shard needs that this node could not fetch (SPEC.md 18.5). */
export class ShardInputsUnavailableError extends Error {
  override name = 'ShardInputsUnavailableError'
  constructor(
    readonly peers: readonly string[],
    message: string,
  ) {
    super(message)
  }
}

export class ShardExchange {
  /** by round: its plan, or null when the node reads whole deltas that round */
  private readonly plans = new Map<number, ShardPlan | null>()
  /** the latest round begun */
  private begun = -1
  /** whether the last plan drawn saved bytes over whole deltas (logged when it changes) */
  private sharding: boolean | undefined
  /** by round: the set this node assembled last, with its contributions (evidence is checked on it) */
  private readonly assembled = new Map<
    number,
    {
      setRoot: string
      rule: AggregationRule
      contributions: readonly Contribution[]
      geometry: Geometry | undefined
      context: RoundContext
    }
  >()
  /** by round: the results this node took from aggregators in its last assembly */
  private readonly used = new Map<number, Array<{ root: Uint8Array; signers: string[] }>>()
  /** by round: result roots whose evidence this node has checked (each once) */
  private readonly examined = new Map<number, Set<string>>()

  /** the inputs' geometry, from the partials (SPEC.md 18.8) */
  private readonly geometryOf: ShardGeometry

  constructor(
    private readonly components: ShardExchangeComponents,
    private readonly init: ShardExchangeInit,
  ) {
    this.geometryOf = new ShardGeometry(components, {
      layout: init.layout,
      dimension: init.dimension,
      fetchShard: (round, ordered, shard) => this.fetchShard(round, ordered, shard),
    })
  }

  /**
   * Draws who aggregates each shard of `round` (SPEC.md 18.2), from the contributors of the
   * decided state of `round - 1`: the peers whose deltas its commits list. A node that cannot
   * name them all (round 0, a node restarted or synced since) reads whole deltas this round and
   * computes every shard itself.
   */
  beginRound(round: number, log: Logger): ShardPlan | undefined {
    const plan = this.planRound(round, log)
    this.plans.set(round, plan ?? null)
    this.begun = Math.max(this.begun, round)
    for (const map of [this.plans, this.assembled, this.used, this.examined] as Map<number, unknown>[])
      for (const r of [...map.keys()]) if (r + LIMITS.keptDeltaRounds < round) map.delete(r)
    this.components.shardBook.forgetBefore(round)
    // the round's deltas announced before it began are fetched now, as the plan says
    this.components.fetcher.planned(round)
    return plan
  }

  /**
   * What this node reads of every delta of `round` (SPEC.md 18.3): its shards' ranges, whole
   * deltas (no plan), or nothing yet for a round it has not begun.
   */
  partOf(round: number): Shard[] | 'whole' | 'pending' {
    const plan = this.plans.get(round)
    if (plan !== undefined) return plan === null ? 'whole' : plan.mine.map((s) => this.init.layout[s])
    return round > this.begun ? 'pending' : 'whole'
  }

  private planRound(round: number, log: Logger): ShardPlan | undefined {
    const { sync, commits, deltaBook, genesis, runId, peerId } = this.components
    if (round === 0) return undefined
    const decided = sync.decidedOf(round - 1, false)
    if (decided === undefined) {
      log.debug(
        { phase: 'train' },
        'sharded exchange: no decided state of the previous round, reading whole deltas',
      )
      return undefined
    }
    // the set its commits list (a re-commit after a sync lists none: another voter's then)
    const records = [commits.ownOf(round - 1), ...decided.peers.map((p) => commits.peersOf(round - 1).get(p))]
    const set = records.find(
      (r) =>
        r !== undefined && r.weightsHash === decided.record.weightsHash && (r.deltaHashes?.length ?? 0) > 0,
    )?.deltaHashes
    if (set === undefined) return undefined
    const byHash = new Map<string, string>()
    for (const [peer, entry] of deltaBook.entries(round - 1)) byHash.set(toHex(entry.deltaHash), peer)
    const peers = set.map((h) => byHash.get(toHex(h)))
    if (peers.some((p) => p === undefined)) {
      log.debug(
        { phase: 'train', known: peers.filter((p) => p !== undefined).length, of: set.length },
        'sharded exchange: the previous round has contributors this node did not hear of, reading whole deltas',
      )
      return undefined
    }
    const plan = planShards(
      this.init.layout,
      peers as string[],
      genesis.exchange!.replicas,
      roundSeed(runId, round),
      peerId.toString(),
    )
    // below a size where all-to-all is cheaper, the round reads whole deltas (SPEC.md 18.2)
    const saves = shardingSaves(
      plan,
      peers as string[],
      this.init.dimension,
      this.init.encodeOptions,
      LIMITS.chunkBytes,
    )
    if (saves !== this.sharding) {
      log.info(
        { phase: 'train', contributors: new Set(peers).size },
        saves
          ? 'sharded exchange: shards save bytes over whole deltas this round: aggregating by shards'
          : 'sharded exchange: whole deltas cost no more than shards with this many contributors: reading whole deltas (SPEC.md 18.2)',
      )
      this.sharding = saves
    }
    if (!saves) return undefined
    log.debug(
      { phase: 'train', aggregators: new Set(plan.aggregators.flat()).size, mine: plan.mine },
      'shards drawn',
    )
    return plan
  }

  /**
   * The aggregate of `contributions` under `rule`, shard by shard (SPEC.md 18.4, 18.5): this
   * node's own shards computed, served and announced first; every other shard's result fetched
   * from its aggregators, or computed here from the deltas. Every shard's values are its result's
   * decoding.
   */
  async aggregate(
    round: number,
    rule: AggregationRule,
    contributions: readonly Contribution[],
    baseHash: Uint8Array,
    context: RoundContext,
    log: Logger,
  ): Promise<Float32Array> {
    const plan = this.plans.get(round) ?? undefined
    const setRoot = shardSetRoot(contributions.map((c) => c.id))
    this.used.set(round, [])
    // the inputs in canonical order (SPEC.md 8.0), and the whole vectors' geometry where the rule
    // needs it: every shard's partials, summed in shard order (18.8)
    contributions = [...contributions].sort((a, b) => compareBytes(a.id, b.id))
    const geometry = needsGeometry(rule)
      ? await this.geometryOf.sum(round, setRoot, rule, contributions, context, plan, log)
      : undefined
    this.assembled.set(round, { setRoot: toHex(setRoot), rule, contributions, geometry, context })
    const out = new Float32Array(this.init.dimension)
    const mine = new Set(plan?.mine ?? [])
    let own = 0
    let computed = 0
    for (const shard of this.init.layout) {
      if (!mine.has(shard.index)) continue
      const result = this.compute(rule, contributions, shard, geometry, context)
      const attack = this.init.attack?.(round)
      const announced =
        attack === undefined ? [result.bytes] : attackedResults(attack, result.bytes, shard.end - shard.start)
      for (const bytes of announced)
        await this.components.publisher.shardResult({
          round,
          baseHash,
          setRoot,
          shard: shard.index,
          resultRoot: this.components.store.put(round, bytes),
          resultSize: bytes.length,
        })
      out.set(result.values, shard.start)
      own++
    }
    const taken: Taken[] = []
    const waits = new ShardWaits(this.components.clock.now(), this.init.layout.length - mine.size)
    const computeHere = async (shard: Shard) => {
      await this.fetchShard(round, contributions, shard)
      out.set(this.compute(rule, contributions, shard, geometry, context).values, shard.start)
      computed++
    }
    await Promise.all(
      this.init.layout
        .filter((shard) => !mine.has(shard.index))
        .map(async (shard) => {
          const result =
            plan === undefined
              ? undefined
              : await this.fromResults(round, setRoot, shard, plan.aggregators[shard.index], waits, log)
          // a shard whose aggregators published, for this set or another, shows how long they take
          const published = this.components.shardBook.publishersOf(round, shard.index)
          const heard =
            result !== undefined || (plan?.aggregators[shard.index] ?? []).some((a) => published.has(a))
          waits.settle(shard.index, heard, this.components.clock.now())
          if (result === undefined) return await computeHere(shard)
          taken.push(result)
          out.set(result.values, shard.start)
        }),
    )
    // The checks (18.5): `init.checks` of the results taken, drawn here after they were published,
    // each recomputed over a random span from the deltas. A wrong one is replaced by the shard
    // computed from the deltas, and shown to the other nodes (18.7).
    const draw = this.init.draw ?? randomInt
    const order = [...taken]
    const count = Math.min(this.init.checks, order.length)
    for (let i = 0; i < count; i++) {
      const j = i + draw(order.length - i)
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    for (const t of order.slice(0, count)) {
      const wrong = await this.check(round, rule, contributions, t.shard, t.values, geometry, context)
      if (wrong === undefined) continue
      log.warn(
        { phase: 'aggregate', shard: t.shard.index, block: wrong, aggregators: t.signers },
        'a shard result failed its check against the deltas: computing the shard from the deltas',
      )
      this.components.metrics.shardCheckFailures.inc()
      await this.convicted(round, t.root, t.signers)
      await this.components.publisher.shardEvidence(encodeShardEvidence({ result: t.envelope, block: wrong }))
      taken.splice(taken.indexOf(t), 1)
      await computeHere(t.shard)
    }
    const fetched = taken.length
    this.used.set(
      round,
      taken.map((t) => ({ root: t.root, signers: t.signers })),
    )
    this.components.metrics.shardResults.inc({ source: 'own' }, own)
    this.components.metrics.shardResults.inc({ source: 'fetched' }, fetched)
    this.components.metrics.shardResults.inc({ source: 'computed' }, computed)
    log.debug(
      { phase: 'aggregate', own, fetched, computed, set: toHex(setRoot).slice(0, 16) },
      'shards assembled',
    )
    return out
  }

  /**
   * A shard's result from the deltas' values, in canonical order, by the run's rule, with the whole
   * vectors' geometry where the rule needs it (aggregateShard, SPEC.md 18.9).
   */
  private compute(
    rule: AggregationRule,
    ordered: readonly Contribution[],
    shard: Shard,
    geometry: Geometry | undefined,
    context: RoundContext,
  ): { bytes: Uint8Array; values: Float32Array } {
    return shardResult(
      aggregateShard(
        rule,
        shardSources(
          ordered.map((c) => c.values),
          shard,
        ),
        geometry,
        { seed: context.seed, reference: context.reference?.subarray(shard.start, shard.end) },
      ),
    )
  }

  /**
   * Checks a taken result against the deltas (SPEC.md 18.5): draws one result block at random,
   * here and after the result was published; recomputes every result block that lies in the same
   * transfer chunks of the deltas as the drawn one (checkSpan: the chunks fetched for the one
   * block hold them all) and compares them with the result's `values` bit for bit. Returns the
   * first block that differs, or undefined when all match. A result block
   * depends on its coordinates alone (the rules are coordinate-wise, and each block has its own
   * scale), so it recomputes exactly.
   */
  private async check(
    round: number,
    rule: AggregationRule,
    contributions: readonly Contribution[],
    shard: Shard,
    values: Float32Array,
    geometry: Geometry | undefined,
    context: RoundContext,
  ): Promise<number | undefined> {
    const blocks = Math.ceil((shard.end - shard.start) / SHARD_RESULT_BLOCK)
    const block = (this.init.draw ?? randomInt)(blocks)
    const span = checkSpan(shard, block, this.init.dimension, this.init.encodeOptions, LIMITS.chunkBytes)
    await this.fetchShard(round, contributions, span)
    const expected = this.compute(rule, contributions, span, geometry, context).values
    const got = values.subarray(span.start - shard.start, span.end - shard.start)
    for (let i = 0; i < expected.length; i++)
      if (!Object.is(expected[i], got[i]))
        return Math.floor((span.start - shard.start + i) / SHARD_RESULT_BLOCK)
    this.components.metrics.shardCheckedValues.inc(expected.length)
    return undefined
  }

  /**
   * Fetches the shard's part of every contribution this node holds only in part. Throws
   * ShardInputsUnavailableError naming the peers whose part no source delivered (or did not decode).
   */
  private async fetchShard(
    round: number,
    contributions: readonly Contribution[],
    shard: Shard,
  ): Promise<void> {
    const wanted = new Set(contributions.map((c) => toHex(c.id)))
    const peers = [...this.components.deltaBook.entries(round)]
      .filter(([, entry]) => wanted.has(toHex(entry.deltaHash)) && entry.partial !== undefined)
      .map(([peer]) => peer)
    const failed: string[] = []
    const reasons: string[] = []
    await Promise.all(
      peers.map((peer) =>
        this.components.fetcher.fetchRange(round, peer, shard.start, shard.end).catch((err: Error) => {
          failed.push(peer)
          reasons.push(err.message)
        }),
      ),
    )
    if (failed.length > 0)
      throw new ShardInputsUnavailableError(failed, `shard ${shard.index}: ${reasons[0]}`)
  }

  /**
   * Whether a result this node applied in `round` has since been shown wrong, or all its signers
   * dishonest (SPEC.md 18.7): the round is then aggregated again, without them.
   */
  refuted(round: number): boolean {
    return (this.used.get(round) ?? []).some(
      (u) => !this.components.shardBook.usable(round, u.root, u.signers),
    )
  }

  /**
   * Evidence of two results by one aggregator (SPEC.md 18.7): it is excluded from the round.
   * Returns whether the evidence was new.
   */
  twoResults(round: number, aggregator: string): boolean {
    if (!this.components.shardBook.exclude(round, aggregator)) return false
    this.components.metrics.shardEvidence.inc({ kind: 'two-results' })
    this.components.penalize(aggregator, 'bad-shard-result')
    return true
  }

  /**
   * Evidence that block `block` of a signed result does not recompute (SPEC.md 18.7), checked
   * here against this node's own set of the round: 'wrong' (the result's root is refuted, its
   * signer excluded), 'right' (the evidence is false), or 'unchecked' (this node assembled
   * another set, or none, or checked this root before). Fetches the span's chunks of the result
   * and of every delta, as a check does.
   */
  async examine(result: ShardResult, block: number, log: Logger): Promise<'wrong' | 'right' | 'unchecked'> {
    const { round, setRoot, shard: index, resultRoot, resultSize, peerId } = result
    const mine = this.assembled.get(round)
    const seen = this.examined.get(round) ?? new Set<string>()
    if (mine === undefined || mine.setRoot !== toHex(setRoot) || seen.has(toHex(resultRoot)))
      return 'unchecked'
    // a root this node refuted itself (its own check) needs no second look
    if (this.components.shardBook.isRefuted(round, resultRoot)) return 'unchecked'
    if (seen.size >= LIMITS.maxEvidencePerRound) return 'unchecked'
    seen.add(toHex(resultRoot))
    this.examined.set(round, seen)
    const shard = this.init.layout[index]
    const span = checkSpan(shard, block, this.init.dimension, this.init.encodeOptions, LIMITS.chunkBytes)
    const length = shard.end - shard.start
    const signer = peerIdFromBytes(peerId)
    const assembly = new ChunkAssembly(resultRoot, resultSize)
    const rel = { start: span.start - shard.start, end: span.end - shard.start }
    assembly.want(
      chunksHolding(
        encodedRangesOf(length, RESULT_ENCODING, rel.start, rel.end),
        resultSize,
        LIMITS.chunkBytes,
      ),
    )
    try {
      await fetchWanted(this.components.host, assembly, [signer], this.components.counters, {
        signal: this.components.signal,
        maxPasses: LIMITS.fetchPasses,
      })
      const theirs = openDelta(assembly.source(), length).subarray(rel.start, rel.end)
      await this.fetchShard(round, mine.contributions, span)
      const expected = this.compute(mine.rule, mine.contributions, span, mine.geometry, mine.context).values
      if (expected.every((v, i) => Object.is(v, theirs[i]))) return 'right'
    } catch (err) {
      // a result its signer does not serve, or that does not decode, is not shown right either
      log.debug({ round, shard: index, err: (err as Error).message }, 'shard evidence not checked')
      return 'unchecked'
    }
    await this.convicted(round, resultRoot, [signer.toString()])
    this.components.metrics.shardEvidence.inc({ kind: 'wrong-result' })
    return 'wrong'
  }

  /** A result shown wrong: its root is refuted and its signers excluded and penalised. */
  private async convicted(round: number, root: Uint8Array, signers: readonly string[]): Promise<void> {
    const { shardBook, penalize } = this.components
    shardBook.refute(round, root)
    for (const peer of signers) {
      shardBook.exclude(round, peer)
      penalize(peer, 'bad-shard-result')
    }
  }

  /**
   * Waits for the shard's aggregators' results for this set (SPEC.md 18.5): once every aggregator's
   * arrived, or `reannounceMs` after the first did, or at the collect timeout. Results that differ
   * (or an aggregator that signed two) are not used; nor are bytes that do not decode. Returns
   * the decoded result, or undefined: the node computes the shard itself.
   */
  private async fromResults(
    round: number,
    setRoot: Uint8Array,
    shard: Shard,
    aggregators: readonly string[],
    waits: ShardWaits,
    log: Logger,
  ): Promise<Taken | undefined> {
    const { shardBook, clock, changes, signal, genesis } = this.components
    const deadline = clock.now() + genesis.round.collectTimeoutMs
    let firstAt: number | undefined
    let otherSince: number | undefined
    for (;;) {
      signal.throwIfAborted()
      const held = shardBook.resultsOf(round, setRoot, shard.index)
      // results of aggregators that evidence excluded, or with a root it refuted, are not used (18.7)
      const results = aggregators.flatMap((peer) => {
        const entry = held.get(peer)
        return entry === undefined || !shardBook.usable(round, entry.root, [peer]) ? [] : [{ peer, entry }]
      })
      if (
        results.some((r) => r.entry.equivocated) ||
        new Set(results.map((r) => toHex(r.entry.root))).size > 1
      ) {
        log.warn(
          { phase: 'aggregate', shard: shard.index, aggregators: results.map((r) => r.peer) },
          'the aggregators of a shard published different results: computing the shard from the deltas',
        )
        this.components.metrics.shardMismatches.inc()
        return undefined
      }
      const now = clock.now()
      if (results.length === 0 && aggregators.every((a) => shardBook.isExcluded(round, a))) {
        log.info(
          { phase: 'aggregate', shard: shard.index, aggregators },
          'evidence excluded every aggregator of the shard: computing the shard from the deltas',
        )
        return undefined
      }
      // Every aggregator published a result for another set and none for this one, for
      // `reannounceMs`: theirs ended their collect with other deltas (a set that grows in the settle
      // step gets its results again), and no result for this set is coming.
      const published = shardBook.publishersOf(round, shard.index)
      const otherSets = results.length === 0 && aggregators.every((a) => published.has(a))
      otherSince = otherSets ? (otherSince ?? now) : undefined
      if (otherSince !== undefined && now - otherSince >= LIMITS.reannounceMs) {
        log.info(
          { phase: 'aggregate', shard: shard.index, aggregators },
          "the shard's aggregators aggregated another set of deltas: computing the shard from the deltas",
        )
        return undefined
      }
      if (
        withheld('result', waits, shard, aggregators, results.length === 0, now, this.components.metrics, log)
      )
        return undefined
      if (results.length > 0) firstAt ??= now
      const all = results.length === aggregators.length
      if (results.length > 0 && (all || now - (firstAt ?? now) >= LIMITS.reannounceMs)) {
        const { root, size } = results[0].entry
        if (size !== shardResultSize(shard)) return undefined
        try {
          const bytes = await fetchChunks(
            this.components.host,
            new ChunkAssembly(root, size),
            results.map((r) => peerIdFromString(r.peer)),
            this.components.counters,
            { signal, maxPasses: LIMITS.fetchPasses },
          )
          return {
            shard,
            values: decodeDelta(bytes, shard.end - shard.start).values,
            root,
            signers: results.map((r) => r.peer),
            envelope: results[0].entry.envelope,
          }
        } catch (err) {
          log.warn(
            { phase: 'aggregate', shard: shard.index, err: (err as Error).message },
            'could not take a shard result from its aggregators: computing the shard from the deltas',
          )
          return undefined
        }
      }
      if (now >= deadline) {
        log.warn(
          { phase: 'aggregate', shard: shard.index, aggregators },
          'no aggregator of a shard published its result in time: computing the shard from the deltas',
        )
        return undefined
      }
      await changes.changed(Math.min(deadline - now, firstAt === undefined ? 1000 : 250))
    }
  }
}

export const createShardExchange =
  (init: ShardExchangeInit) =>
  (components: ShardExchangeComponents): ShardExchange =>
    new ShardExchange(components, init)
