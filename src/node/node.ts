// The composition root: builds a dtrain node from a genesis and its components, and runs the
// round state machine of SPEC.md 11: train -> announce -> collect -> aggregate -> outer step ->
// commit -> evaluate.

import { appendFile } from 'node:fs/promises'
import type { NodeStatus, Phase, RoundReport } from './interface.js'
import { DEFAULT_PROOF_RETENTION, type NodeOptions, trainWorkersFor } from './options.js'

export type { NodeStatus, Phase, RoundReport } from './interface.js'
export { DEFAULT_PROOF_RETENTION, type NodeOptions, trainWorkersFor } from './options.js'

import { join } from 'node:path'
import type { Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { AggregationInputError, aggregate, type Contribution, toleratedFaults } from '../aggregate/rules.js'
import { decodeDelta, type EncodeOptions, encodedDeltaSize } from '../codec/delta.js'
import { compressWithFeedback } from '../codec/error-feedback.js'
import { decodeState, encodeState } from '../codec/state.js'
import { commitTopic, deltaTopic, evidenceTopic, haveTopic, LIMITS, PROTOCOL } from '../constants.js'
import { fromHex, toHex, weightsHash } from '../crypto/hash.js'
import { peerIdBytes, peerIdFromBytes } from '../crypto/sign.js'
import { HaveBatcher, HolderBook } from '../gossip/holders.js'
import {
  checkAnnouncement,
  checkCommit,
  checkEvidence,
  checkHave,
  type Equivocation,
  type Validated,
  type Verdict,
  validate,
} from '../gossip/validate.js'
import { NodeMetrics } from '../metrics/node-metrics.js'
import { RejectionLog } from '../metrics/rejection-log.js'
import { diagnoseBootstrap, StartupError } from '../net/bootstrap-check.js'
import { gossipScore, gossipStreams, reopenGossip } from '../net/gossip-internals.js'
import { createHost, dhtProtocol, type Host, mdnsService } from '../net/host.js'
import { Pacer } from '../net/link-emulator.js'
import { PEER_SCORE, PeerGuard, type PenaltyReason } from '../net/peer-guard.js'
import { PeerKeeper } from '../net/peer-keeper.js'
import { dialThroughRelays, onlyRelayed, Reachability } from '../net/reachability.js'
import {
  ChunkAssembly,
  fetchChunks,
  serveChunks,
  type TransferCounters,
  TransferError,
} from '../net/transfer.js'
import { residualInUse } from '../proof/audit.js'
import { serveProofs } from '../proof/protocol.js'
import { ProofRecorder } from '../proof/recorder.js'
import { ProofStore } from '../proof/store.js'
import type { StateVotes } from '../round/agreement.js'
import { CommitBook, type CommitRecord } from '../round/commit-book.js'
import { collectDeadlineMs, DEADLINE_HISTORY_ROUNDS } from '../round/deadline.js'
import { nesterovStep, type OuterState, pseudoGradient } from '../round/outer.js'
import { awaitLastRound, collectDecision, settleDecision } from '../round/policy.js'
import { DeltaStore } from '../store/delta-store.js'
import { loadNodeState, saveNodeState } from '../store/node-state.js'
import { type BackendChoice, selectBackend } from '../train/backend.js'
import { evalOffsets } from '../train/batches.js'
import { createTrainer } from '../train/create-trainer.js'
import { loadDataset } from '../train/dataset.js'
import { gpuName, modelFlopsUtilisation, peakTflopsOf, trainingFlopsPerSample } from '../train/flops.js'
import { initialWeights } from '../train/parameters.js'
import type { InnerRoundResult, Trainer } from '../train/trainer.js'
import { encodeOptionsFor, runIdOf } from '../wire/genesis.js'
import {
  type Announcement,
  decodeAnnouncement,
  encodeEvidence,
  signCommit,
  signHave,
} from '../wire/messages.js'

/** Round reports kept for the status page. */
const STATUS_HISTORY = 1000

interface PeerDelta {
  deltaHash: Uint8Array
  /** weights hash of the state the peer trained from (announcement field 5); absent if excluded */
  baseHash?: Uint8Array
  /** 'excluded': the peer equivocated in this round; none of its deltas for it count (SPEC.md 5.6) */
  state: 'fetching' | 'valid' | 'failed' | 'excluded'
  values?: Float32Array
  /** when the delta became valid (ms since the epoch): arrival delays feed the adaptive deadline */
  validAt?: number
  /** why the fetch failed; 'unavailable' deltas are fetched again when re-announced */
  failure?: string
  /** the signed announcement as received, kept as evidence should the peer equivocate */
  envelope: Uint8Array
  /** the contribution check's decision, once made (the settle step must not score a delta twice) */
  kept?: boolean
}

type GossipTopic = 'delta' | 'commit' | 'evidence' | 'have'

/** After a restart, how long a node waits for the network's commits before it trains on. */
const RESUME_WAIT_MS = 30_000

export interface RunOptions {
  /** train until the run has completed this many rounds (0: until stopped) */
  rounds: number
  /** how long to wait for the expected peers before the first round */
  startTimeoutMs: number
  /** fetch the running network's committed state before the first round (SPEC.md 12) */
  join: boolean
  /** once started: the peers seen and the held-out loss before training */
  onReady?: (ready: { peers: number; initialEvalLoss: number; round: number }) => void
  /** after each round */
  onRound?: (report: RoundReport) => void
}

/** What a round's training starts from (SPEC.md 7.5) and what it returns. */
type RoundSeed = Parameters<Trainer['trainRound']>[1]
type TrainedRound = InnerRoundResult

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class DtrainNode {
  readonly runId: Uint8Array
  readonly runIdHex: string
  readonly peerId: PeerId
  private readonly log: Logger
  private readonly store = new DeltaStore()
  private readonly deltas = new Map<number, Map<string, PeerDelta>>()
  /** peers that said they hold a delta (SPEC.md 5.7) */
  private readonly holders = new HolderBook(LIMITS.maxFetchSources)
  /** this node's own haves, batched */
  private readonly haves: HaveBatcher
  /** model commits received and this node's own (SPEC.md 5.5) */
  private readonly commits: CommitBook
  private readonly encodedSize: number
  private readonly encodeOptions: EncodeOptions
  /** error-feedback residual (SPEC.md 6.9): what earlier encodings dropped */
  private residual?: Float32Array
  private readonly rejections: RejectionLog
  /** verified equivocation evidence by round (bounded by maxEvidencePerRound) */
  readonly evidence = new Map<number, Equivocation[]>()
  private readonly counters: TransferCounters
  private state: OuterState
  private currentRound = 0
  private activeFetches = 0
  private readonly fetchQueue: Array<() => Promise<void>> = []
  private waiters: Array<() => void> = []
  private stopped = false
  /** arrival times (ms after the round began) of the other peers' deltas, oldest round first */
  private readonly arrivalDelays: number[][] = []
  private readonly roundStartedAt = new Map<number, number>()
  /** the previous round's aggregate: centered clipping's reference point (SPEC.md 8.6) */
  private lastAggregate?: Float32Array
  /** per-peer reputation: exponential average of contribution-check scores (lower is better) */
  readonly reputation = new Map<string, number>()
  private lastAnnouncement?: { signed: Uint8Array; publishedAt: number }
  private readonly abort = new AbortController()
  readonly proofs: ProofStore
  private keeper!: PeerKeeper
  private reachability?: Reachability
  private guard!: PeerGuard
  private unwatch?: () => void
  /** hex weights hash of the state the current round trains from */
  private roundBaseHex = ''
  private phase: NodeStatus['phase'] = 'idle'
  private innerStep = 0
  private readonly history: NodeStatus['history'] = []
  /** held-out loss of the weights before the first round this process trained */
  initialEvalLoss: number | null = null
  /** The round this node resumed after, from its state directory; null for a fresh start. */
  restoredRound: number | null = null
  /** the round of this node's previous proof since it started (its optimizer state's origin) */
  private lastProofRound: number | null = null
  private readonly trainTokens: number
  /** the GPU peak MFU is reported against; null: no GPU backend, or an unknown GPU */
  private gpuPeakTflops: number | null = null

  private constructor(
    private readonly options: NodeOptions,
    readonly host: Host,
    private readonly trainer: Trainer,
    readonly backend: BackendChoice,
    private readonly heldOutOffsets: number[],
    trainTokens: number,
    readonly metrics: NodeMetrics,
  ) {
    const { genesis } = options
    this.trainTokens = trainTokens
    this.proofs = new ProofStore({
      dir: options.stateDir,
      retention: options.proofRetention ?? DEFAULT_PROOF_RETENTION,
    })
    this.runId = runIdOf(genesis)
    this.runIdHex = toHex(this.runId)
    this.peerId = host.peerId
    this.log = options.logger.child({ peer: host.peerId.toString(), run: this.runIdHex.slice(0, 12) })
    const weights = initialWeights(genesis.model)
    this.state = { weights, momentum: new Float32Array(weights.length) }
    this.encodeOptions = encodeOptionsFor(genesis.delta, weights.length)
    this.encodedSize = encodedDeltaSize(weights.length, this.encodeOptions)
    this.rejections = new RejectionLog(this.log, LIMITS.rejectionLogWindowMs)
    const { expectedPeers } = genesis.round
    this.commits = new CommitBook({
      self: this.peerId.toString(),
      expectedPeers,
      faults: toleratedFaults(genesis.aggregation, expectedPeers),
      maxTracked: LIMITS.maxCommitsTracked,
    })
    this.haves = new HaveBatcher({
      batchMs: LIMITS.haveBatchMs,
      maxHashes: LIMITS.maxHaveHashes,
      send: (round, deltaHashes) => this.publishHave(round, deltaHashes),
    })
    this.counters = {
      bytesSent: (n) => this.metrics.bytesSent.inc({ kind: 'delta' }, n),
      bytesReceived: (n) => this.metrics.bytesReceived.inc({ kind: 'delta' }, n),
    }
  }

  static async create(options: NodeOptions): Promise<DtrainNode> {
    const backend = await selectBackend(options.backend ?? 'auto', { python: options.python })
    for (const skipped of backend.skipped)
      options.logger.info({ backend: skipped.backend, reason: skipped.reason }, 'backend skipped')
    options.logger.info(
      {
        backend: backend.backend,
        ...(backend.torch ? { python: backend.torch.executable, torch: backend.torch.torch } : {}),
        ...(backend.torch?.cudaName ? { gpu: backend.torch.cudaName } : {}),
      },
      'training backend',
    )
    const { genesis } = options
    const data = loadDataset(genesis, options.dataPath)
    const heldOutOffsets = evalOffsets(runIdOf(genesis), data.heldOutLength, data.span, genesis.eval.windows)
    const workers = trainWorkersFor(options.trainWorkers ?? 1, genesis, backend.backend)
    const trainer = await createTrainer(genesis, data, backend, {
      workers,
      threads: options.trainThreads,
      onStderr: (line) => options.logger.warn({ component: 'torch' }, line),
    })
    if (workers > 1) options.logger.info({ workers }, 'training in worker threads')
    const metrics = new NodeMetrics()
    const guard = new PeerGuard()
    const runIdHex = toHex(runIdOf(genesis))
    const host = await createHost({
      dhtProtocol: dhtProtocol(runIdHex),
      // the bootstrap node (no bootstrap peers of its own) relays by default (SPEC.md 2.9)
      relayServer: options.relayServer ?? (options.bootstrap ?? []).length === 0,
      mdnsService: options.mdns ? mdnsService(runIdHex) : undefined,
      upnp: options.upnp,
      isBanned: (peer) => guard.isBanned(peer),
      meshPeers: genesis.round.expectedPeers - 1,
      gossipScore: {
        topics: [deltaTopic(runIdHex), commitTopic(runIdHex), evidenceTopic(runIdHex), haveTopic(runIdHex)],
        appPenalty: (peer) => guard.penalty(peer),
      },
      metricsRegistry: metrics.registry,
      privateKey: options.privateKey,
      listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: options.bootstrap,
      swarmKey: options.swarmKey,
      allowlist: options.allowlist,
      onRefused: (peer) => {
        metrics.refusedConnections.inc()
        options.logger.debug({ peer }, 'connection refused: not on the allowlist')
      },
    })
    const node = new DtrainNode(options, host, trainer, backend, heldOutOffsets, data.trainLength, metrics)
    if (backend.backend === 'tensorflow-gpu' || backend.backend === 'torch-cuda') {
      const gpu = backend.torch?.cudaName ?? gpuName()
      // the arithmetic the matrix products run in: TF32 (tfjs-node-gpu), FP32 or bf16 (torch-cuda)
      const arithmetic =
        backend.backend === 'tensorflow-gpu' ? 'tf32' : trainer.precision === 'bf16' ? 'bf16' : 'fp32'
      node.gpuPeakTflops = options.gpuPeakTflops ?? (gpu ? (peakTflopsOf(gpu, arithmetic) ?? null) : null)
      if (node.gpuPeakTflops === null)
        options.logger.warn(
          { gpu: gpu ?? 'unknown' },
          'model FLOPs utilisation not reported: the GPU peak is unknown; give it with --gpu-peak-tflops',
        )
      else
        options.logger.info(
          {
            gpu: gpu ?? 'unknown',
            peakTflops: node.gpuPeakTflops,
            flopsPerSample: trainingFlopsPerSample(genesis.model),
          },
          'reporting model FLOPs utilisation',
        )
    }
    node.guard = guard
    try {
      node.keeper = new PeerKeeper(
        host,
        {
          bootstrap: options.bootstrap ?? [],
          onRedial: (result) => metrics.redials.inc({ result }),
          gossipStreams: gossipStreams(host.services.pubsub),
          reopenGossip: (peer) => reopenGossip(host, host.services.pubsub, peer),
          fallback: (peer, signal) => dialThroughRelays(host, peer, signal),
        },
        options.logger.child({ component: 'peers' }),
      )
      await node.restore()
      await node.wire()
      node.keeper.start()
      node.reachability = new Reachability(
        host,
        {
          relayClient: options.relayClient ?? 'auto',
          targetPeers: genesis.round.expectedPeers - 1,
          runPeers: () => host.services.pubsub.getSubscribers(deltaTopic(runIdHex)).length,
          keep: (peer, fresh) => {
            node.keeper.keep(peer)
            if (fresh) node.keeper.retrySoon(peer)
          },
          onRelayed: options.onRelayed,
        },
        options.logger.child({ component: 'reachability' }),
      )
      node.reachability.start()
      node.unwatch = guard.watch(
        host,
        (peer) => node.gossipScore(peer),
        (peer, score) => node.banned(peer, score),
      )
    } catch (err) {
      await node.stop()
      throw err
    }
    return node
  }

  /** Hash of the current global weights (hex). */
  get globalWeightsHash(): string {
    return toHex(weightsHash(this.state.weights))
  }

  get globalWeights(): Float32Array {
    return this.state.weights
  }

  get round(): number {
    return this.currentRound
  }

  addresses(): string[] {
    return this.host.getMultiaddrs().map((a) => a.toString())
  }

  private async wire(): Promise<void> {
    const pubsub = this.host.services.pubsub
    const deltaTopicName = deltaTopic(this.runIdHex)
    const commitTopicName = commitTopic(this.runIdHex)
    // With an allowlist, a message whose author is not on it is rejected whoever relays it: a
    // stranger connected to a member that has no allowlist still cannot publish to this node.
    const allowed = this.options.allowlist ? new Set(this.options.allowlist) : undefined
    const gate =
      (topic: GossipTopic, next: (peer: PeerId, message: Message) => Promise<TopicValidatorResult>) =>
      async (peer: PeerId, message: Message): Promise<TopicValidatorResult> => {
        const origin = message.type === 'signed' ? message.from : undefined
        if (allowed && !(origin && allowed.has(origin.toString()))) {
          // The author is penalised (REJECT); a member that relays it may simply have no list
          // itself, so the message is only dropped (IGNORE) and its score left alone.
          const action = origin?.equals(peer) ? 'reject' : 'ignore'
          this.countVerdict(
            topic,
            { action, reason: 'not-allowed', detail: 'author not on the allowlist' },
            origin,
          )
          return action as TopicValidatorResult
        }
        const verdict = await next(peer, message)
        // A peer whose message passed validation takes part in this run: keep a connection to it.
        if (verdict === 'accept' && origin) this.keeper.keep(origin)
        return verdict
      }
    pubsub.topicValidators.set(
      deltaTopicName,
      gate('delta', (peer, message) => this.onAnnouncement(peer, message)),
    )
    pubsub.topicValidators.set(
      commitTopicName,
      gate('commit', (_peer, message) => this.onCommit(message)),
    )
    pubsub.topicValidators.set(
      evidenceTopic(this.runIdHex),
      gate('evidence', (_peer, message) => this.onEvidence(message)),
    )
    pubsub.topicValidators.set(
      haveTopic(this.runIdHex),
      gate('have', (_peer, message) => this.onHave(message)),
    )
    pubsub.subscribe(haveTopic(this.runIdHex))
    pubsub.subscribe(deltaTopicName)
    pubsub.subscribe(commitTopicName)
    pubsub.subscribe(evidenceTopic(this.runIdHex))
    await this.proofs.open()
    const serveFailed = (what: string) => (peer: PeerId, err: Error) =>
      this.rejections.report(
        'warn',
        peer.toString(),
        'serve-failed',
        { err: err.message },
        `serving ${what} failed`,
      )
    await serveProofs(this.host, this.runId, this.proofs, serveFailed('a proof'), (peer) =>
      this.penalize(peer.toString(), 'bad-request'),
    )
    await serveChunks(
      this.host,
      this.store,
      this.counters,
      serveFailed('a delta'),
      (peer, reason) => this.penalize(peer.toString(), reason),
      this.options.uploadBytesPerSecond ? new Pacer(this.options.uploadBytesPerSecond) : undefined,
    )
  }

  /** Validator for the delta topic: SPEC.md 5.3; accepted announcements are fetched. */
  private async onAnnouncement(propagationSource: PeerId, message: Message): Promise<TopicValidatorResult> {
    const origin = message.type === 'signed' ? message.from : undefined
    const verdict = await validate(() =>
      checkAnnouncement(message.data, origin, {
        runId: this.runId,
        currentRound: this.currentRound,
        encoding: this.options.genesis.delta.encoding,
        encodedSize: this.encodedSize,
        knownDeltaHash: (peer, round) => this.deltas.get(round)?.get(peer)?.deltaHash,
      }),
    )
    this.countVerdict('delta', verdict, origin)
    if (verdict.action !== 'accept') {
      if (verdict.reason === 'equivocation') await this.onEquivocation(message.data)
      if (verdict.reason === 'duplicate') this.retryIfUnavailable(message.data, propagationSource)
      return verdict.action as TopicValidatorResult
    }
    this.register(verdict.value, propagationSource, message.data)
    return 'accept' as TopicValidatorResult
  }

  private async onCommit(message: Message): Promise<TopicValidatorResult> {
    const origin = message.type === 'signed' ? message.from : undefined
    const verdict = await validate(() =>
      checkCommit(message.data, origin, { runId: this.runId, currentRound: this.currentRound }),
    )
    if (verdict.action !== 'accept') {
      this.countVerdict('commit', verdict, origin)
      return verdict.action as TopicValidatorResult
    }
    const { round, weightsHash: hash, stateRoot, stateSize } = verdict.value.message
    const peer = verdict.value.signer.toString()
    const record = {
      weightsHash: toHex(hash),
      stateRoot,
      stateSize,
      deltaHashes: verdict.value.message.deltaHashes,
    }
    if (!this.commits.add(round, peer, record)) {
      // counted once, as what it finally is: a valid commit this node could not keep
      this.countVerdict(
        'commit',
        { action: 'ignore', reason: 'over-limit', detail: 'the commit book is full' },
        origin,
      )
      return 'ignore' as TopicValidatorResult
    }
    this.countVerdict('commit', verdict, origin)
    this.checkCommitAgreement(round, peer, toHex(hash))
    this.notify()
    return 'accept' as TopicValidatorResult
  }

  /** A peer's gossipsub score, dtrain's penalties included (SPEC.md 2.7). */
  gossipScore(peer: string): number {
    return gossipScore(this.host.services.pubsub, peer)
  }

  private penalize(peer: string, reason: PenaltyReason): void {
    this.guard.penalize(peer, reason)
    this.metrics.peerPenalties.inc({ reason })
  }

  private banned(peer: string, score: number): void {
    this.keeper.forget(peer)
    this.metrics.bannedPeers.inc()
    this.log.warn(
      { remote: peer, score, banSeconds: PEER_SCORE.banMs / 1000 },
      'peer score below the graylist threshold: hung up and banned',
    )
  }

  /** Counts every verdict by topic and reason; logs non-accepts once per peer and reason per window. */
  private countVerdict(topic: GossipTopic, verdict: Verdict<unknown>, origin: PeerId | undefined): void {
    if (verdict.action === 'accept') {
      this.metrics.gossipVerdicts.inc({ topic, verdict: 'accept', reason: 'ok' })
      return
    }
    this.metrics.gossipVerdicts.inc({ topic, verdict: verdict.action, reason: verdict.reason })
    const level =
      verdict.reason === 'internal-error' ? 'error' : verdict.action === 'reject' ? 'warn' : 'debug'
    this.rejections.report(
      level,
      origin?.toString(),
      verdict.reason,
      { topic, detail: verdict.detail },
      `${topic} message ${verdict.action === 'ignore' ? 'ignored' : 'rejected'}`,
    )
  }

  /**
   * A second announcement of a peer for a round with another delta (SPEC.md 5.6): keep both signed
   * announcements as evidence, exclude the peer's contribution for that round, and tell the
   * network so that every honest node excludes it too.
   */
  private async onEquivocation(second: Uint8Array): Promise<void> {
    const { message } = decodeAnnouncement(second)
    const entry = this.deltas.get(message.round)?.get(peerIdFromBytes(message.peerId).toString())
    if (entry === undefined) return
    const evidence = encodeEvidence(entry.envelope, second)
    const verdict = await validate(() =>
      checkEvidence(evidence, { runId: this.runId, currentRound: this.currentRound }),
    )
    if (verdict.action !== 'accept') return
    if (this.recordEquivocation(verdict.value)) await this.publish(evidenceTopic(this.runIdHex), evidence)
  }

  /**
   * A peer holds deltas of a round (SPEC.md 5.7): it becomes a source for them (10.4), and a
   * delta no source could deliver so far is fetched again.
   */
  private async onHave(message: Message): Promise<TopicValidatorResult> {
    const origin = message.type === 'signed' ? message.from : undefined
    const verdict = await validate(() =>
      checkHave(message.data, origin, { runId: this.runId, currentRound: this.currentRound }),
    )
    this.countVerdict('have', verdict, origin)
    if (verdict.action !== 'accept') return verdict.action as TopicValidatorResult
    const { round, deltaHashes } = verdict.value.message
    const holder = verdict.value.signer
    this.holders.add(round, holder.toString(), deltaHashes)
    const wanted = new Set(deltaHashes.map(toHex))
    for (const entry of this.deltas.get(round)?.values() ?? [])
      if (wanted.has(toHex(entry.deltaHash))) this.retryIfUnavailable(entry.envelope, holder)
    return 'accept' as TopicValidatorResult
  }

  /**
   * Says which deltas of the round this node now holds verified (SPEC.md 5.7), so that peers
   * fetch them from it too: one `have` per round and LIMITS.haveBatchMs (HaveBatcher). A have of a
   * round older than the previous one is not worth sending any more.
   */
  private publishHave(round: number, deltaHashes: Uint8Array[]): void {
    if (round + 1 < this.currentRound) return
    void signHave(this.options.privateKey, {
      version: PROTOCOL.protocolVersion,
      runId: this.runId,
      round,
      peerId: peerIdBytes(this.peerId),
      deltaHashes,
    })
      .then((signed) => this.publish(haveTopic(this.runIdHex), signed))
      .catch(() => {})
  }

  private async onEvidence(message: Message): Promise<TopicValidatorResult> {
    const origin = message.type === 'signed' ? message.from : undefined
    const verdict = await validate(() =>
      checkEvidence(message.data, { runId: this.runId, currentRound: this.currentRound }),
    )
    if (verdict.action === 'accept' && !this.recordEquivocation(verdict.value)) {
      // Evidence we already hold (or past the round's limit) is not forwarded again.
      this.countVerdict(
        'evidence',
        {
          action: 'ignore',
          reason: 'duplicate',
          detail: 'evidence already held, or the round holds its most',
        },
        origin,
      )
      return 'ignore' as TopicValidatorResult
    }
    this.countVerdict('evidence', verdict, origin)
    return (verdict.action === 'accept' ? 'accept' : verdict.action) as TopicValidatorResult
  }

  /** Returns false when this equivocation was already known. */
  private recordEquivocation(e: Equivocation): boolean {
    const peer = e.signer.toString()
    const list = this.evidence.get(e.round) ?? []
    if (list.some((x) => x.signer.toString() === peer)) return false
    if (list.length >= LIMITS.maxEvidencePerRound) return false
    list.push(e)
    this.evidence.set(e.round, list)
    const byPeer = this.deltas.get(e.round) ?? new Map<string, PeerDelta>()
    this.deltas.set(e.round, byPeer)
    const entry = byPeer.get(peer)
    if (entry !== undefined) {
      entry.state = 'excluded'
      entry.values = undefined
    } else
      byPeer.set(peer, { deltaHash: e.first.message.deltaHash, state: 'excluded', envelope: e.first.body })
    this.metrics.equivocations.inc()
    this.log.warn(
      { round: e.round, remote: peer },
      'peer equivocated: its contribution to the round is excluded',
    )
    this.notify()
    return true
  }

  private checkCommitAgreement(round: number, peer: string, hash: string): void {
    const ours = this.commits.ownOf(round)?.weightsHash
    if (ours !== undefined && ours !== hash) {
      this.metrics.commitMismatches.inc()
      this.log.warn({ round, remote: peer, theirs: hash, ours }, 'peer committed other global weights')
    }
  }

  private register(
    announcement: Validated<Announcement>,
    propagationSource: PeerId,
    message: Uint8Array,
  ): void {
    const { round } = announcement.message
    const byPeer = this.deltas.get(round) ?? new Map<string, PeerDelta>()
    this.deltas.set(round, byPeer)
    const entry: PeerDelta = {
      deltaHash: announcement.message.deltaHash,
      baseHash: announcement.message.baseHash,
      state: 'fetching',
      envelope: message,
    }
    byPeer.set(announcement.signer.toString(), entry)
    this.enqueueFetch(() =>
      this.fetchInto(
        entry,
        announcement,
        this.sourcesFor(
          announcement.signer,
          propagationSource,
          announcement.message.round,
          announcement.message.deltaHash,
        ),
      ),
    )
  }

  /**
   * Deltas are content-addressed (SPEC.md 10.4): the announcer holds the bytes, so does every peer
   * that said so in a `have` (5.7), so does the peer that relayed the announcement once it has
   * fetched them, and so may any peer of the topic. Asked in that order; at most LIMITS.maxFetchSources.
   */
  private sourcesFor(announcer: PeerId, relay: PeerId, round: number, deltaHash: Uint8Array): PeerId[] {
    const holders = this.holders.of(round, deltaHash).map((p) => peerIdFromString(p))
    const sources = [announcer, ...holders, relay]
    for (const peer of this.host.services.pubsub.getSubscribers(deltaTopic(this.runIdHex))) sources.push(peer)
    const seen = new Set<string>()
    return sources
      .filter((p) => !p.equals(this.peerId) && !seen.has(p.toString()) && seen.add(p.toString()))
      .slice(0, LIMITS.maxFetchSources)
  }

  /**
   * A re-announcement of a delta that no source could deliver (SPEC.md 11, re-announce) is a new
   * chance: the bytes may have spread meanwhile. Deltas that failed verification are not retried.
   */
  private retryIfUnavailable(bytes: Uint8Array, relay: PeerId): void {
    let announcement: ReturnType<typeof decodeAnnouncement>
    try {
      announcement = decodeAnnouncement(bytes)
    } catch {
      return
    }
    const signer = peerIdFromBytes(announcement.message.peerId)
    const entry = this.deltas.get(announcement.message.round)?.get(signer.toString())
    if (entry?.state !== 'failed' || entry.failure !== 'unavailable') return
    entry.state = 'fetching'
    entry.failure = undefined
    this.enqueueFetch(() =>
      this.fetchInto(
        entry,
        { ...announcement, signer },
        this.sourcesFor(signer, relay, announcement.message.round, announcement.message.deltaHash),
      ),
    )
  }

  private enqueueFetch(job: () => Promise<void>): void {
    this.fetchQueue.push(job)
    this.drainFetchQueue()
  }

  private drainFetchQueue(): void {
    while (this.activeFetches < LIMITS.maxConcurrentFetches && this.fetchQueue.length > 0) {
      const job = this.fetchQueue.shift()!
      this.activeFetches++
      job().finally(() => {
        this.activeFetches--
        this.drainFetchQueue()
      })
    }
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
    const { signer, message } = announcement
    const log = this.log.child({ round: message.round, remote: signer.toString() })
    let reason: string
    let error: Error
    try {
      const assembly = new ChunkAssembly(message.deltaHash, message.encodedSize)
      const bytes = await fetchChunks(this.host, assembly, sources, this.counters, {
        signal: this.abort.signal,
        maxPasses: LIMITS.fetchPasses,
        onBadSource: (peer, err) => {
          this.metrics.deltaRejections.inc({ reason: 'bad-chunk' })
          this.penalize(peer.toString(), 'bad-chunk')
          this.rejections.report(
            'warn',
            peer.toString(),
            'bad-chunk',
            { err: err.message },
            'source sent a bad chunk',
          )
        },
      })
      const decoded = decodeDelta(bytes, this.state.weights.length)
      if (decoded.encoding !== message.encoding)
        throw new TransferError('bad-response', 'encoding differs from the announcement')
      if (entry.state === 'excluded') return
      entry.values = decoded.values
      entry.state = 'valid'
      entry.validAt = Date.now()
      this.store.put(message.round, bytes)
      this.haves.add(message.round, message.deltaHash)
      log.debug({ bytes: bytes.length }, 'delta received')
      this.notify()
      return
    } catch (err) {
      error = err as Error
      reason = err instanceof TransferError ? err.reason : error.name
    }
    if (entry.state !== 'excluded') {
      entry.state = 'failed'
      entry.failure = reason
    }
    // A bad chunk was already counted per source; count the delta's own failure otherwise.
    if (reason !== 'bad-chunk') this.metrics.deltaRejections.inc({ reason })
    this.rejections.report(
      'warn',
      signer.toString(),
      reason,
      { round: message.round, err: error.message },
      'delta rejected',
    )
    this.notify()
  }

  private notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  private changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs))
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** Keeps the arrival times (since the round began) of the other peers' deltas of `round`. */
  private recordArrivals(round: number): void {
    const started = this.roundStartedAt.get(round)
    if (started === undefined) return
    const delays: number[] = []
    for (const [peer, entry] of this.deltas.get(round) ?? []) {
      if (peer !== this.peerId.toString() && entry.state === 'valid' && entry.validAt !== undefined) {
        delays.push(Math.max(0, entry.validAt - started))
      }
    }
    this.arrivalDelays.push(delays)
    if (this.arrivalDelays.length > DEADLINE_HISTORY_ROUNDS) this.arrivalDelays.shift()
    this.roundStartedAt.delete(round)
  }

  /**
   * The contribution check (SPEC.md 11.4, in the spirit of Templar's gradient validation): each
   * valid delta of the round, this node's own included, is scored by the held-out loss change it
   * would cause alone, loss(w - lr * delta) - loss(w), on the first `windows` evaluation windows.
   * Scores feed a per-peer reputation (an exponential average); with a threshold set, deltas
   * scoring above it are left out of the aggregate.
   */
  private async checkContributions(
    round: number,
    log: Logger,
    weights: Float32Array,
    among?: Set<string>,
  ): Promise<Contribution[]> {
    const { contribution, outer, eval: evalConfig } = this.options.genesis
    const candidates = this.validContributions(round).filter((c) => !among || among.has(toHex(c.id)))
    if (!contribution.check) return candidates
    const ids = new Set(candidates.map((c) => toHex(c.id)))
    const windows = this.heldOutOffsets.slice(0, contribution.windows)
    let base: number | undefined
    const lr = Math.fround(outer.optimizer.lr)
    const kept: Contribution[] = []
    for (const [peer, entry] of this.deltas.get(round) ?? []) {
      if (!entry.values || !ids.has(toHex(entry.deltaHash))) continue
      if (entry.kept !== undefined) {
        if (entry.kept) kept.push({ id: entry.deltaHash, values: entry.values })
        continue
      }
      base ??= await this.trainer.evaluate(weights, windows, evalConfig.batchSize)
      const values = entry.values
      const trial = Float32Array.from(weights, (w, i) => w - lr * values[i])
      const score = (await this.trainer.evaluate(trial, windows, evalConfig.batchSize)) - base
      const reputation = 0.8 * (this.reputation.get(peer) ?? 0) + 0.2 * score
      this.reputation.set(peer, reputation)
      this.metrics.contributionScore.set({ peer }, score)
      entry.kept = contribution.maxLossIncrease === null || score <= contribution.maxLossIncrease
      if (!entry.kept) {
        this.metrics.deltaRejections.inc({ reason: 'contribution-check' })
        log.warn(
          { phase: 'collect', remote: peer, score, threshold: contribution.maxLossIncrease },
          'delta left out: it makes held-out loss worse',
        )
        continue
      }
      kept.push({ id: entry.deltaHash, values })
    }
    return kept
  }

  /**
   * The round's valid deltas trained from this node's own global weights (SPEC.md 11.1): a delta
   * of a peer on another state (one in the minority, or a straggler that has not synced yet) is
   * a change of other weights and is left out, or nodes on different states would mix their
   * lineages and never agree again.
   */
  private validContributions(round: number): Contribution[] {
    const out: Contribution[] = []
    for (const entry of this.deltas.get(round)?.values() ?? []) {
      if (entry.state !== 'valid' || !entry.values) continue
      if (entry.baseHash && toHex(entry.baseHash) !== this.roundBaseHex) continue
      out.push({ id: entry.deltaHash, values: entry.values })
    }
    return out
  }

  /** Peers whose delta for the round arrived and verified, whatever state they trained from. */
  private arrivedDeltas(round: number): number {
    let count = 0
    for (const entry of this.deltas.get(round)?.values() ?? []) if (entry.state === 'valid') count++
    return count
  }

  /**
   * Waits before the first round until `count` peers (this node included) are directly
   * subscribed to the delta topic, or until at least one is and no more arrived for
   * LIMITS.peerSettleMs (peers reachable only through others are found by gossip), or timeout.
   * Returns the number of directly subscribed peers plus one.
   */
  async waitForPeers(count: number, timeoutMs: number): Promise<number> {
    const topic = deltaTopic(this.runIdHex)
    const deadline = Date.now() + timeoutMs
    let last = 0
    let lastChange = Date.now()
    for (;;) {
      const peers = this.host.services.pubsub.getSubscribers(topic).length + 1
      if (peers !== last) {
        last = peers
        lastChange = Date.now()
      }
      if (peers >= count || Date.now() >= deadline) return peers
      if (peers > 1 && Date.now() - lastChange >= LIMITS.peerSettleMs) return peers
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /**
   * Agreement and catch-up (SPEC.md 12.2), from the commits received so far: take the most recent
   * round R (not older than the last round) with a decided state (decidedState: commits from a
   * majority of the expected peers, this node's own counted; the most votes, then the lowest
   * state root). If R is ahead of this node,
   * or R is its last round and its own state differs, it fetches that state from the peers that
   * committed it, verifies it, and continues from round R + 1. A node that lost the round before
   * its last one first waits for its last round's decision (below). Returns true when it synced.
   */
  async reconcile(): Promise<boolean> {
    if (await this.reconcileOnce()) return true
    // The two halves of a healed partition run in step but a little apart: the faster half starts
    // round R + 1 before the slower half's commits of R arrive, finds R undecided, and would never
    // apply a decision (the next round's start looks at R + 1). A node whose state lost round
    // R - 1 knows its lineage is the losing one: it waits for round R's decision (SPEC.md 12.2).
    const last = this.currentRound - 1
    if (
      !awaitLastRound({
        lostBeforeLast: this.lostRound(last - 1),
        lastDecided: this.decidedOf(last) !== undefined,
      })
    )
      return false
    const deadline = Date.now() + this.options.genesis.round.collectTimeoutMs
    this.log.info(
      { round: last },
      'lost the round before the last one: waiting for the last round to be decided',
    )
    while (Date.now() < deadline && !this.stopped) {
      await this.changed(Math.min(500, deadline - Date.now()))
      if (this.decidedOf(last) !== undefined) return await this.reconcileOnce()
    }
    return false
  }

  /** Whether a state other than this node's own commit of `round` was decided (SPEC.md 12.2). */
  private lostRound(round: number, ahead = round >= this.currentRound): boolean {
    const own = this.commits.ownOf(round)
    if (own === undefined) return false
    const top = this.decidedOf(round, ahead)
    return top !== undefined && toHex(top.record.stateRoot) !== toHex(own.stateRoot)
  }

  /** One pass of reconcile(), without waiting. */
  private async reconcileOnce(): Promise<boolean> {
    const rounds = this.commits
      .rounds()
      .filter((r) => r >= this.currentRound - 1)
      .sort((a, b) => b - a)
    for (const round of rounds) {
      const top = this.decidedOf(round)
      if (top === undefined) continue
      const behind = round >= this.currentRound
      if (!behind && !this.lostRound(round)) return false
      const sources = top.peers.filter((p) => p !== this.peerId.toString()).map((p) => peerIdFromString(p))
      return await this.syncState(round, top.record, sources, behind ? 'behind' : 'minority')
    }
    return false
  }

  /** The decided state of `round` (SPEC.md 12.2) from the commits held, this node's own included. */
  private decidedOf(round: number, ahead = round >= this.currentRound): StateVotes<CommitRecord> | undefined {
    return this.commits.decided(round, ahead)
  }

  /**
   * Whether the network has decided a round after the one this node is running: it is a whole
   * round behind (it was restarted, or it is far slower) and the next reconciliation will sync
   * it. Peers' commits of the current round do not count: a node still fetching the last deltas
   * of a round the others just closed finishes it and settles (SPEC.md 11, step 6).
   */
  private networkAhead(): boolean {
    for (const round of this.commits.rounds())
      if (round > this.currentRound && this.decidedOf(round) !== undefined) return true
    return false
  }

  /** Waits up to `timeoutMs` for a majority of commits of some round, then reconciles (a late joiner). */
  async syncFromNetwork(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (await this.reconcile()) return true
      if (Date.now() >= deadline || this.stopped) return false
      await this.changed(Math.min(1000, deadline - Date.now()))
    }
  }

  private async syncState(
    round: number,
    record: CommitRecord,
    sources: PeerId[],
    why: 'behind' | 'minority',
  ): Promise<boolean> {
    const log = this.log.child({ round, phase: 'sync' })
    try {
      const assembly = new ChunkAssembly(record.stateRoot, record.stateSize)
      const bytes = await fetchChunks(this.host, assembly, sources, this.counters, {
        signal: this.abort.signal,
      })
      const state = decodeState(bytes, this.state.weights.length)
      if (state.round !== round)
        throw new Error(`the state is of round ${state.round}, the commits of round ${round}`)
      if (toHex(weightsHash(state.weights)) !== record.weightsHash)
        throw new Error('the weights do not hash to the committed hash')
      this.state = { weights: state.weights, momentum: state.momentum }
      this.lastAggregate = state.reference
      this.currentRound = round + 1
      this.store.put(round, bytes)
      this.commits.setOwn(round, { ...record })
      this.metrics.stateSyncs.inc({ reason: why })
      await this.persist(bytes)
      // Say so: a re-commit of the adopted state (SPEC.md 12.3) replaces our earlier commit in
      // the peers' tallies, so that they see the round agreed (and stop waiting at the end of a run).
      await this.publishCommit(round, { ...record, deltaHashes: [] }).catch(() => {})
      log.warn(
        { why, sources: sources.length, weightsHash: record.weightsHash.slice(0, 16) },
        'synced the global state from peers',
      )
      this.options.onSynced?.(round, record.weightsHash, why)
      return true
    } catch (err) {
      this.metrics.stateSyncFailures.inc()
      log.warn({ why, err: (err as Error).message }, 'state sync failed; continuing with the local state')
      return false
    }
  }

  /** Held-out loss of the current global weights. */
  evaluate(): Promise<number> {
    return this.trainer.evaluate(this.state.weights, this.heldOutOffsets, this.options.genesis.eval.batchSize)
  }

  /** A classifier's held-out accuracy of the current global weights; null for a language model. */
  accuracy(): Promise<number | null> {
    return this.trainer.accuracy(this.state.weights, this.heldOutOffsets, this.options.genesis.eval.batchSize)
  }

  /**
   * A node's life after its start (SPEC.md 11, 12): waits for its peers, catches up after a
   * restart or joins a running network, then reconciles and runs rounds until the run has
   * completed `rounds` rounds (0: until stopped), and lingers until its last round is agreed.
   */
  async run(options: RunOptions): Promise<{ committed: number }> {
    const roundConfig = this.options.genesis.round
    const peers = await this.waitForPeers(roundConfig.expectedPeers, options.startTimeoutMs)
    const bootstrap = this.options.bootstrap ?? []
    if (peers <= 1 && bootstrap.length > 0 && !this.stopped) {
      // Given peers to join, it reached none: say which and why, rather than train a run of its
      // own that nobody else trains (issue 19; RL Swarm #106 and its duplicates).
      const failures = await diagnoseBootstrap(this.host, bootstrap, deltaTopic(this.runIdHex), 10_000)
      if (!failures.every((f) => f.reason.startsWith('reachable and in the run')))
        throw new StartupError(
          `reached none of its ${bootstrap.length} bootstrap peer${bootstrap.length > 1 ? 's' : ''} of run ${this.runIdHex.slice(0, 16)} within ${options.startTimeoutMs / 1000} s:\n${failures.map((f) => `  ${f.address}: ${f.reason}`).join('\n')}\n(a node without --bootstrap starts a run of its own)`,
        )
    }
    if (this.restoredRound !== null) {
      const outcome = await this.catchUp(
        Math.min(RESUME_WAIT_MS, roundConfig.collectTimeoutMs),
        RESUME_WAIT_MS,
      )
      this.log.info({ outcome, round: this.round }, 'resumed')
    } else if (options.join) {
      const synced = await this.syncFromNetwork(roundConfig.collectTimeoutMs)
      this.log.info(
        { synced, round: this.round },
        synced ? 'joined the running network' : 'found no majority state to join; starting from round 0',
      )
    }
    const initialEvalLoss = await this.evaluate()
    this.initialEvalLoss = initialEvalLoss
    options.onReady?.({ peers, initialEvalLoss, round: this.round })
    this.log.info({ peers, initialEvalLoss }, 'starting rounds')
    // Until the run has completed round R - 1 (0: until stopped). Reconciling first can move the
    // node forward (a state sync), so the check comes after it; the round itself then does not
    // reconcile again.
    while (!this.stopped) {
      await this.reconcile()
      if (options.rounds !== 0 && this.round >= options.rounds) break
      options.onRound?.(await this.playRound())
    }
    const committed = await this.linger(this.round - 1)
    this.log.info({ committed }, 'all rounds done')
    return { committed }
  }

  /** Runs one round of SPEC.md 11 (after reconciling, 12.2) and returns its report. */
  async runRound(): Promise<RoundReport> {
    await this.reconcile()
    return this.playRound()
  }

  private async playRound(): Promise<RoundReport> {
    const { genesis } = this.options
    const round = this.currentRound
    this.roundStartedAt.set(round, Date.now())
    const log = this.log.child({ round })
    const zero = (): Record<Phase, number> => ({
      train: 0,
      announce: 0,
      collect: 0,
      aggregate: 0,
      commit: 0,
      eval: 0,
    })
    const phaseSeconds = zero()
    const cpuSeconds = zero()
    const timed = async <T>(phase: Phase, fn: () => Promise<T> | T): Promise<T> => {
      const started = performance.now()
      const cpuBefore = process.cpuUsage()
      this.phase = phase
      this.options.onPhase?.(round, phase)
      log.debug({ phase }, 'phase start')
      try {
        return await fn()
      } finally {
        phaseSeconds[phase] = (performance.now() - started) / 1000
        const cpu = process.cpuUsage(cpuBefore)
        cpuSeconds[phase] = (cpu.user + cpu.system) / 1e6
        this.metrics.phaseSeconds.set({ phase }, phaseSeconds[phase])
      }
    }
    this.metrics.round.set(round)
    const baseHash = weightsHash(this.state.weights)
    this.roundBaseHex = toHex(baseHash)
    const myPeerBytes = peerIdBytes(this.peerId)

    const seed = { runId: this.runId, baseHash, peerId: myPeerBytes, round }
    const recorder = new ProofRecorder()
    this.innerStep = 0
    const slowdown = this.options.trainSlowdown ?? 1
    let stepStarted = performance.now()
    const trained = await timed('train', () =>
      this.trainer.trainRound(this.state.weights, seed, {
        yieldEvery: async () => {
          this.innerStep++
          this.metrics.innerStep.set(this.innerStep)
          this.options.onInnerStep?.(this.innerStep, genesis.inner.steps)
          if (slowdown > 1)
            await new Promise((resolve) =>
              setTimeout(resolve, (performance.now() - stepStarted) * (slowdown - 1)),
            )
          await yieldToEventLoop()
          stepStarted = performance.now()
        },
        signal: this.abort.signal,
        checkpointEvery: genesis.proof.checkpointInterval,
        onCheckpoint: recorder.onCheckpoint,
      }),
    )
    this.metrics.trainLoss.set(trained.meanLoss)

    const proofBytes = await timed('announce', () => this.announceDelta(round, seed, trained, recorder, log))

    const deadlineHit = await timed('collect', () => this.collectDeltas(round, log))
    // A node told to stop while collecting neither aggregates nor commits the round (issue 19).
    this.abort.signal.throwIfAborted()
    this.recordArrivals(round)
    const otherBase = this.arrivedDeltas(round) - this.validContributions(round).length
    if (otherBase > 0) {
      this.metrics.deltaRejections.inc({ reason: 'other-base' }, otherBase)
      log.info({ phase: 'collect', otherBase }, 'deltas trained from other global weights left out')
    }
    const before = { state: this.state, reference: this.lastAggregate }
    const { minPeers } = genesis.round
    let contributions = await this.checkContributions(round, log, before.state.weights)
    if (contributions.length < minPeers) {
      this.metrics.belowQuorumRounds.inc()
      log.warn(
        { phase: 'collect', have: contributions.length, minPeers },
        'round carries on below quorum with the deltas that arrived',
      )
    }
    if (deadlineHit) {
      log.warn(
        { phase: 'collect', have: contributions.length, expected: genesis.round.expectedPeers },
        'collect deadline reached, aggregating what arrived',
      )
    }

    await timed('aggregate', () => this.aggregateRound(round, contributions, before, log))
    const settled = await timed('commit', () => this.commitAndSettle(round, contributions, before, log))
    contributions = settled.contributions
    const committedState = settled.committedState
    const newHashHex = this.commits.ownOf(round)!.weightsHash

    const { evalLoss, evalAccuracy } = await timed('eval', async () => ({
      evalLoss: await this.evaluate(),
      evalAccuracy: await this.accuracy(),
    }))
    this.metrics.evalLoss.set(evalLoss)
    if (evalAccuracy !== null) this.metrics.evalAccuracy.set(evalAccuracy)
    this.metrics.contributors.set(contributions.length)
    this.deltas.delete(round - LIMITS.keptDeltaRounds)
    this.holders.forget(round - LIMITS.keptDeltaRounds)
    this.commits.forgetThrough(round - LIMITS.keptDeltaRounds)
    this.evidence.delete(round - LIMITS.keptDeltaRounds)
    this.currentRound = round + 1
    const report: RoundReport = {
      round,
      trainLoss: trained.meanLoss,
      evalLoss,
      evalPerplexity: Math.exp(evalLoss),
      evalAccuracy,
      weightsHash: newHashHex,
      contributors: contributions.length,
      deadlineHit,
      bytesSent: await this.metrics.total(this.metrics.bytesSent),
      bytesReceived: await this.metrics.total(this.metrics.bytesReceived),
      phaseSeconds,
      cpuSeconds,
      rssBytes: process.memoryUsage().rss,
      tokensPerSecond: trained.tokensPerSecond,
      mfu:
        this.gpuPeakTflops === null
          ? null
          : modelFlopsUtilisation(
              trained.samples / trained.seconds,
              trainingFlopsPerSample(genesis.model),
              this.gpuPeakTflops,
            ),
      proofBytes,
      peers: this.host.getPeers().length,
      relayedPeers: this.host.getPeers().filter((p) => onlyRelayed(this.host, p)).length,
    }
    await this.persist(committedState, report)
    log.info({ ...report, phase: 'done' }, 'round complete')
    this.phase = 'idle'
    this.metrics.tokensPerSecond.set(report.tokensPerSecond)
    if (report.mfu !== null) this.metrics.mfu.set(report.mfu)
    this.metrics.relayedPeers.set(report.relayedPeers)
    const { phaseSeconds: _, weightsHash: __, cpuSeconds: ___, ...summary } = report
    this.history.push(summary)
    if (this.history.length > STATUS_HISTORY) this.history.shift()
    return report
  }

  /**
   * Step 2 of a round (SPEC.md 11): encodes this node's delta (with error feedback where the
   * genesis asks for it), fixes and stores its proof of learning (17.3), and publishes the signed
   * announcement. Returns the bytes the proofs kept now use.
   */
  private async announceDelta(
    round: number,
    seed: RoundSeed,
    trained: TrainedRound,
    recorder: ProofRecorder,
    log: Logger,
  ): Promise<number> {
    const { genesis } = this.options
    const baseHash = seed.baseHash
    const delta = pseudoGradient(this.state.weights, trained.weights)
    // Our own contribution is exactly what peers will decode (SPEC.md 8.0).
    const withResidual = residualInUse(genesis)
    const residualBefore = withResidual ? (this.residual ?? new Float32Array(delta.length)) : undefined
    const compressed = compressWithFeedback(
      delta,
      residualBefore,
      this.encodeOptions,
      genesis.delta.feedbackDecay,
    )
    if (withResidual) this.residual = compressed.residual
    const encoded = compressed.bytes
    const deltaHash = this.store.put(round, encoded)
    // The proof of learning is fixed before the delta is announced (SPEC.md 17.3).
    const proof = await recorder.announce(this.options.privateKey, {
      genesis,
      seed,
      trainTokens: this.trainTokens,
      backend: this.backend.backend,
      precision: this.trainer.precision,
      deltaHash,
      residual: residualBefore ? { before: residualBefore, after: compressed.residual } : undefined,
      previousRound: this.lastProofRound,
      encodedSize: encoded.length,
      trainLoss: trained.meanLoss,
      sampleCount: trained.samples,
    })
    const signed = proof.announcement
    await this.proofs.put(proof)
    this.lastProofRound = round
    const proofBytes = await this.proofs.bytesUsed()
    this.metrics.proofBytes.set(proofBytes)
    log.debug({ proofRoot: toHex(proof.root).slice(0, 16), proofBytes }, 'proof of learning stored')
    const byPeer = this.deltas.get(round) ?? new Map<string, PeerDelta>()
    this.deltas.set(round, byPeer)
    byPeer.set(this.peerId.toString(), {
      deltaHash,
      baseHash,
      state: 'valid',
      values: compressed.sent,
      envelope: signed,
    })
    await this.publish(deltaTopic(this.runIdHex), signed)
    this.lastAnnouncement = { signed, publishedAt: Date.now() }
    log.info(
      {
        phase: 'announce',
        delta: toHex(deltaHash).slice(0, 16),
        bytes: encoded.length,
        trainLoss: trained.meanLoss,
      },
      'delta announced',
    )
    return proofBytes
  }

  /**
   * Step 3 of a round (SPEC.md 11, 11.2, 11.3): waits for the peers' deltas until every expected
   * peer's arrived, the (adaptive, once extended below quorum) deadline, or the network is a whole
   * round ahead. Returns whether it ended without every expected peer's delta.
   */
  private async collectDeltas(round: number, log: Logger): Promise<boolean> {
    const { expectedPeers, minPeers, minCollectMs, collectTimeoutMs } = this.options.genesis.round
    const elapsed = Date.now() - (this.roundStartedAt.get(round) ?? Date.now())
    const deadlineMs = collectDeadlineMs(this.arrivalDelays, minCollectMs, collectTimeoutMs, elapsed)
    this.metrics.collectDeadlineSeconds.set(deadlineMs / 1000)
    const startedAt = Date.now()
    let extended = false
    let deadline = startedAt + deadlineMs
    for (;;) {
      const valid = this.validContributions(round).length
      const decision = collectDecision({
        now: Date.now(),
        arrived: this.arrivedDeltas(round),
        valid,
        expectedPeers,
        minPeers,
        networkAhead: this.networkAhead(),
        stopped: this.stopped,
        startedAt,
        deadline,
        deadlineMs,
        extended,
        collectTimeoutMs,
        pollMs: LIMITS.reannounceMs,
      })
      if (decision.action === 'end') {
        if (decision.why === 'network-ahead')
          log.warn(
            { phase: 'collect', have: valid },
            'the network has closed this round: ending it to catch up',
          )
        return decision.deadlineHit
      }
      if (decision.action === 'extend') {
        extended = true
        deadline = decision.deadline
        log.warn(
          { phase: 'collect', have: valid, minPeers, extraMs: decision.extraMs },
          'below quorum at the deadline: extending once',
        )
        continue
      }
      await this.reannounceIfDue()
      await this.changed(decision.waitMs)
    }
  }

  /**
   * Steps 5 and 6 of a round (SPEC.md 11): commits the aggregate, then settles: grows the set by
   * the deltas listed in peers' commits and recomputes, until every contributor committed the same
   * weights or the settle timeout. Returns the final set and the encoded state committed.
   */
  private async commitAndSettle(
    round: number,
    initial: Contribution[],
    before: { state: OuterState; reference?: Float32Array },
    log: Logger,
  ): Promise<{ contributions: Contribution[]; committedState: Uint8Array }> {
    let contributions = initial
    // Settle (SPEC.md 11, step 6): peers whose collect closed around the deadline may have
    // aggregated other sets. Every delta listed in a peer's commit of this round that this node
    // holds, verified, trained from its own W_r and kept by the contribution check joins the set;
    // the round is recomputed from W_r and committed again. Sets only grow, so the nodes that see
    // each other's commits end on the same set.
    const { collectTimeoutMs } = this.options.genesis.round
    const settleDeadline = Date.now() + Math.min(LIMITS.settleTimeoutMs, collectTimeoutMs)
    let committedState = await this.commitRound(round, contributions)
    for (;;) {
      const theirs = this.commits.peersOf(round)
      const listed = new Set(contributions.map((c) => toHex(c.id)))
      for (const record of theirs.values()) for (const h of record.deltaHashes ?? []) listed.add(toHex(h))
      const grown = await this.checkContributions(round, log, before.state.weights, listed)
      const own = this.commits.ownOf(round)!
      const lost = this.lostRound(round, false)
      const decision = settleDecision({
        now: Date.now(),
        deadline: settleDeadline,
        stopped: this.stopped,
        canGrow: grown.length > contributions.length,
        ownHash: own.weightsHash,
        contributorHashes: this.contributorsOf(round, contributions).map((p) => theirs.get(p)?.weightsHash),
        lostTo: lost ? { peers: this.decidedOf(round, false)!.peers.length } : undefined,
        expectedPeers: this.options.genesis.round.expectedPeers,
        pollMs: LIMITS.reannounceMs,
      })
      if (decision.action === 'recompute') {
        log.info(
          { phase: 'commit', before: contributions.length, after: grown.length },
          'peers aggregated deltas this node left out: recomputing the round with them',
        )
        this.metrics.settledRounds.inc()
        contributions = grown
        this.aggregateRound(round, contributions, before, log)
        committedState = await this.commitRound(round, contributions)
        continue
      }
      if (decision.action === 'end') return { contributions, committedState }
      await this.reannounceIfDue()
      await this.changed(decision.waitMs)
    }
  }

  /** Applies the aggregate of `contributions` to the round's starting state (SPEC.md 8, 9). */
  private aggregateRound(
    round: number,
    contributions: Contribution[],
    before: { state: OuterState; reference?: Float32Array },
    log: Logger,
  ): void {
    const { genesis } = this.options
    const seed = new Uint8Array(40)
    seed.set(this.runId)
    new DataView(seed.buffer).setBigUint64(32, BigInt(round), true)
    const context = { seed, reference: before.reference }
    let aggregated: Float32Array
    try {
      aggregated = aggregate(genesis.aggregation, contributions, context)
    } catch (err) {
      if (!(err instanceof AggregationInputError)) throw err
      // Too few deltas arrived for the rule's declared f: every node in this situation falls
      // back to the coordinate median of the same set (SPEC.md 8.10), so they stay in step.
      log.warn(
        { phase: 'aggregate', err: err.message, contributors: contributions.length },
        'falling back to the median',
      )
      this.metrics.aggregationFallbacks.inc()
      aggregated = aggregate({ rule: 'median' }, contributions, context)
    }
    this.lastAggregate = aggregated
    this.state = nesterovStep(before.state, aggregated, genesis.outer.optimizer)
  }

  /** Stores the state after `round` (served to late joiners, SPEC.md 12) and publishes its commit. */
  private async commitRound(round: number, contributions: Contribution[]): Promise<Uint8Array> {
    const deltaHashes = contributions.map((c) => c.id).sort(Buffer.compare)
    const stateBytes = encodeState({
      round,
      weights: this.state.weights,
      momentum: this.state.momentum,
      reference: this.lastAggregate ?? new Float32Array(this.state.weights.length),
    })
    const stateRoot = this.store.put(round, stateBytes)
    const record = {
      weightsHash: toHex(weightsHash(this.state.weights)),
      stateRoot,
      stateSize: stateBytes.length,
    }
    this.commits.setOwn(round, record)
    for (const [peer, theirs] of this.commits.peersOf(round))
      this.checkCommitAgreement(round, peer, theirs.weightsHash)
    await this.publishCommit(round, { ...record, deltaHashes })
    return stateBytes
  }

  /** The other peers whose deltas are among `contributions`. */
  private contributorsOf(round: number, contributions: Contribution[]): string[] {
    const ids = new Set(contributions.map((c) => toHex(c.id)))
    const peers: string[] = []
    for (const [peer, entry] of this.deltas.get(round) ?? [])
      if (peer !== this.peerId.toString() && ids.has(toHex(entry.deltaHash))) peers.push(peer)
    return peers
  }

  /**
   * After the last round, keeps serving until every expected peer has committed that round (so
   * nobody is left without our delta), or until the collect timeout; then reconciles once.
   */
  async linger(round: number): Promise<number> {
    const { expectedPeers, collectTimeoutMs } = this.options.genesis.round
    const deadline = Date.now() + collectTimeoutMs
    for (;;) {
      // A node that ended the last round in the minority adopts the majority's state (SPEC.md
      // 12.2) as soon as a majority shows; the others keep serving until every expected peer has
      // committed the same weights (a minority peer may still need their state), or the deadline.
      await this.reconcile()
      const records = [...this.commits.peersOf(round).values()]
      const own = this.commits.ownOf(round)
      const committed = records.length + (own ? 1 : 0)
      const agreed = own !== undefined && records.every((r) => r.weightsHash === own.weightsHash)
      if ((committed >= expectedPeers && agreed) || Date.now() >= deadline || this.stopped) return committed
      await this.reannounceIfDue()
      await this.changed(Math.min(deadline - Date.now(), LIMITS.reannounceMs))
    }
  }

  /** Re-publishes this round's announcement (receivers ignore it as a duplicate once they have it). */
  private async reannounceIfDue(): Promise<void> {
    const last = this.lastAnnouncement
    if (last === undefined || Date.now() - last.publishedAt < LIMITS.reannounceMs) return
    last.publishedAt = Date.now()
    await this.publish(deltaTopic(this.runIdHex), last.signed)
  }

  /** Signs and publishes this node's commit of a round (SPEC.md 5.5, 12.3). */
  private async publishCommit(round: number, c: CommitRecord & { deltaHashes: Uint8Array[] }): Promise<void> {
    const signed = await signCommit(this.options.privateKey, {
      version: PROTOCOL.protocolVersion,
      runId: this.runId,
      round,
      peerId: peerIdBytes(this.peerId),
      weightsHash: fromHex(c.weightsHash),
      deltaHashes: c.deltaHashes,
      stateRoot: c.stateRoot,
      stateSize: c.stateSize,
    })
    await this.publish(commitTopic(this.runIdHex), signed)
  }

  private async publish(topic: string, bytes: Uint8Array): Promise<void> {
    this.metrics.bytesSent.inc({ kind: 'gossip' }, bytes.length)
    const result = await this.host.services.pubsub.publish(topic, bytes)
    if (result.recipients.length === 0) this.log.debug({ topic }, 'published to no peer yet')
  }

  /** Loads STATE/node-state.bin when there is one (a restart, SPEC.md 12). */
  private async restore(): Promise<void> {
    if (!this.options.stateDir) return
    const saved = await loadNodeState(this.options.stateDir, this.runId)
    if (!saved) return
    const state = decodeState(saved.global, this.state.weights.length)
    this.state = { weights: state.weights, momentum: state.momentum }
    this.lastAggregate = state.reference
    this.currentRound = state.round + 1
    await this.trainer.setOptimizerState(saved.optimizer)
    this.residual = saved.residual
    this.lastProofRound = saved.lastProofRound
    const stateRoot = this.store.put(state.round, saved.global)
    this.commits.setOwn(state.round, {
      weightsHash: this.globalWeightsHash,
      stateRoot,
      stateSize: saved.global.length,
    })
    this.restoredRound = state.round
    this.log.info(
      { round: state.round, weightsHash: this.globalWeightsHash.slice(0, 16) },
      'resumed from the state directory',
    )
  }

  /** Saves the node's state (after a committed round or a state sync) and appends to the round log. */
  private async persist(global: Uint8Array, report?: RoundReport): Promise<void> {
    const dir = this.options.stateDir
    if (!dir) return
    await saveNodeState(dir, {
      runId: this.runId,
      global,
      optimizer: await this.trainer.optimizerState(),
      residual: this.residual,
      lastProofRound: this.lastProofRound,
    })
    if (report) await appendFile(join(dir, 'rounds.jsonl'), `${JSON.stringify(report)}\n`, { mode: 0o600 })
  }

  /**
   * After a restart: waits up to `waitMs` for the network's commits, and once commits of later
   * rounds came without a decided state, up to `aheadWaitMs` from then (the next round's commits
   * decide it). If a majority committed a
   * later round, syncs its state (SPEC.md 12). Returns 'synced'; 'in-step' when peers commit the
   * round this node resumed after and none later; 'behind' when later commits came but no
   * majority state could be fetched in time (the next rounds' reconciliation goes on trying);
   * 'alone' when no commit came (the others are restarting too, or not there).
   */
  async catchUp(waitMs: number, aheadWaitMs = waitMs): Promise<'synced' | 'in-step' | 'behind' | 'alone'> {
    let deadline = Date.now() + waitMs
    let extended = false
    for (;;) {
      if (await this.reconcile()) return 'synced'
      const rounds = this.commits.rounds()
      const ahead = rounds.some((r) => r >= this.currentRound)
      if (!ahead && rounds.includes(this.currentRound - 1)) return 'in-step'
      // Commits of later rounds came but no state is decided yet (one peer's commit of a round
      // arrived before the others', or this node subscribed in the middle of a round's commits):
      // wait up to `aheadWaitMs` for the next round's commits rather than train a round the others
      // closed.
      if (ahead && !extended) {
        extended = true
        deadline = Math.max(deadline, Date.now() + aheadWaitMs)
      }
      if (Date.now() >= deadline || this.stopped) return ahead ? 'behind' : 'alone'
      await this.changed(Math.min(1000, deadline - Date.now()))
    }
  }

  /** The node's state for `dtrain status` and the status page. */
  async status(): Promise<NodeStatus> {
    const peers = this.host.getPeers().map((peer) => {
      const id = peer.toString()
      const connection = this.host.getConnections(peer)[0]
      return {
        peerId: id,
        gossipScore: this.gossipScore(id),
        reputation: this.reputation.get(id) ?? null,
        address: connection ? connection.remoteAddr.toString() : null,
      }
    })
    this.metrics.peers.set(peers.length)
    const { values } = await this.metrics.gossipVerdicts.get()
    const rejections: Record<string, number> = {}
    for (const v of values)
      if (v.labels.verdict !== 'accept')
        rejections[String(v.labels.reason)] = (rejections[String(v.labels.reason)] ?? 0) + v.value
    return {
      peerId: this.peerId.toString(),
      runId: this.runIdHex,
      addresses: this.addresses(),
      backend: this.backend.backend,
      round: this.currentRound,
      phase: this.stopped ? 'stopped' : this.phase,
      innerStep: this.innerStep,
      innerSteps: this.options.genesis.inner.steps,
      weightsHash: this.globalWeightsHash,
      peers,
      history: [...this.history],
      initialEvalLoss: this.initialEvalLoss,
      rejections,
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.abort.abort()
    this.notify()
    this.keeper?.stop()
    this.reachability?.stop()
    this.haves.stop()
    this.unwatch?.()
    await this.host.stop()
    await this.trainer.close()
  }
}
