// The auditor (SPEC.md 17.4): checks a peer's proof of learning for one round at a fraction of
// the training's cost. It verifies the signed commitment and the manifest, recomputes the data
// commitment, checks the delta against the first and last checkpoints, then replays Q segments
// (the largest updates and random ones, drawn after the commitment) and compares each replay
// with the committed checkpoint, in absolute terms and relative to the segment's own update.
import { randomBytes } from 'node:crypto'
import { compressWithFeedback } from '../codec/error-feedback.js'
import { DOMAINS } from '../constants.js'
import { bytesEqual, domainHash, float32FromLe, toHex, weightsHash } from '../crypto/hash.js'
import { HashStream } from '../crypto/prng.js'
import { peerIdFromBytes, verifyBody } from '../crypto/sign.js'
import { pseudoGradient } from '../round/outer.js'
import { deltaRoot } from '../store/delta-store.js'
import { TRAINING_BACKENDS } from '../train/backend-names.js'
import type { BatchSeed } from '../train/batches.js'
import type { Corpus } from '../train/corpus.js'
import { asDataset, type Dataset } from '../train/dataset.js'
import { InnerTrainer } from '../train/inner-loop.js'
import { TfjsTrainer } from '../train/tfjs-trainer.js'
import type { Trainer, TrainingSnapshot } from '../train/trainer.js'
import { encodeOptionsFor, type Genesis, runIdOf } from '../wire/genesis.js'
import { type Announcement, decodeAnnouncement } from '../wire/messages.js'
import {
  checkpointSize,
  decodeCheckpoint,
  encodeCheckpoint,
  objectRoot,
  optimizerHash,
} from './checkpoint.js'
import {
  checkpointSteps,
  dataCommitment,
  decodeManifest,
  hyperparametersOf,
  type Manifest,
  ProofFormatError,
  proofRoot,
  residualHash,
} from './manifest.js'
import { type ProofSource, ProofUnavailableError, ProofWithheldError } from './protocol.js'
import { unreachable } from './reachable.js'
import { distance } from './recorder.js'
import { MIN_SEGMENTS, type Tolerance, toleranceFor } from './tolerance.js'

export type Verdict = 'valid' | 'invalid' | 'unavailable'

export interface SegmentReport {
  index: number
  fromStep: number
  toStep: number
  /** why it was picked: one of the largest updates, or at random */
  picked: 'largest' | 'random'
  /** L2 distance between the replayed and the committed weights */
  distance: number
  /** distance / sqrt(parameters) */
  rmsDistance: number
  /** distance / the segment's own update norm */
  relativeDistance: number
  /** largest relative distance of the AdamW moments */
  momentDistance: number
  tolerance: Tolerance
  verdict: 'pass' | 'fail'
}

export interface AuditReport {
  verdict: Verdict
  /** the reasons for an invalid or unavailable verdict; empty when valid */
  reasons: string[]
  /** checks that could not be made and did not decide the verdict */
  notes: string[]
  round: number
  peer?: string
  /** the root of the delta the audited announcement commits to (hex) */
  deltaHash?: string
  proofRoot?: string
  trainedBackend?: string
  replayBackend: string
  segmentsTotal?: number
  segments: SegmentReport[]
  /** proof bytes the audit read */
  bytesRead: number
  /** bytes of the whole proof (all checkpoints) */
  proofBytes?: number
  /** inner steps replayed of the round's H */
  stepsReplayed: number
  stepsTrained?: number
  seconds: number
  /** of `seconds`, the time spent replaying training steps */
  replaySeconds: number
  /** the auditor's nonce: with the proof root it fixes which segments were picked */
  nonce: string
}

export interface AuditOptions {
  genesis: Genesis
  /** the run's dataset (loadDataset), or a text corpus for a transformer run */
  data: Dataset | Corpus
  round: number
  /** the peer the audit is about; when absent, whoever signed the round's announcement */
  peerId?: Uint8Array
  segments: number
  tolerance: 'auto' | number
  /** the backend this process replays on */
  replayBackend: string
  /** fixes the segment choice (tests); by default 32 fresh random bytes */
  nonce?: Uint8Array
  /**
   * replays on this trainer (dtrain audit builds one for its backend: createTrainer); otherwise a
   * tfjs trainer on this process's backend is built and closed
   */
  trainer?: Trainer
}

