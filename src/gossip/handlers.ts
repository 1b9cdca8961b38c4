// What a node does with each gossip topic's messages (SPEC.md 5.3-5.7), behind the one validator
// function (validator-fn.ts): announcements are fetched (10.4), commits recorded (5.5, 12.2),
// equivocations excluded and spread (5.6), haves make their sender a source (5.7).

import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import { SHARD_RESULT_BLOCK, shardResultSize } from '../aggregate/shard-plan.js'
import type { Shard } from '../aggregate/shards.js'
import {
  commitTopic,
  deltaTopic,
  evidenceTopic,
  haveTopic,
  shardEvidenceTopic,
  shardPartialsTopic,
  shardTopic,
} from '../constants.js'
import { toHex } from '../crypto/hash.js'
import { peerIdFromBytes } from '../crypto/sign.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { DeltaFetcher } from '../net/delta-fetcher.js'
import type { Host } from '../net/host.js'
import type { CommitBook } from '../round/commit-book.js'
import type { DeltaBook } from '../round/delta-book.js'
import type { ShardBook } from '../round/shard-book.js'
import type { ShardExchange } from '../round/shard-exchange.js'
import type { Changes, Clock } from '../util/clock.js'
import type { Genesis } from '../wire/genesis.js'
import { decodeAnnouncement, encodeEvidence, encodeShardEvidence } from '../wire/messages.js'
import type { HolderBook } from './holders.js'
import type { Publisher } from './publisher.js'
import {
  checkAnnouncement,
  checkCommit,
  checkEvidence,
  checkHave,
  checkShardEvidence,
  checkShardPartials,
  checkShardResult,
  type Verdict,
  validate,
} from './validate.js'
import type { GossipValidatorFn } from './validator-fn.js'

export interface GossipHandlersComponents {
  host: Host
  runId: Uint8Array
  runIdHex: string
  genesis: Genesis
  deltaBook: DeltaBook
  commits: CommitBook
  shardBook: ShardBook
  shardExchange?: ShardExchange
  holders: HolderBook
  fetcher: DeltaFetcher
  publisher: Publisher
  metrics: NodeMetrics
  logger: Logger
  clock: Clock
  changes: Changes
  validatorFn: GossipValidatorFn
}

export interface GossipHandlersInit {
  /** the round the node is in (stale and future rounds, SPEC.md 5.3) */
  currentRound: () => number
  /** the size of an encoded delta of this run (SPEC.md 6.8) */
  encodedSize: number
  /** the byte length of the run's global state (SPEC.md 12.1) */
  stateSize: number
  /** the run's shards when its exchange is sharded (SPEC.md 18.1): the shard topic is then joined */
  shardLayout?: Shard[]
}

export class GossipHandlers {
  constructor(
    private readonly components: GossipHandlersComponents,
    private readonly init: GossipHandlersInit,
  ) {}

  private get topics(): Array<[string, Parameters<GossipValidatorFn>]> {
    const { runIdHex } = this.components
    return [
      [
        deltaTopic(runIdHex),
        ['delta', (source, message, origin) => this.onAnnouncement(source, message, origin)],
      ],
      [commitTopic(runIdHex), ['commit', (_source, message, origin) => this.onCommit(message, origin)]],
      [evidenceTopic(runIdHex), ['evidence', (_source, message) => this.onEvidence(message)]],
      [haveTopic(runIdHex), ['have', (_source, message, origin) => this.onHave(message, origin)]],
      ...(this.init.shardLayout === undefined
        ? []
        : [
            [
              shardTopic(runIdHex),
              ['shard', (_source, message, origin) => this.onShardResult(message, origin)],
            ] as [string, Parameters<GossipValidatorFn>],
            [
              shardPartialsTopic(runIdHex),
              ['shard-partials', (_source, message, origin) => this.onShardPartials(message, origin)],
            ] as [string, Parameters<GossipValidatorFn>],
            [
              shardEvidenceTopic(runIdHex),
              ['shard-evidence', (_source, message) => this.onShardEvidence(message)],
            ] as [string, Parameters<GossipValidatorFn>],
          ]),
    ]
  }

