// The round state machine of SPEC.md 11: train -> announce -> collect -> aggregate -> outer step ->
// commit and settle -> evaluate. Its decisions (when collect ends, whether its deadline is
// extended, when settle ends) are pure functions (policy.ts); this part gathers what they need,
// acts on their answers, and times each phase.

import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import { aggregateOffThread } from '../aggregate/off-thread.js'
import {
  type AggregationContext,
  AggregationInputError,
  type AggregationRule,
  aggregate,
  type Contribution,
  readsReference,
  roundSeed,
} from '../aggregate/rules.js'
import type { EncodeOptions } from '../codec/delta.js'
import { compressWithFeedback } from '../codec/error-feedback.js'
import { type Pieces, piecesLength } from '../codec/pieces.js'
import { statePieces, stateSize } from '../codec/state.js'
import { commitTopic, LIMITS } from '../constants.js'
import { fromHex, toHex } from '../crypto/hash.js'
import { peerIdBytes } from '../crypto/sign.js'
import { warnIfDisagrees } from '../gossip/handlers.js'
import type { HolderBook } from '../gossip/holders.js'
import type { Publisher } from '../gossip/publisher.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import { gossipView } from '../net/gossip-internals.js'
import type { Host } from '../net/host.js'
import { onlyRelayed } from '../net/reachability.js'
import { residualInUse } from '../proof/audit.js'
import { ProofRecorder } from '../proof/recorder.js'
import type { ProofStore } from '../proof/store.js'
import type { DeltaStore } from '../store/delta-store.js'
import { modelFlopsUtilisation, trainingFlopsPerSample } from '../train/flops.js'
import type { InnerRoundResult, Trainer } from '../train/trainer.js'
import type { Changes, Clock } from '../util/clock.js'
import { collectGarbage, isLargeModel } from '../util/gc.js'
import type { Genesis } from '../wire/genesis.js'
import type { CommitBook } from './commit-book.js'
import type { ContributionCheck } from './contribution-check.js'
import { collectDeadlineMs } from './deadline.js'
import type { DeltaBook } from './delta-book.js'
import type { GlobalState } from './global-state.js'
import { outerStepOrHold, pseudoGradient } from './outer.js'
import { collectDecision, settleDecision } from './policy.js'
import { noSteps, type Phase, type RoundReport, type Step } from './report.js'
import type { RoundStart } from './round-start.js'
import { type ShardExchange, ShardInputsUnavailableError } from './shard-exchange.js'
import type { Sync } from './sync.js'

export interface RoundRunnerComponents {
  genesis: Genesis
  runId: Uint8Array
  peerId: PeerId
  privateKey: PrivateKey
  host: Host
  trainer: Trainer
  deltaBook: DeltaBook
  commits: CommitBook
  holders: HolderBook
  globalState: GlobalState
  store: DeltaStore
  proofs: ProofStore
  publisher: Publisher
  contributions: ContributionCheck
  sync: Sync
  metrics: NodeMetrics
  logger: Logger
  clock: Clock
  changes: Changes
  signal: AbortSignal
  /** a sharded exchange's rounds (SPEC.md 18); undefined in an all-to-all run */
  shardExchange?: ShardExchange
}

export interface RoundRunnerInit {
  /** the training backend's name (proof header field 15) */
  backend: string
  encodeOptions: EncodeOptions
  /** tokens of the training text (proof header, SPEC.md 17.2) */
  trainTokens: number
  /** held-out loss and accuracy of the current global weights */
  evaluate: () => Promise<number>
  accuracy: () => Promise<number | null>
  /** the GPU peak MFU is reported against; null: none */
  gpuPeakTflops: number | null
  /** drills only: train this many times slower (NodeOptions.trainSlowdown) */
  trainSlowdown?: number
  onInnerStep?: (step: number, steps: number) => void
  onPhase?: (round: number, phase: Phase) => void
}

type RoundSeed = Parameters<Trainer['trainRound']>[1]

