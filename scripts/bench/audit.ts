// Audit cost (issue: proof of learning): what recording a proof costs the trainer, what a proof
// takes on disk, and what auditing it costs as a fraction of the audited training, in time and in
// bytes, for Q = 1, 2 and 4 segments; and the reproduction error of honest replays on the same
// backend and across backends (the figures behind the tolerances of SPEC.md 17.6).
//
// Usage: npm run bench:audit [-- --presets tiny,small] [-- --inner-steps H] [-- --json]
// The last stdout line with --json is an object per preset with the figures printed above it.
import '../../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as tf from '@tensorflow/tfjs'
import { compressWithFeedback } from '../../src/codec/error-feedback.js'
import { weightsHash } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { audit } from '../../src/proof/audit.js'
import { StoreProofSource } from '../../src/proof/protocol.js'
import { ProofRecorder, type RoundProof } from '../../src/proof/recorder.js'
import { ProofStore } from '../../src/proof/store.js'
import { pseudoGradient } from '../../src/round/outer.js'
import { deltaRoot } from '../../src/store/delta-store.js'
import { selectBackend } from '../../src/train/backend.js'
import { loadCorpus } from '../../src/train/corpus.js'
import { InnerTrainer } from '../../src/train/inner-loop.js'
import { initialWeights } from '../../src/train/parameters.js'
import { TfjsTrainer } from '../../src/train/tfjs-trainer.js'
import { defaultGenesis, encodeOptionsFor, type ModelPreset, runIdOf } from '../../src/wire/genesis.js'

const args = process.argv.slice(2)
const json = args.includes('--json')
const presetsIndex = args.indexOf('--presets')
const presets = (presetsIndex >= 0 ? args[presetsIndex + 1].split(',') : ['tiny', 'small']) as ModelPreset[]
const stepsIndex = args.indexOf('--inner-steps')
/** --inner-steps H: DiLoCo's H (default: the default genesis's, 20) */
const innerSteps = stepsIndex >= 0 ? Number(args[stepsIndex + 1]) : undefined

await selectBackend('wasm')
const key = await generateKeyPair('Ed25519')
const peer = peerIdBytes(peerIdFromPrivateKey(key))
const results: Record<string, unknown>[] = []

