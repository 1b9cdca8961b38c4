// Fetching announced deltas (SPEC.md 10.4): who to ask (the announcer, the peers that said they
// hold the delta, the relay of the announcement, any peer of the topic), at most
// LIMITS.maxConcurrentFetches at a time over @libp2p/utils's queue; each chunk verified as it
// arrives, then validated (6.8), stored for serving (on disk in a node's state directory) and said
// held (5.7). A delta no source could deliver is fetched again when it is re-announced or a peer
// says it holds it.

import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { Queue } from '@libp2p/utils'
import type { Logger } from 'pino'
import type { Shard } from '../aggregate/shards.js'
import { type EncodeOptions, openDelta, validateDelta } from '../codec/delta.js'
import { chunksOfRanges } from '../codec/delta-ranges.js'
import { piecesSource } from '../codec/pieces.js'
import { deltaTopic, LIMITS } from '../constants.js'
import { peerIdFromBytes } from '../crypto/sign.js'
import type { HolderBook } from '../gossip/holders.js'
import type { Publisher } from '../gossip/publisher.js'
import type { Validated } from '../gossip/validate.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { RejectionLog } from '../metrics/rejection-log.js'
import type { DeltaBook, PeerDelta } from '../round/delta-book.js'
import type { DeltaStore } from '../store/delta-store.js'
import { type Announcement, decodeAnnouncement } from '../wire/messages.js'
import type { Host } from './host.js'
import type { PenaltyReason } from './peer-guard.js'
import {
  ChunkAssembly,
  fetchChunkPieces,
  fetchWanted,
  type TransferCounters,
  TransferError,
} from './transfer.js'

export interface DeltaFetcherComponents {
  host: Host
  peerId: PeerId
  runIdHex: string
  deltaBook: DeltaBook
  holders: HolderBook
  store: DeltaStore
  publisher: Pick<Publisher, 'have'>
  metrics: NodeMetrics
  rejections: RejectionLog
  penalize: (peer: string, reason: PenaltyReason) => void
  counters: TransferCounters
  logger: Logger
  signal: AbortSignal
}

export interface DeltaFetcherInit {
  /** the model's parameter count: what a delta decodes to */
  dimension: number
  /** the encoding of the run's deltas: where a coordinate range lies in one (sharded exchange) */
  encodeOptions: EncodeOptions
  /**
   * In a sharded exchange (SPEC.md 18.3), what this node reads of every delta of `round`: the
   * coordinate ranges of its shards, whole deltas (no plan for the round), or nothing yet
   * ('pending': the round has not begun, and its plan is drawn when it does). Absent: whole deltas.
   */
  shardPart?: (round: number) => readonly Shard[] | 'whole' | 'pending'
}

export class DeltaFetcher {
  private readonly queue = new Queue<void>({ concurrency: LIMITS.maxConcurrentFetches })
  /** by round: fetches waiting for the round's shard plan (a sharded exchange's later rounds) */
  private readonly deferred = new Map<number, Array<() => void>>()

  constructor(
    private readonly components: DeltaFetcherComponents,
    private readonly init: DeltaFetcherInit,
  ) {}

  /** Records an accepted announcement (SPEC.md 5.3) and fetches its delta. */
  fetch(announcement: Validated<Announcement>, relay: PeerId, envelope: Uint8Array): void {
    const { message, signer } = announcement
    const entry = this.components.deltaBook.set(message.round, signer.toString(), {
      deltaHash: message.deltaHash,
      baseHash: message.baseHash,
      state: 'fetching',
      envelope,
    })
    this.enqueue(entry, announcement, relay)
  }

  /**
   * A re-announcement of a delta that no source could deliver (SPEC.md 11, re-announce), or a
   * peer's have of it, is a new chance: the bytes may have spread meanwhile. Deltas that failed
   * verification are not retried.
   */
  retryIfUnavailable(envelope: Uint8Array, relay: PeerId): void {
    let announcement: ReturnType<typeof decodeAnnouncement>
    try {
      announcement = decodeAnnouncement(envelope)
    } catch {
      return
    }
    const signer = peerIdFromBytes(announcement.message.peerId)
    const entry = this.components.deltaBook.get(announcement.message.round, signer.toString())
    if (entry?.state !== 'failed' || entry.failure !== 'unavailable') return
    entry.state = 'fetching'
    entry.failure = undefined
    this.enqueue(entry, { ...announcement, signer }, relay)
  }