  /** Validates and subscribes to the run's four topics (SPEC.md 5.1), five when it shards (18.4). */
  start(): void {
    const pubsub = this.components.host.services.pubsub
    for (const [topic, [name, handler]] of this.topics) {
      pubsub.topicValidators.set(topic, this.components.validatorFn(name, handler))
      pubsub.subscribe(topic)
    }
  }

  stop(): void {
    const pubsub = this.components.host.services.pubsub
    for (const [topic] of this.topics) {
      pubsub.topicValidators.delete(topic)
      try {
        pubsub.unsubscribe(topic)
      } catch {
        // the host stopped first: nothing is subscribed any more
      }
    }
  }

  /** SPEC.md 5.3; accepted announcements are fetched. */
  private async onAnnouncement(
    source: PeerId,
    message: Message,
    origin: PeerId | undefined,
  ): Promise<Verdict<unknown>> {
    const { runId, genesis, deltaBook, fetcher } = this.components
    const verdict = await validate(() =>
      checkAnnouncement(message.data, origin, {
        runId,
        currentRound: this.init.currentRound(),
        encoding: genesis.delta.encoding,
        encodedSize: this.init.encodedSize,
        knownDeltaHash: (peer, round) => deltaBook.get(round, peer)?.deltaHash,
      }),
    )
    if (verdict.action === 'accept') fetcher.fetch(verdict.value, source, message.data)
    else if (verdict.reason === 'equivocation') await this.onEquivocation(message.data)
    else if (verdict.reason === 'duplicate') fetcher.retryIfUnavailable(message.data, source)
    return verdict
  }

  /** SPEC.md 5.5: a commit counts toward its round's decided state (12.2). */
  private async onCommit(message: Message, origin: PeerId | undefined): Promise<Verdict<unknown>> {
    const { runId, commits, changes, clock } = this.components
    const verdict = await validate(() =>
      checkCommit(message.data, origin, {
        runId,
        currentRound: this.init.currentRound(),
        stateSize: this.init.stateSize,
      }),
    )
    if (verdict.action !== 'accept') return verdict
    const { round, weightsHash, stateRoot, stateSize, deltaHashes } = verdict.value.message
    const peer = verdict.value.signer.toString()
    const hash = toHex(weightsHash)
    const before = commits.peersOf(round).get(peer)?.weightsHash
    if (!commits.add(round, peer, { weightsHash: hash, stateRoot, stateSize, deltaHashes }))
      return { action: 'ignore', reason: 'over-limit', detail: 'the commit book is full' }
    // what reconciliation decides from (SPEC.md 12.2), for a node that does not sync when it should
    this.components.logger.debug(
      { round, remote: peer, weightsHash: hash.slice(0, 16), again: before !== undefined },
      'commit accepted',
    )
    // A peer holding its round open re-publishes its commit every few seconds: say it once.
    if (before !== hash) warnIfDisagrees(this.components, round, peer, hash)
    if (before !== undefined) commits.noteRecommit(round, clock.now())
    const own = commits.ownOf(round)
    if (
      round < this.init.currentRound() &&
      own &&
      (toHex(own.stateRoot) !== toHex(stateRoot) || before !== undefined)
    )
      // A peer commits another state of a round this node closed: it may have restarted after
      // voting for this node's state, and lost the deltas. Or it re-commits the round, which it
      // does only while it holds the round open: it may have missed this node's commit (a
      // connection that dropped while both were busy). Either way it needs ours (SPEC.md 12.5).
      void this.components.publisher.republish(round).catch(() => {})
    changes.notify()
    return verdict
  }