for (const preset of presets) {
  const genesis = defaultGenesis({ preset, dataset: 'moby-dick', salt: 'bench-audit', innerSteps })
  const corpus = loadCorpus(genesis.dataset)
  const runId = runIdOf(genesis)
  const trainer = new InnerTrainer(genesis, corpus)
  const base = initialWeights(genesis.model)

  // Round 0, then round 1 twice from the same state: once plain, once recording its proof.
  const proofs: RoundProof[] = []
  const prove = async (round: number, record: boolean, previousRound: number | null) => {
    const seed = { runId, baseHash: weightsHash(base), peerId: peer, round }
    const recorder = new ProofRecorder()
    const started = performance.now()
    const trained = await trainer.trainRound(
      base,
      seed,
      record
        ? { checkpointEvery: genesis.proof.checkpointInterval, onCheckpoint: recorder.onCheckpoint }
        : {},
    )
    const delta = pseudoGradient(base, trained.weights)
    const encoded = compressWithFeedback(
      delta,
      undefined,
      encodeOptionsFor(genesis.delta, delta.length),
    ).bytes
    const deltaHash = deltaRoot(encoded).root
    if (!record) return { seconds: (performance.now() - started) / 1000, encodedBytes: encoded.length }
    const proof = await recorder.announce(key, {
      genesis,
      seed,
      trainTokens: corpus.train.length,
      backend: 'wasm',
      deltaHash,
      previousRound,
      encodedSize: encoded.length,
      trainLoss: trained.meanLoss,
      sampleCount: trained.samples,
    })
    proofs.push(proof)
    return { seconds: (performance.now() - started) / 1000, encodedBytes: encoded.length }
  }
  await prove(0, true, null)
  const state = trainer.optimizerState()
  const plain = await prove(1, false, 0)
  trainer.setOptimizerState(state)
  const recorded = await prove(1, true, 0)

  const store = new ProofStore({ retention: 10 })
  for (const p of proofs) await store.put(p)
  const proofBytes = proofs[1].checkpoints!.reduce((s, c) => s + c.length, 0) + proofs[1].manifest.length
  const auditor = new InnerTrainer(genesis, corpus)
  const audits: Record<string, number | string>[] = []
  for (const segments of [2, 4]) {
    const source = new StoreProofSource(store)
    const report = await audit(source, {
      genesis,
      data: corpus,
      round: 1,
      segments,
      tolerance: 'auto',
      replayBackend: 'wasm',
      trainer: new TfjsTrainer(auditor, 'wasm'),
    })
    if (report.verdict !== 'valid')
      throw new Error(`honest proof judged ${report.verdict}: ${report.reasons}`)
    audits.push({
      segments,
      seconds: report.seconds,
      timeFraction: report.seconds / plain.seconds,
      replayFraction: report.replaySeconds / plain.seconds,
      stepsFraction: report.stepsReplayed / report.stepsTrained!,
      bytesRead: report.bytesRead,
      bytesFractionOfProof: report.bytesRead / proofBytes,
      bytesPerDeltaByte: report.bytesRead / plain.encodedBytes,
    })
  }
  // Reproduction error of honest replays: every segment, on wasm (same backend) and on cpu.
  const worst: Record<string, number> = {}
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend)
    const replayer = new InnerTrainer(genesis, corpus)
    let max = 0
    for (const round of [0, 1]) {
      const report = await audit(new StoreProofSource(store), {
        genesis,
        data: corpus,
        round,
        segments: 1_000,
        tolerance: 'auto',
        replayBackend: backend,
        trainer: new TfjsTrainer(replayer, backend),
      })
      if (report.verdict !== 'valid') throw new Error(`honest replay on ${backend}: ${report.reasons}`)
      max = Math.max(max, ...report.segments.map((s) => s.relativeDistance))
    }
    replayer.dispose()
    worst[`wasm->${backend}`] = max
  }
  await tf.setBackend('wasm')
  auditor.dispose()
  trainer.dispose()
  const result = {
    preset,
    parameters: base.length,
    innerSteps: genesis.inner.steps,
    checkpointInterval: genesis.proof.checkpointInterval,
    trainSeconds: plain.seconds,
    trainWithProofSeconds: recorded.seconds,
    recordingOverhead: recorded.seconds / plain.seconds - 1,
    proofBytesPerRound: proofBytes,
    deltaBytes: plain.encodedBytes,
    audits,
    worstRelativeReplayDistance: worst,
  }
  results.push(result)
  console.log(
    `${preset} (${base.length.toLocaleString('en')} parameters, H = ${genesis.inner.steps}, checkpoint every ${genesis.proof.checkpointInterval}):`,
  )
  const overhead = `${result.recordingOverhead >= 0 ? '+' : ''}${(100 * result.recordingOverhead).toFixed(0)} %`
  console.log(
    `  training ${plain.seconds.toFixed(2)} s, with proof recording ${recorded.seconds.toFixed(2)} s (${overhead}, noise included); proof ${(proofBytes / 1e6).toFixed(2)} MB per round, delta ${(plain.encodedBytes / 1e6).toFixed(2)} MB`,
  )
  console.log(
    '  | Q | audit time | of training time | replay alone | steps replayed | bytes read | of the proof | per delta byte |',
  )
  console.log('  |---|---|---|---|---|---|---|---|')
  for (const a of audits)
    console.log(
      `  | ${a.segments} | ${(a.seconds as number).toFixed(2)} s | ${(100 * (a.timeFraction as number)).toFixed(1)} % | ${(100 * (a.replayFraction as number)).toFixed(1)} % | ${(100 * (a.stepsFraction as number)).toFixed(0)} % | ${((a.bytesRead as number) / 1e6).toFixed(2)} MB | ${(100 * (a.bytesFractionOfProof as number)).toFixed(0)} % | ${(a.bytesPerDeltaByte as number).toFixed(1)} |`,
    )
  console.log(
    `  honest replay distance / update, worst over every segment of 2 rounds: wasm on wasm ${worst['wasm->wasm'].toExponential(2)}, wasm on cpu ${worst['wasm->cpu'].toExponential(2)}`,
  )
}
if (json) console.log(JSON.stringify(results))
process.exit(0)
