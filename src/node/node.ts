// The composition root (STYLE.md habit 14): builds a dtrain node's parts from a genesis and its
// options, each by its factory over the components it needs (components.ts), starts them in
// order, shares one AbortSignal for the node's life and stops them in reverse. The node's life
// after its start (SPEC.md 11, 12) is run(): wait for peers, catch up or join, rounds, linger.

import { setMaxListeners } from 'node:events'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { toleratedFaults } from '../aggregate/rules.js'
import { DEFAULT_SHARD_CHECKS, shardLayout } from '../aggregate/shard-plan.js'
import { encodedDeltaSize } from '../codec/delta.js'
import { stateSize } from '../codec/state.js'
import {
  commitTopic,
  deltaTopic,
  evidenceTopic,
  haveTopic,
  LIMITS,
  shardEvidenceTopic,
  shardPartialsTopic,
  shardTopic,
} from '../constants.js'
import { toHex } from '../crypto/hash.js'
import { createGossipHandlers } from '../gossip/handlers.js'
import { HolderBook } from '../gossip/holders.js'
import { createPublisher } from '../gossip/publisher.js'
import type { Equivocation } from '../gossip/validate.js'
import { createGossipValidatorFn } from '../gossip/validator-fn.js'
import { describeError } from '../log.js'
import { NodeMetrics } from '../metrics/node-metrics.js'
import { RejectionLog } from '../metrics/rejection-log.js'
import { diagnoseBootstrap, StartupError } from '../net/bootstrap-check.js'
import { createDeltaFetcher } from '../net/delta-fetcher.js'
import { gossipScore } from '../net/gossip-internals.js'
import { createHost, dhtProtocol, type Host, mdnsService } from '../net/host.js'
import { Pacer } from '../net/link-emulator.js'
import { PeerGuard } from '../net/peer-guard.js'
import { createRunPeers } from '../net/run-peers.js'
import { chunkService } from '../net/transfer.js'
import { AuditTally } from '../proof/audit-log.js'
import { proofService } from '../proof/protocol.js'
import { ProofStore } from '../proof/store.js'
import { CommitBook } from '../round/commit-book.js'
import { createContributionCheck } from '../round/contribution-check.js'
import { createDeltaBook } from '../round/delta-book.js'
import { createGlobalState } from '../round/global-state.js'
import { createRoundRunner } from '../round/runner.js'
import { ShardBook } from '../round/shard-book.js'
import { createShardExchange } from '../round/shard-exchange.js'
import { createSync } from '../round/sync.js'
import { DeltaStore } from '../store/delta-store.js'
import { VoteJournal } from '../store/vote-journal.js'
import { type BackendChoice, selectBackend } from '../train/backend.js'
import { evalOffsets } from '../train/batches.js'
import { createTrainer } from '../train/create-trainer.js'
import { loadDataset } from '../train/dataset.js'
import { initialWeights } from '../train/parameters.js'
import { Changes, systemClock } from '../util/clock.js'
import { encodeOptionsFor, runIdOf } from '../wire/genesis.js'
import type { DtrainComponents } from './components.js'
import { gpuPeakFor } from './gpu-peak.js'
import type { NodeStatus, RoundReport } from './interface.js'
import { DEFAULT_PROOF_RETENTION, type NodeOptions, trainWorkersFor } from './options.js'
import { createNodeStatus } from './status.js'

export type { NodeStatus, Phase, RoundReport } from './interface.js'
export { DEFAULT_PROOF_RETENTION, type NodeOptions, trainWorkersFor } from './options.js'

/** After a restart, how long a node waits for the network's commits before it trains on. */
const RESUME_WAIT_MS = 30_000
/**
 * How long commits of a restarted node's own next round may decide nothing before it takes that
 * round as held open by its peers and joins it (SPEC.md 12.2): two re-commit periods (12.5).
 */
const HELD_ROUND_WAIT_MS = 2 * LIMITS.reannounceMs

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

/** The held-out evaluation of the current global weights (SPEC.md 7.7). */
interface HeldOut {
  evaluate(): Promise<number>
  accuracy(): Promise<number | null>
}