  stop(): void {
    this.queue.abort()
    this.deferred.clear()
  }

  /**
   * A sharded exchange drew `round`'s plan (SPEC.md 18.2): the deltas of that round announced
   * before it are fetched now, in part or whole as the plan says. Those of earlier rounds that
   * still wait are dropped: this node has gone past them.
   */
  planned(round: number): void {
    for (const [r, fetches] of [...this.deferred]) {
      if (r > round) continue
      this.deferred.delete(r)
      if (r === round) for (const start of fetches) start()
    }
  }

  /** A source caught sending a chunk that does not verify (SPEC.md 10.3): counted, penalised, said. */
  private readonly badSource = (peer: PeerId, err: Error): void => {
    const { metrics, penalize, rejections } = this.components
    metrics.deltaRejections.inc({ reason: 'bad-chunk' })
    penalize(peer.toString(), 'bad-chunk')
    rejections.report('warn', peer.toString(), 'bad-chunk', { err: err.message }, 'source sent a bad chunk')
  }

  /**
   * A sharded exchange's delta of `round` by `peer` whose coordinates [start, end) are needed
   * beyond this node's shards (SPEC.md 18.5: a shard computed from the deltas when its results
   * failed): fetches the chunks that hold them, each verified against the delta's root, and checks
   * the range's values. Nothing to do for a delta fetched whole. Throws TransferError or the
   * decoding error of 6.8.
   */
  async fetchRange(round: number, peer: string, start: number, end: number): Promise<void> {
    const entry = this.components.deltaBook.get(round, peer)
    const partial = entry?.partial
    if (entry === undefined || partial === undefined) return
    // One fetch of a delta's chunks at a time: each fetches every chunk still wanted, so two at
    // once (the checks of several shards) would fetch the same chunks twice.
    const fetched = partial.fetching.then(async () => {
      partial.assembly.want(
        chunksOfRanges([{ start, end }], this.init.dimension, this.init.encodeOptions, LIMITS.chunkBytes),
      )
      await fetchWanted(this.components.host, partial.assembly, partial.sources, this.components.counters, {
        signal: this.components.signal,
        maxPasses: LIMITS.fetchPasses,
      })
    })
    partial.fetching = fetched.catch(() => {})
    await fetched
    entry.values?.subarray(start, end)
  }

  /**
   * Fetches the chunks of a delta that hold this node's shards (SPEC.md 18.3) and checks their
   * values (6.8): the delta is valid for this node's part. Not said held (5.7): it is not whole.
   */
  private async fetchPart(
    entry: PeerDelta,
    announcement: Validated<Announcement>,
    sources: PeerId[],
    assembly: ChunkAssembly,
    ranges: readonly Shard[],
  ): Promise<void> {
    const { host, deltaBook, counters, signal } = this.components
    const { message } = announcement
    assembly.want(chunksOfRanges(ranges, this.init.dimension, this.init.encodeOptions, LIMITS.chunkBytes))
    await fetchWanted(host, assembly, sources, counters, {
      signal,
      maxPasses: LIMITS.fetchPasses,
      onBadSource: this.badSource,
    })
    const started = performance.now()
    const opened = openDelta(assembly.source(), this.init.dimension)
    for (const range of ranges) opened.subarray(range.start, range.end)
    deltaBook.addValidation(message.round, (performance.now() - started) / 1000)
    if (opened.encoding !== message.encoding)
      throw new TransferError('bad-response', 'encoding differs from the announcement')
    if (entry.state === 'excluded') return
    entry.partial = { assembly, sources, fetching: Promise.resolve() }
    deltaBook.markValid(entry, opened)
    this.components.logger.debug(
      {
        round: message.round,
        remote: announcement.signer.toString(),
        chunks: assembly.receivedChunks,
        of: assembly.chunkCount,
      },
      'delta part received',
    )
  }

