// What a node says on gossip (SPEC.md 5): its signed delta announcement (re-published every
// LIMITS.reannounceMs while a round waits, SPEC.md 11), its commits (5.5, 12.3) and, batched, the
// deltas it holds (5.7). Counts the gossip bytes it sends.

import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  commitTopic,
  deltaTopic,
  evidenceTopic,
  haveTopic,
  LIMITS,
  PROTOCOL,
  shardEvidenceTopic,
  shardPartialsTopic,
  shardTopic,
} from '../constants.js'
import { fromHex } from '../crypto/hash.js'
import { peerIdBytes } from '../crypto/sign.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import { gossipView, reopenGossip } from '../net/gossip-internals.js'
import type { Host } from '../net/host.js'
import type { CommitRecord } from '../round/commit-book.js'
import type { VoteJournal } from '../store/vote-journal.js'
import type { Clock } from '../util/clock.js'
import {
  type ShardPartials,
  type ShardResult,
  signCommit,
  signHave,
  signShardPartials,
  signShardResult,
} from '../wire/messages.js'
import { HaveBatcher } from './holders.js'

export interface PublisherComponents {
  host: Host
  privateKey: PrivateKey
  peerId: PeerId
  runId: Uint8Array
  runIdHex: string
  metrics: NodeMetrics
  logger: Logger
  clock: Clock
  votes: Pick<VoteJournal, 'record'>
}

export interface PublisherInit {
  /** the round the node is in: a have of a round older than the previous one is not sent */
  currentRound: () => number
}

/** What the publisher keeps of one of this node's recent rounds. */
interface KeptRound {
  announcement?: Uint8Array
  commit?: Uint8Array
  /** when the commit was last published (recommitIfDue), and when republish() last ran */
  committedAt: number
  republishedAt: number
}

export class Publisher {
  private readonly haves: HaveBatcher
  private lastAnnouncement?: { signed: Uint8Array; publishedAt: number }
  /** this node's signed shard results and partials of its latest round that has some (SPEC.md 18.4, 18.8) */
  private shardResults?: { round: number; signed: Array<{ topic: string; signed: Uint8Array }> }
  /**
   * this node's signed announcement and latest commit of its recent rounds: re-published while it
   * holds a round open, and for a peer behind
   */
  private readonly recent = new Map<number, KeptRound>()

  constructor(
    private readonly components: PublisherComponents,
    private readonly init: PublisherInit,
  ) {
    this.haves = new HaveBatcher({
      batchMs: LIMITS.haveBatchMs,
      maxHashes: LIMITS.maxHaveHashes,
      send: (round, deltaHashes) => this.publishHave(round, deltaHashes),
    })
  }

  /** Publishes this round's signed announcement, and re-publishes it from now on when due. */
  async announce(signed: Uint8Array, round: number): Promise<void> {
    this.remember(round).announcement = signed
    await this.publish(deltaTopic(this.components.runIdHex), signed)
    this.lastAnnouncement = { signed, publishedAt: this.components.clock.now() }
  }

  /**
   * Re-publishes this node's announcement and commit of a past `round` (at most once per
   * LIMITS.reannounceMs), for a peer that holds that round open with another state (SPEC.md
   * 12.5): a peer restarted after voting for the round's state, which lost its vote and the
   * deltas with its memory, can fetch this node's delta again and grow its set to the one decided.
   */
  async republish(round: number): Promise<boolean> {
    const kept = this.recent.get(round)
    const now = this.components.clock.now()
    if (kept === undefined || now - kept.republishedAt < LIMITS.reannounceMs) return false
    kept.republishedAt = now
    const topic = this.components.runIdHex
    if (kept.announcement) await this.publish(deltaTopic(topic), kept.announcement)
    if (kept.commit) await this.publish(commitTopic(topic), kept.commit)
    return true
  }

  private remember(round: number): KeptRound {
    let kept = this.recent.get(round)
    if (kept === undefined) {
      kept = { committedAt: 0, republishedAt: 0 }
      this.recent.set(round, kept)
      for (const r of this.recent.keys()) if (r + LIMITS.keptDeltaRounds < round) this.recent.delete(r)
    }
    return kept
  }