export class DtrainNode {
  readonly runId: Uint8Array
  readonly runIdHex: string
  readonly peerId: PeerId
  readonly host: Host
  readonly metrics: NodeMetrics
  readonly proofs: ProofStore
  /** The round this node resumed after, from its state directory; null for a fresh start. */
  restoredRound: number | null = null

  private constructor(
    private readonly options: NodeOptions,
    private readonly components: DtrainComponents,
    readonly backend: BackendChoice,
    private readonly abort: AbortController,
    private readonly heldOut: HeldOut,
  ) {
    ;({ runId: this.runId, runIdHex: this.runIdHex, peerId: this.peerId, host: this.host } = components)
    ;({ metrics: this.metrics, proofs: this.proofs } = components)
  }

  static async create(options: NodeOptions): Promise<DtrainNode> {
    const { genesis, logger } = options
    const backend = await selectBackend(options.backend ?? 'auto', {
      python: options.python,
      admitted: genesis.proof.backends,
    })
    for (const skipped of backend.skipped)
      logger.info({ backend: skipped.backend, reason: skipped.reason }, 'backend skipped')
    logger.info(
      {
        backend: backend.backend,
        ...(backend.torch ? { python: backend.torch.executable, torch: backend.torch.torch } : {}),
        ...(backend.torch?.cudaName ? { gpu: backend.torch.cudaName } : {}),
      },
      'training backend',
    )
    const runId = runIdOf(genesis)
    const runIdHex = toHex(runId)
    const data = loadDataset(genesis, options.dataPath)
    const heldOutOffsets = evalOffsets(runId, data.heldOutLength, data.span, genesis.eval.windows)
    const workers = trainWorkersFor(options.trainWorkers ?? 1, genesis, backend.backend)
    const trainer = await createTrainer(genesis, data, backend, {
      workers,
      threads: options.trainThreads,
      onStderr: (line) => logger.warn({ component: 'torch' }, line),
      besideNode: true,
    })
    if (workers > 1) logger.info({ workers }, 'training in worker threads')

    const peerId = peerIdFromPrivateKey(options.privateKey)
    const log = logger.child({ peer: peerId.toString(), run: runIdHex.slice(0, 12) })
    const clock = options.clock ?? systemClock
    const abort = new AbortController()
    // every part's waits and transfers listen on the node's one signal: more than Node's 10 is normal
    setMaxListeners(Number.POSITIVE_INFINITY, abort.signal)
    const metrics = new NodeMetrics()
    const guard = new PeerGuard(() => clock.now())
    const penalize: DtrainComponents['penalize'] = (peer, reason) => {
      guard.penalize(peer, reason)
      metrics.peerPenalties.inc({ reason })
    }
    const rejections = new RejectionLog(log, LIMITS.rejectionLogWindowMs, () => clock.now())
    const counters = {
      bytesSent: (n: number) => metrics.bytesSent.inc({ kind: 'delta' }, n),
      bytesReceived: (n: number) => metrics.bytesReceived.inc({ kind: 'delta' }, n),
    }
    // Deltas and states this node serves and aggregates live on disk in its state directory
    // (issue 17): memory holds their chunk trees, not n deltas of the model's size.
    const store = new DeltaStore({
      dir: options.stateDir === undefined ? undefined : join(options.stateDir, 'objects'),
      onWriteError: (err, root) =>
        log.warn(
          { err: err.message, object: root.slice(0, 16), stateDir: options.stateDir },
          'could not write a delta or state to the state directory: it stays in memory',
        ),
    })
    const proofs = new ProofStore({
      dir: options.stateDir,
      retention: options.proofRetention ?? DEFAULT_PROOF_RETENTION,
    })
    await proofs.open()
    const serveFailed = (what: string) => (peer: PeerId, err: unknown) =>
      rejections.report(
        'warn',
        peer.toString(),
        'serve-failed',
        { err: describeError(err) },
        `serving ${what} failed`,
      )
    const host = await createHost({
      dhtProtocol: dhtProtocol(runIdHex),
      // the bootstrap node (no bootstrap peers of its own) relays by default (SPEC.md 2.9)
      relayServer: options.relayServer ?? (options.bootstrap ?? []).length === 0,
      mdnsService: options.mdns ? mdnsService(runIdHex) : undefined,
      upnp: options.upnp,
      isBanned: (peer) => guard.isBanned(peer),
      meshPeers: genesis.round.expectedPeers - 1,
      gossipScore: {
        topics: [
          deltaTopic(runIdHex),
          commitTopic(runIdHex),
          evidenceTopic(runIdHex),
          haveTopic(runIdHex),
          ...(genesis.exchange === undefined
            ? []
            : [shardTopic(runIdHex), shardPartialsTopic(runIdHex), shardEvidenceTopic(runIdHex)]),
        ],
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
        log.debug({ peer }, 'connection refused: not on the allowlist')
      },
      services: {
        chunks: chunkService({
          source: store,
          counters,
          onError: serveFailed('a delta'),
          onRefusedRequest: (peer, reason) => penalize(peer.toString(), reason),
          uplink: options.uploadBytesPerSecond ? new Pacer(options.uploadBytesPerSecond) : undefined,
        }),
        proofs: proofService({
          runId,
          store: proofs,
          onError: serveFailed('a proof'),
          onBadRequest: (peer) => penalize(peer.toString(), 'bad-request'),
        }),
      },
    })

    const weights = initialWeights(genesis.model)
    const encodeOptions = encodeOptionsFor(genesis.delta, weights.length)
    const { expectedPeers } = genesis.round
    const c = {
      genesis,
      runId,
      runIdHex,
      peerId,
      privateKey: options.privateKey,
      logger: log,
      metrics,
      clock,
      changes: new Changes(clock),
      signal: abort.signal,
      host,
      guard,
      rejections,
      penalize,
      counters,
      store,
      proofs,
      votes: new VoteJournal(options.stateDir),
      audits: new AuditTally(options.stateDir),
      trainer,
      holders: new HolderBook(LIMITS.maxFetchSources),
      commits: new CommitBook({
        self: peerId.toString(),
        expectedPeers,
        faults: Math.max(0, toleratedFaults(genesis.aggregation, expectedPeers)),
        maxTracked: LIMITS.maxCommitsTracked,
      }),
    } as DtrainComponents
    const currentRound = () => c.globalState.round
    c.deltaBook = createDeltaBook({ self: peerId.toString() })(c)
    c.globalState = createGlobalState({
      weights,
      initialWeights: () => initialWeights(genesis.model),
      stateDir: options.stateDir,
    })(c)
    c.publisher = createPublisher({ currentRound })(c)
    c.shardBook = new ShardBook(c)
    const layout = shardLayout(genesis, weights.length)
    c.fetcher = createDeltaFetcher({
      dimension: weights.length,
      encodeOptions,
      shardPart: (round) => c.shardExchange?.partOf(round) ?? 'whole',
    })(c)
    c.validatorFn = createGossipValidatorFn(c, {
      allowlist: options.allowlist,
      onAccepted: (origin) => c.peers.keep(origin),
    })
    c.handlers = createGossipHandlers({
      currentRound,
      encodedSize: encodedDeltaSize(weights.length, encodeOptions),
      stateSize: stateSize(weights.length),
      shardLayout: layout,
    })(c)
    const windows = heldOutOffsets.slice(0, genesis.contribution.windows)
    c.contributions = createContributionCheck({
      evaluate: (w) => trainer.evaluate(w, windows, genesis.eval.batchSize),
    })(c)
    c.sync = createSync({ onSynced: options.onSynced })(c)
    if (layout !== undefined)
      c.shardExchange = createShardExchange({
        layout,
        dimension: weights.length,
        encodeOptions,
        checks: options.shardChecks ?? DEFAULT_SHARD_CHECKS,
        attack: options.shardAttack,
        draw: options.shardCheckDraw,
      })(c)
    const evaluate = () => trainer.evaluate(c.globalState.weights, heldOutOffsets, genesis.eval.batchSize)
    const accuracy = () => trainer.accuracy(c.globalState.weights, heldOutOffsets, genesis.eval.batchSize)
    c.runner = createRoundRunner({
      backend: backend.backend,
      encodeOptions,
      trainTokens: data.trainLength,
      evaluate,
      accuracy,
      gpuPeakTflops: gpuPeakFor(options, backend, trainer.precision, log),
      trainSlowdown: options.trainSlowdown,
      onInnerStep: options.onInnerStep,
      onPhase: options.onPhase,
    })(c)
    c.status = createNodeStatus({ backend: backend.backend })(c)
    c.peers = createRunPeers({
      bootstrap: options.bootstrap ?? [],
      relayClient: options.relayClient ?? 'auto',
      onRelayed: options.onRelayed,
    })(c)
    const node = new DtrainNode(options, c, backend, abort, { evaluate, accuracy })
    try {
      // --join takes the network's state, whatever this directory saved (issue 19 §2: --join was
      // ignored when a state directory existed): the saved state stays on disk until the
      // network's decided state replaces it.
      if (options.resume !== false) node.restoredRound = await c.globalState.restore()
      c.handlers.start()
      c.peers.start()
    } catch (err) {
      await node.stop()
      throw err
    }
    return node
  }