  /**
   * A second announcement of a peer for a round with another delta (SPEC.md 5.6): keep both signed
   * announcements as evidence, exclude the peer's contribution for that round, and tell the
   * network so that every honest node excludes it too.
   */
  private async onEquivocation(second: Uint8Array): Promise<void> {
    const { runId, deltaBook, publisher } = this.components
    const { message } = decodeAnnouncement(second)
    const entry = deltaBook.get(message.round, peerIdFromBytes(message.peerId).toString())
    if (entry === undefined) return
    const evidence = encodeEvidence(entry.envelope, second)
    const verdict = await validate(() =>
      checkEvidence(evidence, { runId, currentRound: this.init.currentRound() }),
    )
    if (verdict.action === 'accept' && this.exclude(verdict.value)) await publisher.evidence(evidence)
  }

  /** SPEC.md 5.6: evidence excludes the peer's contribution to the round. */
  private async onEvidence(message: Message): Promise<Verdict<unknown>> {
    const verdict = await validate(() =>
      checkEvidence(message.data, { runId: this.components.runId, currentRound: this.init.currentRound() }),
    )
    // Evidence already held (or past the round's limit) is not forwarded again.
    if (verdict.action === 'accept' && !this.exclude(verdict.value))
      return {
        action: 'ignore',
        reason: 'duplicate',
        detail: 'evidence already held, or the round holds its most',
      }
    return verdict
  }

  private exclude(evidence: Parameters<DeltaBook['exclude']>[0]): boolean {
    if (!this.components.deltaBook.exclude(evidence)) return false
    this.components.metrics.equivocations.inc()
    this.components.logger.warn(
      { round: evidence.round, remote: evidence.signer.toString() },
      'peer equivocated: its contribution to the round is excluded',
    )
    return true
  }

  /** SPEC.md 18.4: an aggregator's result of a shard, recorded for the nodes that assemble it. */
  private async onShardResult(message: Message, origin: PeerId | undefined): Promise<Verdict<unknown>> {
    const { runId, shardBook } = this.components
    const layout = this.init.shardLayout!
    const verdict = await validate(() =>
      checkShardResult(message.data, origin, {
        runId,
        currentRound: this.init.currentRound(),
        shards: layout.length,
        resultSize: (shard) => shardResultSize(layout[shard]),
      }),
    )
    if (verdict.action !== 'accept') return verdict
    const { round, setRoot, shard, resultRoot, resultSize } = verdict.value.message
    const signer = verdict.value.signer.toString()
    const first = shardBook.resultsOf(round, setRoot, shard).get(signer)?.envelope
    const added = shardBook.add(round, setRoot, shard, signer, {
      root: resultRoot,
      size: resultSize,
      envelope: message.data,
    })
    if (added === 'new') return verdict
    if (added === 'duplicate') return { action: 'ignore', reason: 'duplicate', detail: 'already known' }
    if (added === 'over-limit')
      return { action: 'ignore', reason: 'over-limit', detail: 'the round holds its most shard results' }
    // Two results of one shard and set signed by one aggregator: neither is used (18.5), and the
    // two are evidence that excludes it from the round (18.7).
    if (first !== undefined && this.components.shardExchange?.twoResults(round, signer))
      await this.components.publisher
        .shardEvidence(encodeShardEvidence({ result: first, other: message.data }))
        .catch(() => {})
    return { action: 'ignore', reason: 'equivocation', detail: `two results of shard ${shard} for one set` }
  }

  /** SPEC.md 18.8: an aggregator's partial distances of a shard, for the nodes that sum them. */
  private async onShardPartials(message: Message, origin: PeerId | undefined): Promise<Verdict<unknown>> {
    const { runId, shardBook } = this.components
    const verdict = await validate(() =>
      checkShardPartials(message.data, origin, {
        runId,
        currentRound: this.init.currentRound(),
        shards: this.init.shardLayout!.length,
      }),
    )
    if (verdict.action !== 'accept') return verdict
    const { round, setRoot, shard, distances, anchor } = verdict.value.message
    const added = shardBook.addPartials(round, setRoot, shard, verdict.value.signer.toString(), {
      distances,
      anchor,
    })
    if (added === 'new') return verdict
    if (added === 'duplicate') return { action: 'ignore', reason: 'duplicate', detail: 'already known' }
    if (added === 'over-limit')
      return { action: 'ignore', reason: 'over-limit', detail: 'the round holds its most shard messages' }
    return {
      action: 'ignore',
      reason: 'equivocation',
      detail: `two sets of partials of shard ${shard} for one set`,
    }
  }