  /** Re-publishes this round's announcement (receivers ignore it as a duplicate once they have it). */
  async reannounceIfDue(): Promise<void> {
    const last = this.lastAnnouncement
    const now = this.components.clock.now()
    if (last === undefined || now - last.publishedAt < LIMITS.reannounceMs) return
    last.publishedAt = now
    await this.publish(deltaTopic(this.components.runIdHex), last.signed)
    for (const { topic, signed } of this.shardResults?.signed ?? []) await this.publish(topic, signed)
  }

  /** Signs and publishes this node's commit of a round (SPEC.md 5.5, 12.3). */
  async commit(round: number, c: CommitRecord & { deltaHashes: Uint8Array[] }): Promise<void> {
    const { privateKey, runId, peerId, runIdHex } = this.components
    const signed = await signCommit(privateKey, {
      version: PROTOCOL.protocolVersion,
      runId,
      round,
      peerId: peerIdBytes(peerId),
      weightsHash: fromHex(c.weightsHash),
      deltaHashes: c.deltaHashes,
      stateRoot: c.stateRoot,
      stateSize: c.stateSize,
    })
    // A vote is kept before it is published (SPEC.md 12.5): a node restarted before it saved
    // the state it voted for still counts its vote.
    await this.components.votes.record(round, signed)
    const kept = this.remember(round)
    kept.commit = signed
    await this.publish(commitTopic(runIdHex), signed)
    kept.committedAt = this.components.clock.now()
  }

  /** Takes up a commit this node signed before it restarted (VoteJournal), and publishes it again. */
  async restoreCommit(round: number, signed: Uint8Array): Promise<void> {
    const kept = this.remember(round)
    kept.commit = signed
    await this.publish(commitTopic(this.components.runIdHex), signed)
    kept.committedAt = this.components.clock.now()
  }

  /**
   * Re-publishes this node's last commit of `round` when LIMITS.reannounceMs passed, while it holds
   * the round open (SPEC.md 12.5): peers that restarted or healed from a partition learn it. With
   * it, its last commit of `round - 1`, the state it trains `round` from: a peer far behind (a
   * restart, a long partition) accepts commits of any later round, and syncs to the state a majority
   * of the holders' commits decides (12.2). The round's own commits may decide nothing while it
   * is held, and the previous round's were published once, when that peer was away.
   */
  async recommitIfDue(round: number): Promise<void> {
    const kept = this.recent.get(round)
    const now = this.components.clock.now()
    if (kept?.commit === undefined || now - kept.committedAt < LIMITS.reannounceMs) return
    kept.committedAt = now
    const topic = commitTopic(this.components.runIdHex)
    await this.publish(topic, kept.commit)
    const previous = this.recent.get(round - 1)?.commit
    if (previous !== undefined) await this.publish(topic, previous)
  }

  /**
   * Signs and publishes this node's result of a shard (SPEC.md 18.4), and re-publishes the latest
   * round's results with its announcement (reannounceIfDue): a peer still collecting may join the
   * topic's mesh late.
   */
  async shardResult(r: Omit<ShardResult, 'version' | 'runId' | 'peerId'>): Promise<void> {
    await this.shardMessage(r.round, shardTopic(this.components.runIdHex), (header) =>
      signShardResult(this.components.privateKey, { ...r, ...header }),
    )
  }

  /**
   * Signs and publishes this node's partial distances of a shard (SPEC.md 18.8), re-published with
   * its latest round's results.
   */
  async shardPartials(p: Omit<ShardPartials, 'version' | 'runId' | 'peerId'>): Promise<void> {
    await this.shardMessage(p.round, shardPartialsTopic(this.components.runIdHex), (header) =>
      signShardPartials(this.components.privateKey, { ...p, ...header }),
    )
  }