  /** Held-out loss of the current global weights. */
  evaluate(): Promise<number> {
    return this.heldOut.evaluate()
  }

  /** A classifier's held-out accuracy of the current global weights; null for a language model. */
  accuracy(): Promise<number | null> {
    return this.heldOut.accuracy()
  }

  /** Hash of the current global weights (hex). */
  get globalWeightsHash(): string {
    return this.components.globalState.weightsHashHex
  }

  get globalWeights(): Float32Array {
    return this.components.globalState.weights
  }

  get round(): number {
    return this.components.globalState.round
  }

  /** verified equivocation evidence by round (SPEC.md 5.6) */
  get evidence(): ReadonlyMap<number, Equivocation[]> {
    return this.components.deltaBook.evidence
  }

  /** per-peer reputation from the contribution check (SPEC.md 11.4; lower is better) */
  get reputation(): ReadonlyMap<string, number> {
    return this.components.contributions.reputation
  }

  get initialEvalLoss(): number | null {
    return this.components.status.initialEvalLoss
  }

  addresses(): string[] {
    return this.host.getMultiaddrs().map((a) => a.toString())
  }

  /** A peer's gossipsub score, dtrain's penalties included (SPEC.md 2.7). */
  gossipScore(peer: string): number {
    return gossipScore(this.host.services.pubsub, peer)
  }