/** The process's resident memory and its array buffers' (typed arrays' backing stores), in MB. */
const memoryMB = (): { rssMB: number; arrayBuffersMB: number } => {
  const { rss, arrayBuffers } = process.memoryUsage()
  return { rssMB: Math.round(rss / 2 ** 20), arrayBuffersMB: Math.round(arrayBuffers / 2 ** 20) }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class RoundRunner {
  /** what the node does now, and the inner step of the round's training */
  phase: Phase | 'idle' = 'idle'
  innerStep = 0
  /** hex weights hash of the state the current round trains from */
  private baseHex = ''
  /** the current round's protocol steps, timed (RoundReport.stepSeconds) */
  private stepSeconds = noSteps()
  /** whether the current round's model is large (play) */
  private large = false

  constructor(
    private readonly components: RoundRunnerComponents,
    private readonly init: RoundRunnerInit,
  ) {}

  /** Runs one round of SPEC.md 11 from the node's current state and returns its report. */
  async play(): Promise<RoundReport> {
    const { genesis, globalState, deltaBook, metrics, signal } = this.components
    const round = globalState.round
    deltaBook.roundStarted(round)
    this.stepSeconds = noSteps()
    const log = this.components.logger.child({ round })
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
      this.init.onPhase?.(round, phase)
      if (log.isLevelEnabled('debug')) log.debug({ phase, ...memoryMB() }, 'phase start')
      try {
        return await fn()
      } finally {
        phaseSeconds[phase] = (performance.now() - started) / 1000
        const cpu = process.cpuUsage(cpuBefore)
        cpuSeconds[phase] = (cpu.user + cpu.system) / 1e6
        metrics.phaseSeconds.set({ phase }, phaseSeconds[phase])
      }
    }
    metrics.round.set(round)
    const baseHash = globalState.weightsHash
    this.baseHex = toHex(baseHash)
    // A sharded exchange draws the round's aggregators before any delta of it is fetched (SPEC.md 18.2).
    this.components.shardExchange?.beginRound(round, log)
    const seed = {
      runId: this.components.runId,
      baseHash,
      peerId: peerIdBytes(this.components.peerId),
      round,
    }
    // The trained weights and the proof recorder live only until the announcement: a round keeps
    // the figures it reports, not vectors of the model's size (issue 17).
    // A large model (a state of 64 MiB or more): its checkpoints are written before it announces,
    // so that nothing views its vectors after, its delta and outer step take the place of the
    // vectors they are computed from, and it aggregates on a thread of its own (issue 17).
    const large = isLargeModel(globalState.weights.length)
    this.large = large
    // Its outer momentum and reference (8 d bytes) wait on disk until its outer step reads them
    // back, its residual (4 d) until its encoding does: parked in the previous round (the residual
    // once it announced, the rest once its state was saved), or here after a restart or a sync.
    if (large) await this.park(globalState.park(round - 1), log)
    const { trained, proofBytes } = await (async () => {
      const sink = this.components.proofs.checkpointSink(round)
      const recorder = new ProofRecorder(sink)
      const result = await timed('train', () => this.train(seed, recorder))
      metrics.trainLoss.set(result.meanLoss)
      const bytes = await timed('announce', async () => {
        // The last checkpoint (12 d bytes) is written, and what training let go of is freed, before
        // the delta's encoding allocates: together they raised a node's peak (issue 17).
        // A small model's checkpoints are not waited for: its announcement is not delayed by an
        // fsync on a busy disk, which could make it miss its peers' collect (as before issue 17).
        if (large) await this.step('proofWrite', async () => await sink?.written())
        collectGarbage(stateSize(globalState.weights.length))
        // The trained weights are the last checkpoint's: once it is written (or copied, without a
        // sink), the delta takes their place instead of a new vector (4 d bytes, issue 17).
        const checkpointsDone = large || sink === undefined
        const proofBytes = await this.announce(round, seed, result, recorder, checkpointsDone, log)
        // Its new residual waits on disk until the next round's encoding (the state write streams
        // it from there): 4 d bytes fewer while the node collects, aggregates and steps.
        if (large) await this.park(globalState.parkResidual(), log)
        return proofBytes
      })
      const { meanLoss, samples, seconds, tokensPerSecond } = result
      return { trained: { meanLoss, samples, seconds, tokensPerSecond }, proofBytes: bytes }
    })()
    // The trained weights, the delta and the checkpoints are dead now (src/util/gc.ts).
    collectGarbage(stateSize(globalState.weights.length))

    const deadlineHit = await timed('collect', () => this.collect(round, log))
    // A node told to stop while collecting neither aggregates nor commits the round (issue 19).
    signal.throwIfAborted()
    deltaBook.recordArrivals(round)
    const otherBase = deltaBook.arrived(round) - deltaBook.valid(round, this.baseHex).length
    if (otherBase > 0) {
      metrics.deltaRejections.inc({ reason: 'other-base' }, otherBase)
      log.info({ phase: 'collect', otherBase }, 'deltas trained from other global weights left out')
    }
    // The round's starting state (12 d floats) lives until the round is settled, not through
    // eval and the state write: the settle step recomputes from it, nothing later does. A large
    // model's outer step is computed in place of it, and a recompute reads it back (issue 17).
    const settled = await (async () => {
      const start = await globalState.roundStart(round, large)
      const { minPeers, expectedPeers } = genesis.round
      const initial = await this.components.contributions.check(round, start, this.baseHex, log)
      if (initial.length < minPeers) {
        metrics.belowQuorumRounds.inc()
        log.warn(
          { phase: 'collect', have: initial.length, minPeers },
          'round carries on below quorum with the deltas that arrived',
        )
      }
      if (deadlineHit)
        log.warn(
          { phase: 'collect', have: initial.length, expected: expectedPeers },
          'collect deadline reached, aggregating what arrived',
        )
      const aggregated = await timed('aggregate', () => this.aggregate(round, initial, start, log))
      const { contributions, committedState, decided } = await timed('commit', () =>
        this.commitAndSettle(round, aggregated, start, log),
      )
      // Stopped while the round was undecided: nothing undecided is saved (SPEC.md 12.5); a restart
      // resumes from the last decided state.
      if (!decided) signal.throwIfAborted()
      // Only a decided state is saved (SPEC.md 12.5): a state the network did not decide is not one
      // to resume from, and reconciliation is about to replace it. Saved before the evaluation, so
      // that a large model's node can park its state while the trainer evaluates (issue 17).
      if (decided) await this.step('stateWrite', () => globalState.persist(committedState))
      return { contributions, decided }
    })()
    // The round's starting state (12 d bytes) and the state's pieces just saved are dead now: freed
    // before the evaluation, during which the trainer holds the weights it evaluates too (the 2-node
    // mlp-110m run's peak: both processes during eval, 6.2 GiB, with that dead state still resident;
    // issue 17). A large model's momentum and reference wait on disk from here.
    if (large && settled.decided) await this.park(globalState.park(round), log)
    collectGarbage(stateSize(globalState.weights.length))
    const { contributions } = settled

    const { evalLoss, evalAccuracy } = await timed('eval', async () => ({
      evalLoss: await this.init.evaluate(),
      evalAccuracy: await this.init.accuracy(),
    }))
    metrics.evalLoss.set(evalLoss)
    if (evalAccuracy !== null) metrics.evalAccuracy.set(evalAccuracy)
    metrics.contributors.set(contributions.length)
    const forgotten = round - LIMITS.keptDeltaRounds
    deltaBook.forget(forgotten)
    this.components.holders.forget(forgotten)
    this.components.commits.forgetThrough(forgotten)
    globalState.round = round + 1
    const { host } = this.components
    const report: RoundReport = {
      round,
      trainLoss: trained.meanLoss,
      evalLoss,
      evalPerplexity: Math.exp(evalLoss),
      evalAccuracy,
      weightsHash: this.components.commits.ownOf(round)!.weightsHash,
      contributors: contributions.length,
      deadlineHit,
      bytesSent: await metrics.total(metrics.bytesSent),
      bytesReceived: await metrics.total(metrics.bytesReceived),
      phaseSeconds,
      stepSeconds: { ...this.stepSeconds, validate: deltaBook.validationSeconds(round) },
      cpuSeconds,
      rssBytes: process.memoryUsage().rss,
      tokensPerSecond: trained.tokensPerSecond,
      mfu:
        this.init.gpuPeakTflops === null
          ? null
          : modelFlopsUtilisation(
              trained.samples / trained.seconds,
              trainingFlopsPerSample(genesis.model),
              this.init.gpuPeakTflops,
            ),
      proofBytes,
      peers: host.getPeers().length,
      relayedPeers: host.getPeers().filter((p) => onlyRelayed(host, p)).length,
      announced: Object.fromEntries(
        [...deltaBook.entries(round)].map(([peer, entry]) => [peer, toHex(entry.deltaHash)]),
      ),
    }
    await globalState.logRound(report)
    log.info({ ...report, phase: 'done' }, 'round complete')
    this.phase = 'idle'
    metrics.tokensPerSecond.set(report.tokensPerSecond)
    if (report.mfu !== null) metrics.mfu.set(report.mfu)
    metrics.relayedPeers.set(report.relayedPeers)
    return report
  }

  /** Waits for what a large model's node parks (GlobalState.park) and says what it parked. */
  private async park(parking: Promise<readonly string[]>, log: Logger): Promise<void> {
    const parts = await parking
    if (parts.length === 0) return
    collectGarbage(stateSize(this.components.globalState.weights.length))
    log.debug({ parts, ...memoryMB() }, 'parked on disk until the round reads it back')
  }

  /**
   * Runs fn and adds its seconds to the round's step (sync or async). At debug level it logs the
   * step with the process's memory after it (issue 17: where a large model's peak comes from).
   */
  private step<T>(name: Step, fn: () => T): T {
    const started = performance.now()
    const done = () => {
      const seconds = (performance.now() - started) / 1000
      this.stepSeconds[name] += seconds
      const { logger } = this.components
      if (logger.isLevelEnabled('debug')) logger.debug({ step: name, seconds, ...memoryMB() }, 'step done')
    }
    const out = fn()
    if (out instanceof Promise) return out.finally(done) as T
    done()
    return out
  }

  /** Step 1 (SPEC.md 7.5): H inner steps from the global weights, with proof checkpoints (17.3). */
  private train(seed: RoundSeed, recorder: ProofRecorder): Promise<InnerRoundResult> {
    const { genesis, trainer, globalState, metrics, signal } = this.components
    this.innerStep = 0
    const slowdown = this.init.trainSlowdown ?? 1
    let stepStarted = performance.now()
    return trainer.trainRound(globalState.weights, seed, {
      yieldEvery: async () => {
        this.innerStep++
        metrics.innerStep.set(this.innerStep)
        this.init.onInnerStep?.(this.innerStep, genesis.inner.steps)
        if (slowdown > 1)
          await new Promise((resolve) =>
            setTimeout(resolve, (performance.now() - stepStarted) * (slowdown - 1)),
          )
        await yieldToEventLoop()
        stepStarted = performance.now()
      },
      signal,
      checkpointEvery: genesis.proof.checkpointInterval,
      onCheckpoint: recorder.onCheckpoint,
      // a trainer that writes its checkpoints itself (torch) puts them in the proof store's files
      ...recorder.writtenCheckpoints(globalState.weights.length),
      // a large model's torch worker frees its weights until the evaluation sets the new ones
      releaseWeights: this.large,
    })
  }

  /**
   * Step 2 (SPEC.md 11): encodes this node's delta (with error feedback where the genesis asks for
   * it), fixes and stores its proof of learning (17.3), and publishes the signed announcement.
   * Returns the bytes the proofs kept now use.
   */
  private async announce(
    round: number,
    seed: RoundSeed,
    trained: InnerRoundResult,
    recorder: ProofRecorder,
    /** the checkpoints no longer need the trained weights: the delta is computed in their place */
    giveUpTrained: boolean,
    log: Logger,
  ): Promise<number> {
    const { genesis, globalState, store, proofs, deltaBook, publisher, metrics, trainer, privateKey } =
      this.components
    // The delta's vector is given up to the encoder, which computes v in its place (6.9).
    const delta = pseudoGradient(
      globalState.weights,
      trained.weights,
      giveUpTrained ? trained.weights : undefined,
    )
    const count = delta.length
    // Our own contribution is exactly what peers will decode (SPEC.md 8.0).
    const withResidual = residualInUse(genesis)
    const residualBefore = withResidual
      ? ((await globalState.residualNow()) ?? new Float32Array(delta.length))
      : undefined
    const compressed = this.step('encode', () =>
      compressWithFeedback(delta, residualBefore, this.init.encodeOptions, genesis.delta.feedbackDecay, true),
    )
    if (withResidual) globalState.residual = compressed.residual
    const encoded = compressed.bytes
    const deltaHash = this.step('hashDelta', () => store.put(round, encoded))
    // The proof of learning is fixed before the delta is announced (SPEC.md 17.3).
    const proof = await recorder.announce(privateKey, {
      genesis,
      seed,
      trainTokens: this.init.trainTokens,
      backend: this.init.backend,
      precision: trainer.precision,
      deltaHash,
      residual: residualBefore ? { before: residualBefore, after: compressed.residual } : undefined,
      previousRound: globalState.lastProofRound,
      encodedSize: encoded.length,
      trainLoss: trained.meanLoss,
      sampleCount: trained.samples,
    })
    await this.step('proofWrite', () => proofs.put(proof))
    globalState.lastProofRound = round
    const proofBytes = await proofs.bytesUsed()
    metrics.proofBytes.set(proofBytes)
    log.debug({ proofRoot: toHex(proof.root).slice(0, 16), proofBytes }, 'proof of learning stored')
    deltaBook.set(round, this.components.peerId.toString(), {
      deltaHash,
      baseHash: seed.baseHash,
      state: 'valid',
      // read back from the store as the aggregation needs it: no decoded copy is kept (8.13)
      values: store.delta(deltaHash, count),
      envelope: proof.announcement,
    })
    await this.step('publish', () => publisher.announce(proof.announcement, round))
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
   * Step 3 (SPEC.md 11, 11.2, 11.3): waits for the peers' deltas until every expected peer's
   * arrived, the (adaptive, once extended below quorum) deadline, or the network is a whole round
   * ahead (collectDecision). Returns whether it ended without every expected peer's delta.
   */
  private async collect(round: number, log: Logger): Promise<boolean> {
    const { genesis, deltaBook, sync, metrics, clock, changes, publisher, signal } = this.components
    const { expectedPeers, minPeers, minCollectMs, collectTimeoutMs } = genesis.round
    const elapsed = clock.now() - (deltaBook.startedAt(round) ?? clock.now())
    const deadlineMs = collectDeadlineMs(deltaBook.arrivalDelays, minCollectMs, collectTimeoutMs, elapsed)
    metrics.collectDeadlineSeconds.set(deadlineMs / 1000)
    const startedAt = clock.now()
    let extended = false
    let deadline = startedAt + deadlineMs
    for (;;) {
      const valid = deltaBook.valid(round, this.baseHex).length
      const decision = collectDecision({
        now: clock.now(),
        arrived: deltaBook.arrived(round),
        awaitedMissing: this.awaitedMissing(round),
        valid,
        expectedPeers,
        minPeers,
        networkAhead: sync.networkAhead(),
        stopped: signal.aborted,
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
      await publisher.reannounceIfDue()
      await changes.changed(decision.waitMs)
    }
  }

  /**
   * The peers that committed the previous round's decided state (this node aside) whose delta of
   * `round` has not arrived; undefined when that state's voters are not known (SPEC.md 11, step 3).
   */
  private awaitedMissing(round: number): number | undefined {
    const { sync, deltaBook, peerId } = this.components
    const previous = round > 0 ? sync.decidedOf(round - 1, false) : undefined
    if (previous === undefined) return undefined
    const self = peerId.toString()
    // Delivered: verified, or settled for good (failed, or excluded for an equivocation).
    const pending = (p: string) => {
      const state = deltaBook.get(round, p)?.state
      return state === undefined || state === 'fetching'
    }
    return previous.peers.filter((p) => p !== self && pending(p)).length
  }

  /**
   * Steps 5 and 6 (SPEC.md 11): commits the aggregate, then settles (settleDecision): peers whose
   * collect closed around the deadline may have aggregated other sets. Every delta listed in a
   * peer's commit of this round that this node holds, verified, trained from its own W_r and kept
   * by the contribution check joins the set; the round is recomputed from W_r and committed
   * again. Sets only grow, so the nodes that see each other's commits end on the same set.
   * An undecided round is held open past the settle timeout (SPEC.md 12.5): the node re-publishes
   * its announcement and commit and keeps growing its set until a state of the round is decided,
   * a later round is, or it stops. Returns the final set, the encoded state committed, and whether
   * that state is the round's decided one.
   */
  private async commitAndSettle(
    round: number,
    initial: Contribution[],
    start: RoundStart,
    log: Logger,
  ): Promise<{ contributions: Contribution[]; committedState: Pieces; decided: boolean }> {
    const { genesis, commits, deltaBook, sync, metrics, clock, changes, publisher, signal, host, runId } =
      this.components
    let contributions = initial
    const settleDeadline = clock.now() + Math.min(LIMITS.settleTimeoutMs, genesis.round.collectTimeoutMs)
    let committedState = await this.commit(round, contributions)
    let heldSince: number | undefined
    let heldLoggedAt = 0
    try {
      for (;;) {
        const theirs = commits.peersOf(round)
        const listed = new Set(contributions.map((c) => toHex(c.id)))
        for (const record of theirs.values()) for (const h of record.deltaHashes ?? []) listed.add(toHex(h))
        const grown = await this.components.contributions.check(round, start, this.baseHex, log, listed)
        // The round's decided state (12.2), looked up once: this node's own, another, or none.
        const standing = sync.standing(round, false)
        const decided = standing === undefined ? undefined : standing.lost ? 'other' : 'own'
        const decision = settleDecision({
          now: clock.now(),
          deadline: settleDeadline,
          stopped: signal.aborted,
          canGrow: grown.length > contributions.length,
          refuted: this.components.shardExchange?.refuted(round) ?? false,
          ownHash: commits.ownOf(round)!.weightsHash,
          contributorHashes: deltaBook
            .contributorsOf(round, contributions)
            .map((p) => theirs.get(p)?.weightsHash),
          lostTo: standing?.lost ? { peers: standing.top.peers.length } : undefined,
          decided,
          networkAhead: sync.networkAhead(),
          expectedPeers: genesis.round.expectedPeers,
          pollMs: LIMITS.reannounceMs,
        })
        if (decision.action === 'recompute') {
          const growing = grown.length > contributions.length
          if (growing)
            log.info(
              { phase: 'commit', before: contributions.length, after: grown.length },
              'peers aggregated deltas this node left out: recomputing the round with them',
            )
          else
            log.warn(
              { phase: 'commit', contributors: contributions.length },
              'a shard result this node applied was shown wrong: recomputing the round without it',
            )
          metrics.settledRounds.inc()
          contributions = await this.aggregate(round, growing ? grown : contributions, start, log)
          committedState = await this.commit(round, contributions)
          continue
        }
        if (decision.action === 'end') {
          if (heldSince !== undefined)
            log.info(
              {
                phase: 'commit',
                why: decision.why,
                heldSeconds: Math.round((clock.now() - heldSince) / 1000),
              },
              'the held round is closed',
            )
          return { contributions, committedState, decided: decided === 'own' }
        }
        if (decision.action === 'hold') {
          if (heldSince === undefined) {
            heldSince = clock.now()
            metrics.heldRounds.inc()
            metrics.holding.set(1)
          }
          // Say so when the hold begins and once a minute after: a node that waits for its peers
          // must say what it waits for (SPEC.md 12.5).
          if (clock.now() - heldLoggedAt >= 60_000) {
            heldLoggedAt = clock.now()
            const committed = commits.peersOf(round)
            // the connected peers whose commit of the round has not arrived, and what gossipsub
            // knows of each: a peer that is connected but unheard points at gossip, not at it
            const unheard = host.getPeers().filter((p) => !committed.has(p.toString()))
            log.warn(
              {
                phase: 'commit',
                commits: committed.size + 1,
                majority: Math.floor(genesis.round.expectedPeers / 2) + 1,
                contributors: contributions.length,
                heldSeconds: Math.round((clock.now() - heldSince) / 1000),
                connectedWithoutCommit: gossipView(host.services.pubsub, unheard, commitTopic(toHex(runId))),
              },
              'no state of this round is decided: holding the round open until peers commit one (a node without a majority does not train on alone)',
            )
          }
          await publisher.recommitIfDue(round)
        }
        await publisher.reannounceIfDue()
        await changes.changed(decision.waitMs)
      }
    } finally {
      if (heldSince !== undefined) metrics.holding.set(0)
    }
  }

  /**
   * Step 4 (SPEC.md 8, 9): applies the aggregate of `contributions` to the round's starting state,
   * in place of it for a large model (RoundStart; a recompute reads it back first).
   */
  private async aggregate(
    round: number,
    contributions: Contribution[],
    start: RoundStart,
    log: Logger,
  ): Promise<Contribution[]> {
    const { genesis, globalState, metrics, runId } = this.components
    const seed = roundSeed(runId, round)
    // the reference is read (back) only for the rule that reads it; the momentum, for the outer step
    const reference = readsReference(genesis.aggregation) ? await start.reference() : undefined
    const context = { seed, reference }
    let aggregated: Float32Array
    for (;;) {
      try {
        aggregated = await this.aggregateOrMedian(round, contributions, context, log)
        break
      } catch (err) {
        if (!(err instanceof ShardInputsUnavailableError)) throw err
        // A shard had to be computed from deltas whose part no source could deliver (SPEC.md
        // 18.5): those deltas were not delivered to this node after all, and the round is
        // aggregated without them (the votes of 12.2 bring it back if its peers differ).
        log.warn(
          { phase: 'aggregate', peers: err.peers, err: err.message },
          'a shard needs deltas whose part could not be fetched: aggregating without them',
        )
        const dropped = new Set<string>()
        for (const peer of err.peers) {
          const entry = this.components.deltaBook.get(round, peer)
          if (entry === undefined) continue
          dropped.add(toHex(entry.deltaHash))
          this.components.deltaBook.markFailed(entry, 'unavailable')
        }
        contributions = contributions.filter((c) => !dropped.has(toHex(c.id)))
      }
    }
    const before = await start.take()
    const outer = this.step('outerStep', () =>
      outerStepOrHold(before, aggregated, genesis.outer.optimizer, start.inPlace),
    )
    if (!outer.applied) {
      log.error(
        { phase: 'aggregate', contributors: contributions.length },
        'the aggregate holds a non-finite value: no outer step this round (SPEC.md 9)',
      )
      metrics.nonFiniteAggregates.inc()
    }
    globalState.reference = outer.applied ? aggregated : await start.reference()
    globalState.state = outer.state
    log.debug({ phase: 'aggregate', inPlace: start.inPlace, applied: outer.applied }, 'outer step done')
    return contributions
  }

  /** The run's rule over `contributions`, or the median when too few arrived for it (SPEC.md 8.10). */
  private async aggregateOrMedian(
    round: number,
    contributions: Contribution[],
    context: AggregationContext,
    log: Logger,
  ): Promise<Float32Array> {
    const { genesis, metrics } = this.components
    try {
      return await this.aggregateWith(round, genesis.aggregation, contributions, context, log)
    } catch (err) {
      if (!(err instanceof AggregationInputError)) throw err
      // Too few deltas arrived for the rule's declared f: every node in this situation falls
      // back to the coordinate median of the same set (SPEC.md 8.10), so they stay in step.
      log.warn(
        { phase: 'aggregate', err: err.message, contributors: contributions.length },
        'falling back to the median',
      )
      metrics.aggregationFallbacks.inc()
      return await this.aggregateWith(round, { rule: 'median' }, contributions, context, log)
    }
  }

  /**
   * The rule's aggregate of `contributions`. A large model's, when every delta is on disk, is
   * computed on a worker thread of its own (aggregate/off-thread.ts), bit for bit the same: the
   * node's event loop goes on serving chunks, answering pings and relaying gossip meanwhile.
   */
  private async aggregateWith(
    round: number,
    rule: AggregationRule,
    contributions: Contribution[],
    context: AggregationContext,
    log: Logger,
  ): Promise<Float32Array> {
    const { store, globalState, signal, shardExchange } = this.components
    if (shardExchange !== undefined)
      return await this.step('aggregateRule', () =>
        shardExchange.aggregate(round, rule, contributions, fromHex(this.baseHex), context, log),
      )
    if (this.large) {
      const paths = await Promise.all(contributions.map((c) => store.fileOf(c.id)))
      const inputs = contributions.map((c, i) => ({ id: c.id, path: paths[i] ?? '' }))
      if (inputs.every((input) => input.path !== '')) {
        log.debug({ phase: 'aggregate', rule: rule.rule, thread: 'worker' }, 'aggregating')
        return await this.step('aggregateRule', () =>
          aggregateOffThread({ rule, inputs, count: globalState.weights.length, context }, signal),
        )
      }
    }
    log.debug({ phase: 'aggregate', rule: rule.rule, thread: 'node' }, 'aggregating')
    return this.step('aggregateRule', () => aggregate(rule, contributions, context))
  }

  /**
   * Step 5: stores the state after `round` (served to late joiners, SPEC.md 12) and publishes its
   * commit. The state stays in pieces, views of the state's vectors (statePieces), which nothing
   * changes in place: the next outer step or an adoption replaces them.
   */
  private async commit(round: number, contributions: Contribution[]): Promise<Pieces> {
    const { globalState, store, commits, publisher } = this.components
    const deltaHashes = contributions.map((c) => c.id).sort(Buffer.compare)
    const { weights, momentum } = globalState.state
    const stateBytes = this.step('encodeState', () =>
      statePieces({
        round,
        weights,
        momentum,
        reference: globalState.reference ?? new Float32Array(weights.length),
      }),
    )
    const stateRoot = this.step('hashState', () => store.put(round, stateBytes))
    const record = { weightsHash: globalState.weightsHashHex, stateRoot, stateSize: piecesLength(stateBytes) }
    // with its set: a sharded exchange draws the next round's aggregators from it (SPEC.md 18.2)
    commits.setOwn(round, { ...record, deltaHashes })
    for (const [peer, theirs] of commits.peersOf(round))
      warnIfDisagrees(this.components, round, peer, theirs.weightsHash)
    await publisher.commit(round, { ...record, deltaHashes })
    return stateBytes
  }
}

export const createRoundRunner =
  (init: RoundRunnerInit) =>
  (components: RoundRunnerComponents): RoundRunner =>
    new RoundRunner(components, init)