  private enqueue(entry: PeerDelta, announcement: Validated<Announcement>, relay: PeerId): void {
    const { round, deltaHash } = announcement.message
    const start = () => {
      const sources = this.sourcesFor(announcement.signer, relay, round, deltaHash)
      this.queue.add(() => this.fetchInto(entry, announcement, sources)).catch(() => {})
    }
    // a delta of a sharded round not begun yet waits for the round's plan: a node reads only its
    // shards of it, and which those are is drawn when the round begins (SPEC.md 18.2)
    if (this.init.shardPart?.(round) === 'pending') {
      const waiting = this.deferred.get(round) ?? []
      waiting.push(start)
      this.deferred.set(round, waiting)
    } else start()
  }

  /**
   * Deltas are content-addressed (SPEC.md 10.4): the announcer holds the bytes, so does every peer
   * that said so in a `have` (5.7), so does the peer that relayed the announcement once it has
   * fetched them, and so may any peer of the topic. Asked in that order; at most LIMITS.maxFetchSources.
   */
  private sourcesFor(announcer: PeerId, relay: PeerId, round: number, deltaHash: Uint8Array): PeerId[] {
    const { host, holders, peerId, runIdHex } = this.components
    const sources = [announcer, ...holders.of(round, deltaHash).map((p) => peerIdFromString(p)), relay]
    for (const peer of host.services.pubsub.getSubscribers(deltaTopic(runIdHex))) sources.push(peer)
    const seen = new Set<string>()
    return sources
      .filter((p) => !p.equals(peerId) && !seen.has(p.toString()) && seen.add(p.toString()))
      .slice(0, LIMITS.maxFetchSources)
  }

  /**
   * Fetches an announced delta chunk by chunk from its sources (SPEC.md 10.4), each chunk verified
   * against the announced root as it arrives; then decodes it (SPEC.md 6.8). A source caught with
   * a bad chunk is dropped for this delta; the delta itself fails only if no source delivers it.
   */
  private async fetchInto(
    entry: PeerDelta,
    announcement: Validated<Announcement>,
    sources: PeerId[],
  ): Promise<void> {
    const { host, deltaBook, store, publisher, metrics, rejections, counters, signal } = this.components
    const { signer, message } = announcement
    let reason: string
    let error: Error
    try {
      const assembly = new ChunkAssembly(message.deltaHash, message.encodedSize)
      const ranges = this.init.shardPart?.(message.round)
      if (Array.isArray(ranges)) {
        await this.fetchPart(entry, announcement, sources, assembly, ranges)
        return
      }
      // the verified chunks themselves, validated and stored by range: no joined copy (issue 17)
      const chunks = await fetchChunkPieces(host, assembly, sources, counters, {
        signal,
        maxPasses: LIMITS.fetchPasses,
        onBadSource: this.badSource,
      })
      // Every value is checked now (SPEC.md 6.8), block by block; the aggregation decodes the
      // delta again from the store as it reads it, so no decoded copy is held (8.13).
      const started = performance.now()
      const encoding = validateDelta(piecesSource(chunks), this.init.dimension)
      deltaBook.addValidation(message.round, (performance.now() - started) / 1000)
      if (encoding !== message.encoding)
        throw new TransferError('bad-response', 'encoding differs from the announcement')
      if (entry.state === 'excluded') return
      const root = store.put(message.round, chunks, assembly.tree())
      deltaBook.markValid(entry, store.delta(root, this.init.dimension))
      publisher.have(message.round, message.deltaHash)
      this.components.logger.debug(
        { round: message.round, remote: signer.toString(), bytes: assembly.size },
        'delta received',
      )
      return
    } catch (err) {
      error = err as Error
      reason = err instanceof TransferError ? err.reason : error.name
    }
    // A bad chunk was already counted per source; count the delta's own failure otherwise.
    if (reason !== 'bad-chunk') metrics.deltaRejections.inc({ reason })
    rejections.report(
      'warn',
      signer.toString(),
      reason,
      { round: message.round, err: error.message },
      'delta rejected',
    )
    deltaBook.markFailed(entry, reason)
  }
}

export const createDeltaFetcher =
  (init: DeltaFetcherInit) =>
  (components: DeltaFetcherComponents): DeltaFetcher =>
    new DeltaFetcher(components, init)