class AuditFailure extends Error {}

/**
 * An object the manifest commits, fetched: once the manifest is served, withholding it (not
 * found, pruned, another size, not a regular file) fails the proof; an unreachable peer does not.
 */
async function withheldIsFailure(what: string, fetch: () => Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await fetch()
  } catch (err) {
    if (err instanceof ProofWithheldError) throw new AuditFailure(`${what} was withheld: ${err.message}`)
    throw err
  }
}

export { MIN_SEGMENTS } from './tolerance.js'

const WHY_TWO =
  'one segment would be the largest update, which the prover knows in advance and can shape, or a random one, which misses a forged last step most of the time'

/** Audits one round's proof. Never throws for a bad proof: the report says why. */
export async function audit(source: ProofSource, options: AuditOptions): Promise<AuditReport> {
  if (!(Number.isInteger(options.segments) && options.segments >= MIN_SEGMENTS))
    throw new RangeError(
      `an audit replays at least ${MIN_SEGMENTS} segments (got ${options.segments}): ${WHY_TWO}`,
    )
  const started = performance.now()
  const nonce = options.nonce ?? randomBytes(32)
  const report: AuditReport = {
    verdict: 'valid',
    reasons: [],
    notes: [],
    round: options.round,
    replayBackend: options.replayBackend,
    segments: [],
    bytesRead: 0,
    stepsReplayed: 0,
    seconds: 0,
    replaySeconds: 0,
    nonce: toHex(nonce),
  }
  const trainer =
    options.trainer ?? new TfjsTrainer(new InnerTrainer(options.genesis, options.data), options.replayBackend)
  try {
    await runAudit(source, options, nonce, trainer, report)
  } catch (err) {
    if (err instanceof ProofUnavailableError) {
      report.verdict = 'unavailable'
      report.reasons.push(err.message)
    } else if (err instanceof AuditFailure || err instanceof ProofFormatError) {
      report.verdict = 'invalid'
      report.reasons.push(err.message)
    } else throw err
  } finally {
    if (!options.trainer) await trainer.close()
    report.bytesRead = source.bytesReceived
    report.seconds = (performance.now() - started) / 1000
  }
  if (report.verdict === 'valid' && report.segments.some((s) => s.verdict === 'fail')) {
    report.verdict = 'invalid'
    for (const s of report.segments.filter((x) => x.verdict === 'fail'))
      report.reasons.push(
        `segment ${s.index} (steps ${s.fromStep}-${s.toStep}) does not replay: distance ${s.relativeDistance.toExponential(2)} of its update (tolerance ${s.tolerance.relative}), rms ${s.rmsDistance.toExponential(2)} (tolerance ${s.tolerance.rms.toExponential(2)}), moments ${s.momentDistance.toExponential(2)}`,
      )
  }
  return report
}