  /** Reconciles with the network's commits (SPEC.md 12.2); true when it synced. */
  reconcile(): Promise<boolean> {
    return this.components.sync.reconcile()
  }

  /** Waits up to `timeoutMs` for a decided state of some round, then reconciles (a late joiner). */
  syncFromNetwork(timeoutMs: number): Promise<boolean> {
    return this.components.sync.syncFromNetwork(timeoutMs)
  }

  /** Runs one round of SPEC.md 11 (after reconciling, 12.2) and returns its report. */
  async runRound(): Promise<RoundReport> {
    await this.reconcile()
    return this.playRound()
  }

  private async playRound(): Promise<RoundReport> {
    const report = await this.components.runner.play()
    this.components.status.record(report)
    await this.components.status.refreshAudits()
    return report
  }

  /**
   * A node's life after its start (SPEC.md 11, 12): waits for its peers, catches up after a
   * restart or joins a running network, then reconciles and runs rounds until the run has
   * completed `rounds` rounds (0: until stopped), and lingers until its last round is agreed.
   */
  async run(options: RunOptions): Promise<{ committed: number }> {
    const { genesis, logger, sync, status } = this.components
    const { expectedPeers, collectTimeoutMs } = genesis.round
    const peers = await this.components.peers.waitFor(expectedPeers, options.startTimeoutMs)
    const bootstrap = this.options.bootstrap ?? []
    if (peers <= 1 && bootstrap.length > 0 && !this.abort.signal.aborted) {
      // Given peers to join, it reached none: say which and why, rather than train a run of its
      // own that nobody else trains (issue 19; RL Swarm #106 and its duplicates).
      const failures = await diagnoseBootstrap(this.host, bootstrap, deltaTopic(this.runIdHex), 10_000)
      if (!failures.every((f) => f.reason.startsWith('reachable and in the run'))) {
        const what = `reached none of its ${bootstrap.length} bootstrap peer${bootstrap.length > 1 ? 's' : ''} of run ${this.runIdHex.slice(0, 16)} within ${options.startTimeoutMs / 1000} s`
        // A node resumed from its state belongs to the run, and cannot close a round without a
        // majority of it (SPEC.md 12.5): it says what failed and keeps trying (its peers may be
        // restarting too). A fresh node says so and exits rather than start a run of its own.
        if (this.restoredRound !== null)
          logger.warn(
            { bootstrap: failures },
            `${what}; resumed from its state, it keeps trying and holds its rounds until peers answer`,
          )
        else
          throw new StartupError(
            `${what}:\n${failures.map((f) => `  ${f.address}: ${f.reason}`).join('\n')}\n(a node without --bootstrap starts a run of its own)`,
          )
      }
    }
    if (this.restoredRound !== null) {
      const outcome = await sync.catchUp(
        Math.min(RESUME_WAIT_MS, collectTimeoutMs),
        RESUME_WAIT_MS,
        HELD_ROUND_WAIT_MS,
      )
      logger.info({ outcome, round: this.round }, 'resumed')
    } else if (options.join) {
      // A node asked to join never starts a run of its own (issue 19 §2): without a decided state
      // to adopt within the start timeout, it says what it saw and exits.
      const waitMs = Math.max(collectTimeoutMs, options.startTimeoutMs)
      if (!(await sync.syncFromNetwork(waitMs))) {
        this.abort.signal.throwIfAborted()
        throw new StartupError(
          `--join found no decided state to join within ${Math.round(waitMs / 1000)} s: ${sync.describeCommits()}. A state is decided once a majority of the ${expectedPeers} expected peers committed it (SPEC.md 12.2); start this node again when the run's nodes are up, or without --join to start a run of its own`,
        )
      }
      logger.info({ round: this.round }, 'joined the running network')
    }
    const initialEvalLoss = await this.evaluate()
    status.initialEvalLoss = initialEvalLoss
    options.onReady?.({ peers, initialEvalLoss, round: this.round })
    logger.info({ peers, initialEvalLoss }, 'starting rounds')
    // Until the run has completed round R - 1 (0: until stopped). Reconciling first can move the
    // node forward (a state sync), so the check comes after it; the round itself then does not
    // reconcile again.
    while (!this.abort.signal.aborted) {
      await this.reconcile()
      if (options.rounds !== 0 && this.round >= options.rounds) break
      options.onRound?.(await this.playRound())
    }
    // Stopped: the run did not end, and says so to its caller (who stopped it).
    this.abort.signal.throwIfAborted()
    const committed = await sync.linger(this.round - 1)
    this.abort.signal.throwIfAborted()
    logger.info({ committed }, 'all rounds done')
    return { committed }
  }

  /** The node's state for `dtrain status` and the status page. */
  status(): Promise<NodeStatus> {
    return this.components.status.snapshot()
  }

  /** Stops every part in the reverse order of their start; the shared signal ends every wait. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return
    this.abort.abort()
    this.components.changes.notify()
    this.components.peers?.stop()
    this.components.handlers?.stop()
    this.components.fetcher?.stop()
    this.components.publisher?.stop()
    this.stopStage = 'libp2p'
    await this.host.stop()
    this.stopStage = 'trainer'
    await this.components.trainer.close()
    this.stopStage = 'store'
    await this.components.store.close()
    this.stopStage = 'stopped'
  }

  /** how far stop() got: a stop that hangs says where (dtrain start exits anyway after a while) */
  stopStage: 'running' | 'libp2p' | 'trainer' | 'store' | 'stopped' = 'running'
}
