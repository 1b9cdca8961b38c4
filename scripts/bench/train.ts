// Training speed (issues: training engine, PyTorch trainer). In one run, for each preset and each
// backend that loads here, on the same model, batch and threads:
// - tokens/s of dtrain's trainer (the trainer seam: deterministic batches from the round's seed,
//   AdamW written out; torch: the worker process and its pipe),
// - the same with proof-of-learning recording at the genesis's checkpoint interval (what a node
//   does),
// - a bare loop on the same model: tfjs's own optimizer (tfjs backends), or torch.optim.AdamW in
//   a plain PyTorch loop over the worker's model code (torch backends, train_torch.py).
// Overheads are ratios measured side by side (medians of interleaved repeats), because these
// machines are shared and noisy. A torch row is the headline: dtrain's torch trainer against a
// bare PyTorch loop (target: at most 5 % overhead), and torch against tfjs-wasm.
//
// Usage: npm run bench:train [-- --presets small,gpt-10m] [-- --backends torch-cpu,wasm]
//        [-- --steps N] [-- --threads N] [-- --precision bf16] [-- --repeats N] [-- --no-proofs] [-- --json]
// With --json the last stdout line is {rows: [...], torchTrainerTokensPerSec,
// torchBareTokensPerSec, torchOverhead, backends, torchTokensPerSec, loopOverhead, mfu, ...}.
import '../../src/polyfill.js'
import { execFile } from 'node:child_process'
import { readlinkSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import * as tf from '@tensorflow/tfjs'
import { weightsHash } from '../../src/crypto/hash.js'
import { ProofRecorder } from '../../src/proof/recorder.js'
import { type BackendChoice, selectBackend } from '../../src/train/backend.js'
import { type ConcreteBackend, isTorchBackend } from '../../src/train/backend-names.js'
import { createTrainer, tfjsRefusal } from '../../src/train/create-trainer.js'
import { type Dataset, loadDataset } from '../../src/train/dataset.js'
import {
  type Arithmetic,
  gpuName,
  modelFlopsUtilisation,
  peakTflopsOf,
  trainingFlopsPerSample,
} from '../../src/train/flops.js'
import { trainingMemory } from '../../src/train/memory.js'
import { createModel } from '../../src/train/model.js'
import { initialWeights, parameterCount, parameterLayout } from '../../src/train/parameters.js'
import { TorchTrainer } from '../../src/train/torch-trainer.js'
import { stepBatch, type Trainer } from '../../src/train/trainer.js'
import {
  defaultGenesis,
  type Genesis,
  MODEL_PRESET_NAMES,
  type ModelPreset,
  runIdOf,
} from '../../src/wire/genesis.js'

const args = process.argv.slice(2)
const json = args.includes('--json')
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const list = (name: string) => option(name)?.split(',').filter(Boolean)
const presets = (list('--presets') ?? list('--preset') ?? ['small', 'gpt-10m']) as ModelPreset[]
for (const p of presets)
  if (!MODEL_PRESET_NAMES.includes(p))
    throw new Error(`--presets: unknown preset ${p} (${MODEL_PRESET_NAMES.join(', ')})`)
const threads = Number(option('--threads') ?? availableParallelism())
const precision = option('--precision') === 'bf16' ? 'bf16' : 'fp32'
const repeats = Number(option('--repeats') ?? 3)
/** skip the run with proof recording (a 124 M model's checkpoints are 1.5 GB each) */
const withProofs = !args.includes('--no-proofs')
const BACKENDS: ConcreteBackend[] = ['torch-cuda', 'tensorflow-gpu', 'torch-cpu', 'tensorflow', 'wasm', 'cpu']
const requestedBackends = list('--backends') as ConcreteBackend[] | undefined
/** Steps per measurement: enough to time, few enough for a 2-core machine. */
const stepsFor = (preset: ModelPreset, backend: string) =>
  Number(
    option('--steps') ??
      (backend === 'torch-cuda' ? 30 : preset.startsWith('gpt-1') || preset === 'medium' ? 4 : 20),
  )
/** Larger models than this many training FLOPs per step are not run on a CPU unless named. */
const CPU_STEP_FLOPS_LIMIT = 2e12
/** A measurement estimated to take longer is skipped (and said so) unless asked for by name. */
const MAX_MEASURE_SECONDS = 240

interface Row {
  preset: ModelPreset
  parameters: number
  backend: string
  steps: number
  tokensPerStep: number
  /** dtrain's trainer, without proof recording */
  trainerTokensPerSec: number
  /** dtrain's trainer recording proofs at the genesis's checkpoint interval */
  provenTokensPerSec: number | null
  checkpointInterval: number
  bareTokensPerSec: number | null
  /** bare / trainer - 1 */
  overhead: number | null
  modelGflops: number
  mfu: number | null
  peakMemoryBytes: number | null
  note?: string
}

const rows: Row[] = []
const unavailable: Array<{ backend: string; reason: string }> = []

function genesisOf(preset: ModelPreset, steps: number): Genesis {
  return defaultGenesis({ preset, innerSteps: steps, salt: 'bench-train', precision })
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/**
 * Tokens/s of one round on `trainer`, from the end of its first step to the end of its last: the
 * first step (and the weights' upload) is warm-up.
 */
async function timedRound(
  trainer: Trainer,
  genesis: Genesis,
  data: Dataset,
  withProof: boolean,
): Promise<number> {
  const w0 = initialWeights(genesis.model)
  const seed = { runId: runIdOf(genesis), baseHash: weightsHash(w0), peerId: new Uint8Array([1]), round: 1 }
  const ends: number[] = []
  const recorder = new ProofRecorder()
  await trainer.trainRound(w0, seed, {
    yieldEvery: async () => {
      ends.push(performance.now())
    },
    ...(withProof
      ? { checkpointEvery: genesis.proof.checkpointInterval, onCheckpoint: recorder.onCheckpoint }
      : {}),
  })
  const tokensPerStep = genesis.inner.batchSize * Math.max(1, data.span)
  return ((ends.length - 1) * tokensPerStep) / ((ends.at(-1)! - ends[0]) / 1000)
}

/** A bare tfjs loop on the same model and batches: tfjs's Adam minimising the loss. */
function bareTfjs(genesis: Genesis, data: Dataset, steps: number): number {
  const model = createModel(genesis.model)
  model.setWeights(initialWeights(genesis.model))
  const optimizer = tf.train.adam(genesis.inner.optimizer.lr, 0.9, 0.95, 1e-8)
  const seed = {
    runId: runIdOf(genesis),
    baseHash: new Uint8Array(32),
    peerId: new Uint8Array([1]),
    round: 0,
  }
  const batches = Array.from({ length: steps + 1 }, (_, s) => stepBatch(genesis, data, seed, s))
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
  const started = performance.now()
  for (let s = 1; s <= steps; s++) step(s)
  const seconds = (performance.now() - started) / 1000
  optimizer.dispose()
  model.dispose()
  return (steps * genesis.inner.batchSize * Math.max(1, data.span)) / seconds
}

/** The bare PyTorch loop (train_torch.py) on the same model, batch, micro-batches and threads. */
async function bareTorch(
  genesis: Genesis,
  choice: BackendChoice,
  steps: number,
): Promise<{ tokensPerSec: number; detail: string; peakMemory: number | null }> {
  const script = fileURLToPath(new URL('../../../scripts/bench/train_torch.py', import.meta.url))
  const config = {
    model: genesis.model,
    layout: parameterLayout(genesis.model),
    optimizer: genesis.inner.optimizer,
    microBatches: genesis.inner.microBatches,
    device: choice.backend === 'torch-cuda' ? 'cuda' : 'cpu',
    threads,
    precision: choice.backend === 'torch-cuda' ? precision : 'fp32',
    batch: genesis.inner.batchSize,
    steps,
  }
  // The worker's environment (torch-worker.ts): OpenMP threads that sleep between calls. With
  // spinning threads (OpenMP's default) the same loop ran 2.6x slower here on 2 cores.
  const { stdout } = await promisify(execFile)(choice.torch!.python, [script, JSON.stringify(config)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    env: { OMP_WAIT_POLICY: 'PASSIVE', ...process.env },
  })
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!)
  if (result.skipped) throw new Error(result.skipped)
  let blas = result.blas
  try {
    blas = `${result.blas} interface, ${readlinkSync('/etc/alternatives/libblas.so.3-x86_64-linux-gnu')}`
  } catch {}
  return {
    tokensPerSec: result.tokensPerSec,
    detail: `PyTorch ${result.torch} on ${result.device}, ${result.threads} threads, BLAS ${blas}`,
    peakMemory: result.peakMemory,
  }
}

const gpu = gpuName()
const arithmeticOf = (backend: string): Arithmetic =>
  backend === 'tensorflow-gpu' ? 'tf32' : precision === 'bf16' ? 'bf16' : 'fp32'
let torchDetail = 'PyTorch: not available'

// Which backends load here: torch by probing Python, tfjs by loading each (tfjs backends are
// process-global: the bench switches among those that loaded with tf.setBackend).
const choices = new Map<string, BackendChoice>()
await selectBackend('auto', { tfjsOnly: true }).then(
  (c) => {
    for (const s of c.skipped) unavailable.push({ backend: s.backend, reason: s.reason })
    choices.set(c.backend, c)
  },
  (err: Error) => unavailable.push({ backend: 'tfjs', reason: err.message }),
)
for (const backend of BACKENDS) {
  if (requestedBackends && !requestedBackends.includes(backend)) continue
  if (choices.has(backend) || unavailable.some((u) => u.backend === backend)) continue
  if (isTorchBackend(backend)) {
    await selectBackend(backend).then(
      (c) => choices.set(backend, c),
      (err: Error) => unavailable.push({ backend, reason: err.message.split('; install')[0] }),
    )
  } else if (await tf.setBackend(backend === 'tensorflow-gpu' ? 'tensorflow' : backend).catch(() => false)) {
    choices.set(backend, { backend, tfBackend: tf.getBackend(), skipped: [] })
  } else unavailable.push({ backend, reason: 'did not initialise' })
}
for (const backend of [...choices.keys()])
  if (requestedBackends && !requestedBackends.includes(backend as ConcreteBackend)) choices.delete(backend)

for (const preset of presets) {
  for (const [backend, choice] of choices) {
    const steps = stepsFor(preset, backend)
    const genesis = genesisOf(preset, steps)
    const parameters = parameterCount(genesis.model)
    const stepFlops = trainingFlopsPerSample(genesis.model) * genesis.inner.batchSize
    const named = list('--presets') !== undefined || list('--preset') !== undefined
    const skip = (reason: string) => unavailable.push({ backend: `${backend} (${preset})`, reason })
    if (!isTorchBackend(backend) && tfjsRefusal(genesis.model)) {
      skip(tfjsRefusal(genesis.model)!.split(':')[0])
      continue
    }
    if (
      backend !== 'torch-cuda' &&
      backend !== 'tensorflow-gpu' &&
      stepFlops > CPU_STEP_FLOPS_LIMIT &&
      !named
    ) {
      skip(
        `${(stepFlops / 1e12).toFixed(1)} TFLOP per step is minutes per step on a CPU; name it with --presets to measure`,
      )
      continue
    }
    // A backend measured on an earlier preset tells how long this one would take: skip a
    // measurement of more than MAX_MEASURE_SECONDS unless its preset and backend were named.
    const earlier = rows.find((r) => r.backend === backend)
    if (earlier && !(named && requestedBackends)) {
      const seconds = ((2 * repeats + 1) * steps * stepFlops) / (earlier.modelGflops * 1e9)
      if (seconds > MAX_MEASURE_SECONDS) {
        skip(
          `about ${Math.round(seconds / 60)} min at the ${earlier.modelGflops.toFixed(1)} model GFLOPS it reached on ${earlier.preset}; measure it with --presets ${preset} --backends ${backend}`,
        )
        continue
      }
    }
    const data = loadDataset(genesis)
    if (!isTorchBackend(backend)) await tf.setBackend(choice.tfBackend!)
    const trainer = await createTrainer(genesis, data, choice, { threads })
    const tokensPerStep = genesis.inner.batchSize * Math.max(1, data.span)
    // Interleaved repeats and medians: this machine is shared and its timings are noisy.
    const trainerRuns: number[] = []
    const bareRuns: number[] = []
    let peakMemory: number | null = null
    for (let r = 0; r < repeats; r++) {
      trainerRuns.push(await timedRound(trainer, genesis, data, false))
      if (isTorchBackend(backend)) {
        const bare = await bareTorch(genesis, choice, steps)
        bareRuns.push(bare.tokensPerSec)
        torchDetail = bare.detail
        peakMemory = bare.peakMemory
      } else bareRuns.push(bareTfjs(genesis, data, steps))
    }
    const proven = withProofs ? await timedRound(trainer, genesis, data, true) : null
    if (trainer instanceof TorchTrainer && backend === 'torch-cuda')
      peakMemory = (await trainer.memoryReport()).peak ?? peakMemory
    await trainer.close()
    const trainerTokensPerSec = median(trainerRuns)
    const bareTokensPerSec = median(bareRuns)
    const peak =
      gpu && (backend === 'torch-cuda' || backend === 'tensorflow-gpu')
        ? peakTflopsOf(gpu, arithmeticOf(backend))
        : undefined
    const samplesPerSec = trainerTokensPerSec / Math.max(1, data.span)
    rows.push({
      preset,
      parameters,
      backend,
      steps,
      tokensPerStep,
      trainerTokensPerSec,
      provenTokensPerSec: proven,
      checkpointInterval: genesis.proof.checkpointInterval,
      bareTokensPerSec,
      overhead: bareTokensPerSec / trainerTokensPerSec - 1,
      modelGflops: (samplesPerSec * trainingFlopsPerSample(genesis.model)) / 1e9,
      mfu: peak ? modelFlopsUtilisation(samplesPerSec, trainingFlopsPerSample(genesis.model), peak) : null,
      peakMemoryBytes: peakMemory,
    })
    if (backend === 'wasm') {
      // Both cores: the step's micro-batches in worker threads (bit-identical, test/unit/model.test.ts).
      const workers = Math.min(genesis.inner.microBatches, availableParallelism())
      const pooled = await createTrainer(genesis, data, choice, { workers })
      const runs: number[] = []
      for (let r = 0; r < repeats; r++) runs.push(await timedRound(pooled, genesis, data, false))
      await pooled.close()
      const tokensPerSec = median(runs)
      rows.push({
        ...rows.at(-1)!,
        backend: `wasm x ${workers} workers`,
        trainerTokensPerSec: tokensPerSec,
        provenTokensPerSec: null,
        bareTokensPerSec: null,
        overhead: null,
        modelGflops: ((tokensPerSec / Math.max(1, data.span)) * trainingFlopsPerSample(genesis.model)) / 1e9,
      })
    }
    process.stderr.write(`measured ${preset} on ${backend}\n`)
  }
}

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined ? '' : n.toFixed(digits)
const pct = (n: number | null | undefined) =>
  n === null || n === undefined ? '' : `${(100 * n).toFixed(1)} %`
console.log(
  `threads ${threads}, precision ${precision}, medians of ${repeats} interleaved runs${gpu ? `, GPU ${gpu}` : ''}`,
)
console.log(
  '| preset | parameters | backend | dtrain tokens/s | with proofs (every k steps) | bare loop tokens/s | dtrain overhead vs bare | vs torch-cpu | vs wasm | model GFLOPS | MFU |',
)
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const of = (backend: string) =>
    rows.find((x) => x.preset === r.preset && x.backend === backend)?.trainerTokensPerSec
  const ratio = (base?: number) => (base ? `${(r.trainerTokensPerSec / base).toFixed(2)}x` : '')
  console.log(
    `| ${r.preset} | ${(r.parameters / 1e6).toFixed(2)} M | ${r.backend} | ${fmt(r.trainerTokensPerSec)} | ${r.provenTokensPerSec === null ? '' : `${fmt(r.provenTokensPerSec)} (k = ${r.checkpointInterval})`} | ${fmt(r.bareTokensPerSec)} | ${pct(r.overhead)} | ${ratio(of('torch-cpu'))} | ${ratio(of('wasm'))} | ${fmt(r.modelGflops, 2)} | ${pct(r.mfu)} |`,
  )
}
for (const r of rows.filter((x) => x.peakMemoryBytes)) {
  const g = genesisOf(r.preset, 1)
  const estimate = trainingMemory(g.model, g.inner.batchSize / g.inner.microBatches, precision).totalBytes
  console.log(
    `${r.preset} on ${r.backend}: peak device memory ${(r.peakMemoryBytes! / 1e9).toFixed(2)} GB (preflight estimate ${(estimate / 1e9).toFixed(2)} GB)`,
  )
}
console.log(torchDetail)
for (const u of unavailable) console.log(`not measured: ${u.backend} (${u.reason.split('\n')[0]})`)
console.log(
  'bare loops: tfjs Adam via optimizer.minimize; PyTorch torch.optim.AdamW with clip_grad_norm_ over the worker\'s own model code (train_torch.py). "with proofs": the trainer recording SPEC.md 17.1 checkpoints at the genesis\'s default interval, as a node does',
)
const torchRow = rows.find((r) => r.preset === presets[0] && isTorchBackend(r.backend))
const tfjsMain = rows.find((r) => r.preset === presets[0] && !isTorchBackend(r.backend))
if (json)
  console.log(
    JSON.stringify({
      rows,
      torchTrainerTokensPerSec: torchRow?.trainerTokensPerSec ?? null,
      torchBareTokensPerSec: torchRow?.bareTokensPerSec ?? null,
      torchOverhead: torchRow?.overhead ?? null,
      // the fields of the tfjs-era contract, on the first preset
      backends: rows
        .filter((r) => r.preset === presets[0])
        .map(({ backend, trainerTokensPerSec }) => ({ backend, tokensPerSec: trainerTokensPerSec })),
      torchTokensPerSec: torchRow?.bareTokensPerSec ?? null,
      loopOverhead: tfjsMain?.overhead ?? null,
      mfu: rows.find((r) => r.mfu !== null)?.mfu ?? null,
      flopsPerToken:
        trainingFlopsPerSample(genesisOf(presets[0], 1).model) /
        Math.max(1, loadDataset(genesisOf(presets[0], 1)).span),
      preset: presets[0],
      presets,
      torch: torchDetail,
      unavailable,
    }),
  )
process.exit(0)