async function runAudit(
  source: ProofSource,
  options: AuditOptions,
  nonce: Uint8Array,
  trainer: Trainer,
  report: AuditReport,
): Promise<void> {
  const { genesis, round } = options
  const fail = (why: string): never => {
    throw new AuditFailure(why)
  }
  const runId = runIdOf(genesis)
  const d = trainer.parameterCount
  const cpBytes = checkpointSize(d)

  // 1. The commitment: a signed announcement of this round whose proof root is the manifest's.
  const fetched = await source.manifest(round)
  let announcement: Announcement
  try {
    const envelope = decodeAnnouncement(fetched.announcement)
    announcement = envelope.message
    const key = peerIdFromBytes(announcement.peerId).publicKey
    if (!key || !(await verifyBody(key, DOMAINS.announcement, envelope.body, envelope.signature)))
      fail('the announcement signature does not verify')
  } catch (err) {
    if (err instanceof AuditFailure) throw err
    return fail(`the announcement is malformed: ${(err as Error).message}`)
  }
  report.peer = peerIdFromBytes(announcement.peerId).toString()
  report.deltaHash = toHex(announcement.deltaHash)
  if (options.peerId && !bytesEqual(options.peerId, announcement.peerId))
    fail(`the announcement is signed by ${report.peer}, not by the audited peer`)
  if (!bytesEqual(announcement.runId, runId)) fail('the announcement is of another run')
  if (announcement.round !== round)
    fail(`asked for round ${round}, the announcement is of round ${announcement.round}`)
  const manifest: Manifest = decodeManifest(fetched.manifest)
  const root = proofRoot(manifest.headerBytes, manifest.checkpointRoots)
  report.proofRoot = toHex(root)
  if (!bytesEqual(root, announcement.proofRoot))
    fail('the manifest does not hash to the proof root committed in the signed announcement')

  // 2. The header says what the announcement and the genesis say.
  const h = manifest.header
  report.trainedBackend = h.backend
  // A backend nobody knows would pick whatever tolerance the prover likes (issue 19).
  if (!(TRAINING_BACKENDS as readonly string[]).includes(h.backend))
    fail(
      `the proof names an unknown training backend "${h.backend.slice(0, 40)}" (known: ${TRAINING_BACKENDS.join(', ')})`,
    )
  // The run decides which backends' tolerances a prover may claim (SPEC.md 17.6), not the prover.
  const admitted = genesis.proof.backends
  if (admitted && !(admitted as readonly string[]).includes(h.backend))
    fail(
      `the proof names training backend ${h.backend}, which this run does not admit (genesis proof.backends: ${admitted.join(', ')})`,
    )
  if (!bytesEqual(h.runId, runId) || h.round !== round || !bytesEqual(h.peerId, announcement.peerId))
    fail('the manifest names another run, round or peer than its announcement')
  if (!bytesEqual(h.baseHash, announcement.baseHash))
    fail('the manifest starts from other weights than announced')
  if (!bytesEqual(h.deltaHash, announcement.deltaHash))
    fail('the manifest is of another delta than announced')
  if (h.hyperparameters !== hyperparametersOf(genesis))
    fail(`the proof declares hyperparameters other than the genesis's: ${h.hyperparameters}`)
  if (h.checkpointInterval !== genesis.proof.checkpointInterval)
    fail(`checkpoint interval ${h.checkpointInterval}, the genesis says ${genesis.proof.checkpointInterval}`)
  const steps = checkpointSteps(genesis.inner.steps, genesis.proof.checkpointInterval)
  if (h.checkpointSteps.join() !== steps.join()) fail('the checkpoint steps are not those of the genesis')
  report.segmentsTotal = steps.length - 1
  report.stepsTrained = genesis.inner.steps
  report.proofBytes = steps.length * cpBytes
  const seed: BatchSeed = { runId, baseHash: h.baseHash, peerId: h.peerId, round }
  if (
    !bytesEqual(h.dataCommitment, dataCommitment(genesis, asDataset(options.data, genesis).trainLength, seed))
  )
    fail('the data commitment is not the batches this peer must train on in this round')
  const usesResidual = residualInUse(genesis)
  if (usesResidual !== h.residualIn.length > 0)
    fail(
      usesResidual
        ? 'the run uses error feedback but the proof has no residual'
        : 'the proof has a residual the run does not use',
    )

  // 3. The chain: the optimizer state (and residual) a round starts from is where the peer's
  //    previous proof ended, or zero for its first.
  let chainUnchecked: string | undefined
  if (h.previousRound === null) {
    const zero = zeroSnapshot(d)
    if (!bytesEqual(h.optimizerIn, optimizerHash(encodeCheckpoint(zero))))
      fail('a first proof must start from a zero optimizer state')
    if (usesResidual && !bytesEqual(h.residualIn, residualHash(new Float32Array(d))))
      fail('a first proof must start from a zero residual')
  } else if (h.previousRound >= round) {
    fail(`the previous proof's round ${h.previousRound} is not before ${round}`)
  } else {
    try {
      const previous = decodeManifest((await source.manifest(h.previousRound)).manifest).header
      if (!bytesEqual(previous.optimizerOut, h.optimizerIn))
        fail(`the optimizer state does not continue the peer's proof of round ${h.previousRound}`)
      if (usesResidual && !bytesEqual(previous.residualOut, h.residualIn))
        fail(`the residual does not continue the peer's proof of round ${h.previousRound}`)
    } catch (err) {
      if (!(err instanceof ProofUnavailableError)) throw err
      // Never VALID on evidence the audit could not check: the rest is still checked (an
      // invalid finding stands), but a proof that passes everything else is "could not audit".
      chainUnchecked = `the chain to the peer's proof of round ${h.previousRound} could not be checked: ${err.message}`
    }
  }

  // 4. First and last checkpoints: the base weights, and the delta.
  const cache = new Map<number, TrainingSnapshot>()
  const load = async (index: number): Promise<TrainingSnapshot> => {
    const held = cache.get(index)
    if (held) return held
    const bytes = await withheldIsFailure(`checkpoint ${index}`, () =>
      source.checkpoint(round, index, cpBytes),
    )
    if (!bytesEqual(objectRoot(bytes), manifest.checkpointRoots[index]))
      fail(`checkpoint ${index} does not match its committed root`)
    let snapshot: TrainingSnapshot
    try {
      snapshot = decodeCheckpoint(bytes, d)
    } catch (err) {
      return fail(`checkpoint ${index}: ${(err as Error).message}`)
    }
    if (snapshot.localStep !== steps[index])
      fail(`checkpoint ${index} is of step ${snapshot.localStep}, expected ${steps[index]}`)
    // 4a. Only optimizer states that clipped gradients from zero can reach (reachable.ts).
    const outOfReach = unreachable(snapshot.optimizer, genesis.inner.optimizer)
    if (outOfReach) fail(`checkpoint ${index}: no honest training reaches its optimizer state: ${outOfReach}`)
    if (index === 0 && !bytesEqual(optimizerHash(bytes), h.optimizerIn))
      fail('the first checkpoint does not hold the declared optimizer state')
    if (index === steps.length - 1 && !bytesEqual(optimizerHash(bytes), h.optimizerOut))
      fail('the last checkpoint does not hold the declared optimizer state')
    cache.set(index, snapshot)
    return snapshot
  }
  const first = await load(0)
  if (!bytesEqual(weightsHash(first.weights), h.baseHash))
    fail('the first checkpoint is not the global weights the round started from')
  const last = await load(steps.length - 1)
  let residual: Float32Array | undefined
  if (usesResidual) {
    const bytes = await withheldIsFailure('the residual', () => source.residual(round, 4 * d))
    if (bytes.length !== 4 * d) fail(`the residual is ${bytes.length} bytes, expected ${4 * d}`)
    residual = float32FromLe(bytes)
    if (!bytesEqual(residualHash(residual), h.residualIn)) fail('the residual does not match its hash')
  }
  const compressed = compressWithFeedback(
    pseudoGradient(first.weights, last.weights),
    residual,
    encodeOptionsFor(genesis.delta, d),
    genesis.delta.feedbackDecay,
    true, // the pseudo-gradient is this call's own: v and the residual take its place
  )
  if (!bytesEqual(deltaRoot(compressed.bytes).root, announcement.deltaHash))
    fail('the announced delta is not the encoding of (first checkpoint - last checkpoint)')
  if (usesResidual && !bytesEqual(residualHash(compressed.residual), h.residualOut))
    fail('the residual after the round is not what the encoding leaves')

  // 5. Segments, drawn after the commitment: the largest claimed updates, then random ones.
  const picks = pickSegments(h.updateNorms, options.segments, domainHash(DOMAINS.auditSegments, root, nonce))
  const tolerance = toleranceFor(h.backend, options.replayBackend, options.tolerance, genesis, {
    trained: h.precision,
    replay: trainer.precision,
  })
  for (const { index, picked } of picks) {
    const start = await load(index)
    const end = await load(index + 1)
    const claimed = h.updateNorms[index]
    const actual = distance(end.weights, start.weights)
    if (Math.abs(claimed - actual) > 1e-3 * Math.max(actual, 1e-12))
      fail(`segment ${index} declares an update of ${claimed}, its checkpoints differ by ${actual}`)
    const replayStarted = performance.now()
    const replayed = await trainer.replay(start, steps[index + 1], seed)
    if (replayed.optimizer.step !== end.optimizer.step)
      fail(
        `segment ${index}: checkpoint ${index + 1} declares AdamW's step counter t = ${end.optimizer.step}, the replay from checkpoint ${index} reaches t = ${replayed.optimizer.step}`,
      )
    report.replaySeconds += (performance.now() - replayStarted) / 1000
    report.stepsReplayed += steps[index + 1] - steps[index]
    const gap = distance(replayed.weights, end.weights)
    const segmentTolerance: Tolerance = {
      ...tolerance,
      rms: tolerance.rms * (steps[index + 1] - steps[index]),
    }
    const rms = gap / Math.sqrt(d)
    const relative = gap / Math.max(actual, Number.MIN_VALUE)
    const moments = Math.max(
      relativeGap(replayed.optimizer.firstMoment, end.optimizer.firstMoment),
      relativeGap(replayed.optimizer.secondMoment, end.optimizer.secondMoment),
    )
    const pass =
      replayed.optimizer.step === end.optimizer.step &&
      rms <= segmentTolerance.rms &&
      relative <= segmentTolerance.relative &&
      moments <= segmentTolerance.relative
    report.segments.push({
      index,
      fromStep: steps[index],
      toStep: steps[index + 1],
      picked,
      distance: gap,
      rmsDistance: rms,
      relativeDistance: relative,
      momentDistance: moments,
      tolerance: segmentTolerance,
      verdict: pass ? 'pass' : 'fail',
    })
  }
  if (chainUnchecked && !report.segments.some((s) => s.verdict === 'fail'))
    throw new ProofUnavailableError(chainUnchecked)
}