  /** Signs a shard message of `round` with this node's header fields, publishes it and keeps it. */
  private async shardMessage(
    round: number,
    topic: string,
    sign: (header: { version: number; runId: Uint8Array; peerId: Uint8Array }) => Promise<Uint8Array>,
  ): Promise<void> {
    const { runId, peerId } = this.components
    const signed = await sign({ version: PROTOCOL.protocolVersion, runId, peerId: peerIdBytes(peerId) })
    this.keepForRepublishing(round, topic, signed)
    await this.publish(topic, signed)
  }

  /** A signed shard message of `round`, re-published with the announcement (reannounceIfDue). */
  private keepForRepublishing(round: number, topic: string, signed: Uint8Array): void {
    if (this.shardResults?.round !== round) this.shardResults = { round, signed: [] }
    this.shardResults.signed.push({ topic, signed })
  }

  /** Tells the network of a wrong shard result (SPEC.md 18.7). */
  async shardEvidence(bytes: Uint8Array): Promise<void> {
    await this.publish(shardEvidenceTopic(this.components.runIdHex), bytes)
  }

  /** Tells the network of an equivocation (SPEC.md 5.6). */
  async evidence(bytes: Uint8Array): Promise<void> {
    await this.publish(evidenceTopic(this.components.runIdHex), bytes)
  }

  /** This node now holds the delta verified (SPEC.md 5.7): said in batches of LIMITS.haveBatchMs. */
  have(round: number, deltaHash: Uint8Array): void {
    this.haves.add(round, deltaHash)
  }

  stop(): void {
    this.haves.stop()
  }

  private publishHave(round: number, deltaHashes: Uint8Array[]): void {
    const { privateKey, runId, peerId, runIdHex } = this.components
    if (round + 1 < this.init.currentRound()) return
    void signHave(privateKey, {
      version: PROTOCOL.protocolVersion,
      runId,
      round,
      peerId: peerIdBytes(peerId),
      deltaHashes,
    })
      .then((signed) => this.publish(haveTopic(runIdHex), signed))
      .catch(() => {})
  }

  private async publish(topic: string, bytes: Uint8Array): Promise<void> {
    this.components.metrics.bytesSent.inc({ kind: 'gossip' }, bytes.length)
    const result = await this.components.host.services.pubsub.publish(topic, bytes)
    if (result.recipients.length === 0) this.publishedToNoPeer(topic)
  }

  private lastUnheard = Number.NEGATIVE_INFINITY

  /**
   * A message that reached no peer while the node is connected to some: gossipsub has lost track
   * of them (their subscriptions, or a stream: js gossipsub drops a peer's outbound stream, and
   * keeps its subscriptions, when one of two connections to it closes), or scores them below its
   * publish threshold. Says what gossipsub knows of each connected peer, at most once a minute (a
   * node whose messages reach no one must say so, not only at debug level), and gives gossipsub
   * again (reopenGossip) the connected peers it lists without an outbound stream or without a
   * subscription. Gossipsub may open the stream again by itself (within a second on an idle
   * machine) or not (not within 20 s in one CI run); the peer keeper would after its grace of
   * ticks. Before any peer connects this is the normal start, and stays at debug level.
   */
  private publishedToNoPeer(topic: string): void {
    const { host, logger, clock } = this.components
    const connected = host.getPeers()
    if (connected.length === 0) {
      logger.debug({ topic }, 'published to no peer yet')
      return
    }
    if (clock.now() - this.lastUnheard < 60_000) return
    this.lastUnheard = clock.now()
    const pubsub = host.services.pubsub
    const peers = gossipView(pubsub, connected, topic)
    logger.warn(
      { topic, peers },
      'a gossip message reached no peer although peers are connected: reopening gossip to those without a stream or a subscription',
    )
    connected.forEach((peer, i) => {
      if (!peers[i].subscribed || !peers[i].outboundStream)
        void reopenGossip(host, pubsub, peer).catch(() => {})
    })
  }
}

export const createPublisher =
  (init: PublisherInit) =>
  (components: PublisherComponents): Publisher =>
    new Publisher(components, init)
