// Training speed (issue: training engine). In one run, on the same model (the default char
// transformer), batch and thread count: tokens/s of dtrain's inner loop on every tfjs backend that
// loads here, of a bare tfjs loop on the same backend (dtrain's loop overhead: proof recording,
// deterministic batches, AdamW written out), and of the same model in PyTorch on 2 threads when
// `python3 -c 'import torch'` works (Debian's python3-torch; it says which BLAS it found).
//
// Usage: npm run bench:train [-- --steps N] [-- --preset tiny|small] [-- --json]
// With --json the last stdout line is {backends: [{backend, tokensPerSec}], torchTokensPerSec,
// loopOverhead, ...}.
import '../../src/polyfill.js'
import { execFileSync } from 'node:child_process'
import { existsSync, readlinkSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs'
import { weightsHash } from '../../src/crypto/hash.js'
import { ProofRecorder } from '../../src/proof/recorder.js'
import { BACKEND_NAMES, type BackendName, selectBackend } from '../../src/train/backend.js'
import { trainingBatch } from '../../src/train/batches.js'
import { loadCorpus } from '../../src/train/corpus.js'
import {
  gpuName,
  modelFlopsUtilisation,
  peakTflopsOf,
  trainingFlopsPerSample,
} from '../../src/train/flops.js'
import { InnerTrainer } from '../../src/train/inner-loop.js'
import { CharTransformer } from '../../src/train/model.js'
import { initialWeights } from '../../src/train/parameters.js'
import { GradientPool } from '../../src/train/worker-pool.js'
import { defaultGenesis, type ModelPreset, runIdOf, transformerOf } from '../../src/wire/genesis.js'

const args = process.argv.slice(2)
const json = args.includes('--json')
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const preset = (option('--preset') ?? 'small') as ModelPreset
const steps = Number(option('--steps') ?? 20)
const genesis = defaultGenesis({ preset, innerSteps: steps, salt: 'bench-train' })
const corpus = loadCorpus(genesis.dataset)
const transformer = transformerOf(genesis, 'bench:train')
const { contextLength: context } = transformer
const { batchSize } = genesis.inner
const tokensPerStep = batchSize * context
const runId = runIdOf(genesis)
const seed = { runId, baseHash: new Uint8Array(32), peerId: new Uint8Array([1]), round: 0 }

/** dtrain's own loop: a round of `steps` inner steps, recording its proof as a node does. */
async function dtrainLoop(pool?: GradientPool): Promise<number> {
  const trainer = new InnerTrainer(genesis, corpus)
  const w0 = initialWeights(genesis.model)
  await trainer.trainRound(w0, { ...seed, baseHash: weightsHash(w0) }, { pool }) // warm-up
  const recorder = new ProofRecorder()
  const started = performance.now()
  await trainer.trainRound(
    w0,
    { ...seed, round: 1, baseHash: weightsHash(w0) },
    { checkpointEvery: genesis.proof.checkpointInterval, onCheckpoint: recorder.onCheckpoint, pool },
  )
  const seconds = (performance.now() - started) / 1000
  trainer.dispose()
  return seconds
}

/** A bare tfjs loop on the same model and batches: tf.train.adam minimising the loss. */
function bareLoop(): number {
  const model = new CharTransformer(transformer)
  model.setWeights(initialWeights(genesis.model))
  const optimizer = tf.train.adam(genesis.inner.optimizer.lr, 0.9, 0.95, 1e-8)
  const batches = Array.from({ length: steps + 2 }, (_, s) =>
    trainingBatch(corpus.train, seed, s, context, batchSize),
  )
  const step = (s: number) => {
    const loss = optimizer.minimize(
      () => model.loss(batches[s].inputs, batches[s].targets),
      true,
      model.variables,
    )
    loss?.dataSync()
    loss?.dispose()
  }
  step(0)
  step(1)
  const started = performance.now()
  for (let s = 2; s < steps + 2; s++) step(s)
  const seconds = (performance.now() - started) / 1000
  optimizer.dispose()
  model.dispose()
  return seconds
}

/** PyTorch on the same model: the median of three runs (this machine is shared and noisy). */
function torchReference(): { tokensPerSec: number | null; detail: string } {
  const runs = [torchRun(), torchRun(), torchRun()]
  const measured = runs
    .filter((r) => r.tokensPerSec !== null)
    .sort((a, b) => a.tokensPerSec! - b.tokensPerSec!)
  if (measured.length === 0) return runs[0]
  const median = measured[Math.floor(measured.length / 2)]
  return {
    tokensPerSec: median.tokensPerSec,
    detail: `${median.detail}; median of ${measured.length} runs: ${measured.map((r) => r.tokensPerSec!.toFixed(0)).join(', ')} tokens/s`,
  }
}

function torchRun(): { tokensPerSec: number | null; detail: string } {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
  const script = fileURLToPath(new URL('../../../scripts/bench/train_torch.py', import.meta.url))
  const m = transformer
  try {
    const out = execFileSync(
      python,
      [
        script,
        JSON.stringify({
          vocab: m.vocabSize,
          context,
          dModel: m.dModel,
          heads: m.heads,
          layers: m.layers,
          mlp: m.mlpHidden,
          batch: batchSize,
          steps: Math.max(steps, 30),
          threads: 2,
        }),
      ],
      { encoding: 'utf8' },
    )
    const result = JSON.parse(out.trim().split('\n').at(-1)!)
    if (result.skipped) return { tokensPerSec: null, detail: `PyTorch skipped: ${result.skipped}` }
    let blas = result.blas
    try {
      blas = `${result.blas} interface, ${readlinkSync('/etc/alternatives/libblas.so.3-x86_64-linux-gnu')}`
    } catch {}
    return {
      tokensPerSec: result.tokensPerSec,
      detail: `PyTorch ${result.torch}, ${result.threads} threads, BLAS ${blas}, ${result.parameters} parameters`,
    }
  } catch (err) {
    return { tokensPerSec: null, detail: `PyTorch skipped: ${(err as Error).message.split('\n')[0]}` }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

const backends: Array<{ backend: string; tokensPerSec: number; bareTokensPerSec: number }> = []
const unavailable: Array<{ backend: string; reason: string }> = []
const first = await selectBackend('auto', { tfjsOnly: true })
for (const skipped of first.skipped) unavailable.push({ backend: skipped.backend, reason: skipped.reason })
const candidates = BACKEND_NAMES.filter((b): b is Exclude<BackendName, 'auto'> => b !== 'auto')
for (const backend of candidates) {
  if (unavailable.some((u) => u.backend === backend)) continue
  const tfName = backend === 'tensorflow-gpu' ? 'tensorflow' : backend
  if (!(await tf.setBackend(tfName).catch(() => false))) {
    unavailable.push({ backend, reason: 'did not initialise' })
    continue
  }
  // Interleaved repeats and medians: this machine is shared and its timings are noisy.
  const repeats = backend === 'wasm' ? 3 : 1
  const dtrainTimes: number[] = []
  const bareTimes: number[] = []
  for (let r = 0; r < repeats; r++) {
    dtrainTimes.push(await dtrainLoop())
    bareTimes.push(bareLoop())
  }
  backends.push({
    backend,
    tokensPerSec: (steps * tokensPerStep) / median(dtrainTimes),
    bareTokensPerSec: (steps * tokensPerStep) / median(bareTimes),
  })
  if (backend === 'wasm') {
    // Both cores: the step's micro-batches in worker threads (bit-identical, test/unit/model.test.ts).
    const workers = Math.min(genesis.inner.microBatches, availableParallelism())
    const pool = await GradientPool.create(genesis.model, 'wasm', workers)
    const times: number[] = []
    for (let r = 0; r < repeats; r++) times.push(await dtrainLoop(pool))
    await pool.close()
    backends.push({
      backend: `wasm x ${workers} workers`,
      tokensPerSec: (steps * tokensPerStep) / median(times),
      bareTokensPerSec: Number.NaN,
    })
  }
}
const torch = torchReference()
const main = backends.find((b) => b.backend === first.backend) ?? backends[0]
const loopOverhead = main.bareTokensPerSec / main.tokensPerSec - 1

console.log(
  `${preset} char transformer (${initialWeights(genesis.model).length.toLocaleString('en')} parameters), batch ${batchSize} x context ${context}, ${steps} steps per measurement`,
)
// Model FLOPs (src/train/flops.ts): what each row achieves, and the MFU on a GPU backend.
const flopsPerToken = trainingFlopsPerSample(transformer) / context
const gflops = (tokensPerSec: number) => ((tokensPerSec * flopsPerToken) / 1e9).toFixed(2)
console.log('| backend | dtrain tokens/s | bare tfjs tokens/s | dtrain vs PyTorch | model GFLOPS |')
console.log('|---|---|---|---|---|')
for (const b of backends)
  console.log(
    `| ${b.backend} | ${b.tokensPerSec.toFixed(0)} | ${Number.isNaN(b.bareTokensPerSec) ? '' : b.bareTokensPerSec.toFixed(0)} | ${torch.tokensPerSec ? `${(b.tokensPerSec / torch.tokensPerSec).toFixed(3)}x` : 'n/a'} | ${gflops(b.tokensPerSec)} |`,
  )
console.log(
  `| PyTorch (CPU) | ${torch.tokensPerSec?.toFixed(0) ?? 'skipped'} | | 1x | ${torch.tokensPerSec ? gflops(torch.tokensPerSec) : ''} |`,
)
console.log(`model FLOPs per training token: ${flopsPerToken.toLocaleString('en')} (forward and backward)`)
const gpuRow = backends.find((b) => b.backend === 'tensorflow-gpu')
const gpu = gpuRow ? gpuName() : undefined
const peak = gpu ? peakTflopsOf(gpu) : undefined
const mfu =
  gpuRow && peak
    ? modelFlopsUtilisation(gpuRow.tokensPerSec / context, trainingFlopsPerSample(transformer), peak)
    : null
if (gpuRow)
  console.log(
    mfu === null
      ? `MFU not computed: the peak of GPU "${gpu ?? 'unknown'}" is not in src/train/flops.ts`
      : `MFU on ${gpu}: ${(100 * mfu).toFixed(2)} % of ${peak} TFLOPS`,
  )
console.log(torch.detail)
for (const u of unavailable) console.log(`not available: ${u.backend} (${u.reason.split('\n')[0]})`)
console.log(
  `dtrain loop overhead against the bare tfjs loop on ${main.backend}: ${(100 * loopOverhead).toFixed(1)} % (proof recording, deterministic batches, AdamW with clipping written out)`,
)
if (json)
  console.log(
    JSON.stringify({
      backends: backends.map(({ backend, tokensPerSec }) => ({ backend, tokensPerSec })),
      torchTokensPerSec: torch.tokensPerSec,
      loopOverhead,
      mfu,
      flopsPerToken,
      preset,
      steps,
      torch: torch.detail,
      bare: backends
        .filter((b) => !Number.isNaN(b.bareTokensPerSec))
        .map(({ backend, bareTokensPerSec }) => ({ backend, tokensPerSec: bareTokensPerSec })),
      unavailable,
    }),
  )
process.exit(0)