/**
 * The segments an audit replays (SPEC.md 17.4): ceil(Q / 2) with the largest declared updates
 * (ties: lower index), then the rest uniformly at random among the others, from HashStream seeded
 * with SHA-256(domain audit-segments || proofRoot || nonce).
 */
export function pickSegments(
  norms: readonly number[],
  count: number,
  seed: Uint8Array,
): Array<{ index: number; picked: 'largest' | 'random' }> {
  const q = Math.min(count, norms.length)
  const byNorm = norms.map((n, i) => ({ n, i })).sort((a, b) => b.n - a.n || a.i - b.i)
  const largest = byNorm.slice(0, Math.ceil(q / 2)).map(({ i }) => i)
  const rest = norms.map((_, i) => i).filter((i) => !largest.includes(i))
  const stream = new HashStream(DOMAINS.auditSegments, seed)
  const random: number[] = []
  while (random.length < q - largest.length) random.push(rest.splice(stream.nextBelow(rest.length), 1)[0])
  return [
    ...largest.map((index) => ({ index, picked: 'largest' as const })),
    ...random.map((index) => ({ index, picked: 'random' as const })),
  ].sort((a, b) => a.index - b.index)
}

/** Whether a run's deltas carry an error-feedback residual that the proof must include. */
export function residualInUse(genesis: Genesis): boolean {
  return genesis.delta.errorFeedback && genesis.delta.encoding !== 'fp32'
}

function zeroSnapshot(d: number): TrainingSnapshot {
  return {
    localStep: 0,
    weights: new Float32Array(d),
    optimizer: { firstMoment: new Float32Array(d), secondMoment: new Float32Array(d), step: 0 },
  }
}

function relativeGap(a: Float32Array, b: Float32Array): number {
  const scale = distance(b, new Float32Array(b.length))
  const gap = distance(a, b)
  return scale === 0 ? (gap === 0 ? 0 : Number.POSITIVE_INFINITY) : gap / scale
}