  /**
   * SPEC.md 18.7: evidence of a wrong shard result. Two results signed by one aggregator are
   * checked here and forwarded; a block said not to recompute is checked against this node's own
   * set of the round, after this validator answered (it fetches chunks): not forwarded as
   * received, but published again by this node once it found the block wrong.
   */
  private async onShardEvidence(message: Message): Promise<Verdict<unknown>> {
    const { runId, shardExchange, publisher, logger } = this.components
    const layout = this.init.shardLayout!
    const verdict = await validate(() =>
      checkShardEvidence(message.data, {
        runId,
        currentRound: this.init.currentRound(),
        shards: layout.length,
        resultSize: (shard) => shardResultSize(layout[shard]),
        resultBlocks: (shard) => Math.ceil((layout[shard].end - layout[shard].start) / SHARD_RESULT_BLOCK),
      }),
    )
    if (verdict.action !== 'accept' || shardExchange === undefined) return verdict
    const evidence = verdict.value
    if (evidence.kind === 'two-results') {
      const { round } = evidence.first.message
      const aggregator = evidence.first.signer.toString()
      if (!shardExchange.twoResults(round, aggregator))
        return { action: 'ignore', reason: 'duplicate', detail: 'evidence already held' }
      logger.warn(
        { round, remote: aggregator },
        'an aggregator signed two results of one shard: excluded from the round',
      )
      return verdict
    }
    const { result, block } = evidence
    void shardExchange
      .examine(result.message, block, logger)
      .then(async (found) => {
        if (found !== 'wrong') return
        logger.warn(
          {
            round: result.message.round,
            remote: result.signer.toString(),
            shard: result.message.shard,
            block,
          },
          'evidence checked: a shard result does not recompute, its aggregator is excluded from the round',
        )
        await publisher.shardEvidence(message.data)
      })
      .catch(() => {})
    return {
      action: 'ignore',
      reason: 'unverified',
      detail: 'checked against the deltas before it is passed on',
    }
  }

  /**
   * A peer holds deltas of a round (SPEC.md 5.7): it becomes a source for them (10.4), and a
   * delta no source could deliver so far is fetched again.
   */
  private async onHave(message: Message, origin: PeerId | undefined): Promise<Verdict<unknown>> {
    const { runId, holders, deltaBook, fetcher } = this.components
    const verdict = await validate(() =>
      checkHave(message.data, origin, { runId, currentRound: this.init.currentRound() }),
    )
    if (verdict.action !== 'accept') return verdict
    const { round, deltaHashes } = verdict.value.message
    const holder = verdict.value.signer
    holders.add(round, holder.toString(), deltaHashes)
    const wanted = new Set(deltaHashes.map(toHex))
    for (const [, entry] of deltaBook.entries(round))
      if (wanted.has(toHex(entry.deltaHash))) fetcher.retryIfUnavailable(entry.envelope, holder)
    return verdict
  }
}

/** Warns when a peer committed other weights than this node for a round (SPEC.md 12.2). */
export function warnIfDisagrees(
  { commits, metrics, logger }: Pick<GossipHandlersComponents, 'commits' | 'metrics' | 'logger'>,
  round: number,
  peer: string,
  hash: string,
): void {
  const ours = commits.ownOf(round)?.weightsHash
  if (ours !== undefined && ours !== hash) {
    metrics.commitMismatches.inc()
    logger.warn({ round, remote: peer, theirs: hash, ours }, 'peer committed other global weights')
  }
}

export const createGossipHandlers =
  (init: GossipHandlersInit) =>
  (components: GossipHandlersComponents): GossipHandlers =>
    new GossipHandlers(components, init)
