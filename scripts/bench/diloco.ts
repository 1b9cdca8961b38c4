// The headline benchmark (issue: DiLoCo against synchronous training). At an equal number of
// training samples (S worker-steps of one batch each), on the char-level language model and the
// built-in corpus:
//   (a) one node training alone: S steps;
//   (b) synchronous data parallelism: n workers, each step every worker's gradient goes over
//       dtrain's transport (gossip announcement + chunk protocol, fp32 in dtrain's delta format)
//       to every other worker, and all apply the mean with AdamW: S / n steps;
//   (c) dtrain DiLoCo: n workers, each trains H AdamW steps alone, the encoded pseudo-gradients
//       (with error feedback) go over the same transport, dtrain's aggregation rule and the outer
//       Nesterov step follow: S / (n H) rounds.
// The n workers are simulated one after the other in this process (2 cores), but every exchange
// really crosses n libp2p hosts connected pairwise through user-space links that count bytes.
// Wall time is modelled for n machines in parallel from measured parts: per round, the slowest
// worker's compute, the measured exchange, the measured aggregation and outer step.
// Then a WAN model: the same exchanges through links limited to 1 Gbit/s and 100 Mbit/s per
// uplink with 50 ms one-way latency, composed with the measured compute per step into wall time
// per round of H steps for (b) and (c).
//
// Usage: npm run bench:diloco [-- --quick] [-- --json] [-- --preset tiny|small] [-- --samples S]
//        [-- --nodes 4,8] [-- --inner-steps 50,100,500] [-- --encodings fp32,int8-block,...]
//        [-- --no-wan] [-- --out FILE] [-- --section LABEL] [-- --rules mean,median,...]
//   --quick: tiny model, n = 4, H = 50, int8 deltas, S = 1200 (6 rounds); prints only.
//   default: writes its section of BENCHMARKS.md (or --out), `diloco <preset>`, or with --section
//   `diloco <preset> <label>` (a run with other settings beside the grid, e.g. a longer one).
//   --rules: every DiLoCo run also with each of these aggregation rules (parameter-free ones, or
//   `centered-clipping` with tau auto); without it, one run of the first encoding with the mean.
//   --topk-fraction F: top-k and sparse-2bit runs send this share (of each chunk) instead.
import '../../src/polyfill.js'
import { aggregate } from '../../src/aggregate/rules.js'
import { type DeltaEncodingName, decodeDelta, encodeDelta } from '../../src/codec/delta.js'
import { compressWithFeedback } from '../../src/codec/error-feedback.js'
import { sha256 } from '../../src/crypto/hash.js'
import { nesterovStep, type OuterState, pseudoGradient } from '../../src/round/outer.js'
import { selectBackend } from '../../src/train/backend.js'
import { type BatchSeed, evalOffsets, trainingBatch } from '../../src/train/batches.js'
import { loadCorpus } from '../../src/train/corpus.js'
import { InnerTrainer, meanGradient } from '../../src/train/inner-loop.js'
import { initialWeights } from '../../src/train/parameters.js'
import {
  defaultGenesis,
  encodeOptionsFor,
  type Genesis,
  type ModelPreset,
  runIdOf,
  transformerOf,
} from '../../src/wire/genesis.js'
import { ExchangeFabric } from './exchange-fabric.js'
import { writeSection } from './report.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const json = args.includes('--json')
const wan = !args.includes('--no-wan')
const value = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const numbers = (name: string, fallback: number[]): number[] =>
  value(name)?.split(',').map(Number) ?? fallback
const preset = (value('--preset') ?? (quick ? 'tiny' : 'small')) as ModelPreset
const NODES = numbers('--nodes', quick ? [4] : [4, 8])
const INNER_STEPS = numbers('--inner-steps', quick ? [50] : [50, 100, 500])
const ENCODINGS = (value('--encodings')?.split(',') ??
  (quick ? ['int8-block'] : ['fp32', 'int8-block', 'int4-block', 'top-k'])) as DeltaEncodingName[]
const SAMPLES = Number(value('--samples') ?? (quick ? 1200 : 8000))
const RULES = value('--rules')?.split(',')
/** --topk-fraction: the genesis delta.topkFraction of top-k and sparse-2bit runs, instead of its default */
const TOPK_FRACTION = value('--topk-fraction') === undefined ? undefined : Number(value('--topk-fraction'))
const EVAL_WINDOWS = Number(value('--eval-windows') ?? 256)
const outFile = value('--out') ?? (quick ? undefined : 'BENCHMARKS.md')
const label = value('--section')
const section = label ? `diloco ${preset} ${label}` : `diloco ${preset}`
const SALT = 'diloco-bench'
const log = (line: string) => process.stderr.write(`${line}\n`)

for (const n of NODES) {
  for (const h of INNER_STEPS) {
    if (SAMPLES % (n * h) !== 0)
      throw new Error(`--samples ${SAMPLES} must be a multiple of nodes x H (${n} x ${h}) for equal samples`)
  }
}

// One run id, corpus, initial weights and held-out windows for every run, so that the runs differ
// only in how the same number of samples is used.
const reference = defaultGenesis({ preset, salt: SALT })
const runId = runIdOf(reference)
const corpus = loadCorpus(reference.dataset)
const context = transformerOf(reference, 'bench:diloco').contextLength
const batchSize = reference.inner.batchSize
const heldOut = evalOffsets(runId, corpus.heldOut.length, context, EVAL_WINDOWS)
const start = initialWeights(reference.model)
const zeroHash = new Uint8Array(32)
/** Virtual worker k's batch seed in round r: runs of every kind draw the same kind of samples. */
const seedOf = (worker: number, round: number): BatchSeed => ({
  runId,
  baseHash: zeroHash,
  peerId: new Uint8Array([worker]),
  round,
})
const SEED_STEPS = 50 // steps per seed for runs without rounds

interface RunResult {
  label: string
  kind: 'single' | 'sync' | 'diloco'
  nodes: number
  innerSteps: number | null
  encoding: string | null
  /** the aggregation rule of a DiLoCo run */
  rule: string | null
  rounds: number
  evalLoss: number
  bytesPerNode: number
  /** bytes of one payload each node publishes per exchange */
  payloadBytes: number
  exchanges: number
  wallSeconds: number
  computeSeconds: number
  exchangeSeconds: number
  /** median compute per optimizer step of one worker (gradient and update) */
  stepSeconds: number
  aggregateSeconds: number
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

function genesisFor(innerSteps: number, nodes: number, plannedRounds: number, encoding?: DeltaEncodingName) {
  return defaultGenesis({
    preset,
    salt: SALT,
    innerSteps,
    expectedPeers: nodes,
    plannedRounds,
    encoding,
    evalWindows: EVAL_WINDOWS,
  })
}

/** An aggregation rule for --rules, by name, with its parameter-free defaults. */
function ruleNamed(name: string): Genesis['aggregation'] {
  switch (name) {
    case 'mean':
    case 'median':
      return { rule: name }
    case 'centered-clipping':
      return { rule: 'centered-clipping', tau: 'auto', iterations: 3 }
    case 'trimmed-mean':
      return { rule: 'trimmed-mean', trimFraction: 0.2 }
    default:
      throw new Error(`--rules: ${name} is not one of mean, median, trimmed-mean, centered-clipping`)
  }
}

function evaluate(trainer: InnerTrainer, weights: Float32Array): number {
  return trainer.evaluate(weights, heldOut, 32)
}

async function runSingle(): Promise<RunResult> {
  const genesis = genesisFor(SEED_STEPS, 1, SAMPLES / SEED_STEPS)
  const trainer = new InnerTrainer(genesis, corpus)
  let weights = start
  let seconds = 0
  for (let r = 0; r < SAMPLES / SEED_STEPS; r++) {
    const result = await trainer.trainRound(weights, seedOf(0, r))
    weights = result.weights
    seconds += result.seconds
  }
  const evalLoss = evaluate(trainer, weights)
  trainer.dispose()
  return {
    label: '(a) one node alone',
    kind: 'single',
    nodes: 1,
    innerSteps: null,
    encoding: null,
    rule: null,
    rounds: SAMPLES,
    evalLoss,
    bytesPerNode: 0,
    payloadBytes: 0,
    exchanges: 0,
    wallSeconds: seconds,
    computeSeconds: seconds,
    exchangeSeconds: 0,
    stepSeconds: seconds / SAMPLES,
    aggregateSeconds: 0,
  }
}

async function runSync(nodes: number): Promise<RunResult> {
  const steps = SAMPLES / nodes
  const genesis = genesisFor(steps, nodes, 1)
  const trainer = new InnerTrainer(genesis, corpus)
  trainer.model.setWeights(start)
  const fabric = await ExchangeFabric.start({ nodes, uplinkBytesPerSecond: Infinity, latencyMs: 0 })
  let compute = 0
  let exchange = 0
  let reduce = 0
  let payloadBytes = 0
  const stepTimes: number[] = []
  try {
    for (let step = 0; step < steps; step++) {
      const round = Math.floor(step / SEED_STEPS)
      const payloads: Uint8Array[] = []
      let slowest = 0
      for (let k = 0; k < nodes; k++) {
        const t0 = performance.now()
        const batch = trainingBatch(corpus.train, seedOf(k, round), step % SEED_STEPS, context, batchSize)
        const { gradient } = trainer.gradient(batch)
        payloads.push(encodeDelta(gradient, { encoding: 'fp32' }))
        slowest = Math.max(slowest, (performance.now() - t0) / 1000)
      }
      payloadBytes = payloads[0].length
      const { received, seconds } = await fabric.exchange(payloads)
      const t1 = performance.now()
      // Every worker averages the same verified bytes in sender order; worker 0 stands for all.
      const mean = meanGradient(
        received[0].map((bytes) => ({
          loss: 0,
          gradient: decodeDelta(bytes, trainer.parameterCount).values,
        })),
      )
      trainer.applyGradient(mean.gradient)
      const applySeconds = (performance.now() - t1) / 1000
      compute += slowest
      exchange += seconds
      reduce += applySeconds
      stepTimes.push(slowest + applySeconds)
    }
    const weights = trainer.model.getWeights()
    const bytes = fabric.bytesSent()
    const evalLoss = evaluate(trainer, weights)
    return {
      label: `(b) synchronous, n = ${nodes}`,
      kind: 'sync',
      nodes,
      innerSteps: 1,
      encoding: 'fp32',
      rule: 'mean',
      rounds: steps,
      evalLoss,
      bytesPerNode: bytes.reduce((a, b) => a + b, 0) / nodes,
      payloadBytes,
      exchanges: steps,
      wallSeconds: compute + exchange + reduce,
      computeSeconds: compute + reduce,
      exchangeSeconds: exchange,
      stepSeconds: median(stepTimes),
      aggregateSeconds: reduce,
    }
  } finally {
    trainer.dispose()
    await fabric.stop()
  }
}

async function runDiloco(
  nodes: number,
  innerSteps: number,
  encoding: DeltaEncodingName,
  rule?: Genesis['aggregation'],
): Promise<RunResult> {
  const rounds = SAMPLES / (nodes * innerSteps)
  const defaults: Genesis = genesisFor(innerSteps, nodes, rounds, encoding)
  const base: Genesis =
    TOPK_FRACTION === undefined
      ? defaults
      : { ...defaults, delta: { ...defaults.delta, topkFraction: TOPK_FRACTION } }
  const genesis: Genesis = rule ? { ...base, aggregation: rule } : base
  const trainers = Array.from({ length: nodes }, () => new InnerTrainer(genesis, corpus))
  const count = trainers[0].parameterCount
  const encodeOptions = encodeOptionsFor(genesis.delta, count)
  const residuals: Array<Float32Array | undefined> = trainers.map(() => undefined)
  const fabric = await ExchangeFabric.start({ nodes, uplinkBytesPerSecond: Infinity, latencyMs: 0 })
  let state: OuterState = { weights: start, momentum: new Float32Array(count) }
  let previous: Float32Array | undefined
  let compute = 0
  let exchange = 0
  let reduce = 0
  let payloadBytes = 0
  const stepTimes: number[] = []
  try {
    for (let round = 0; round < rounds; round++) {
      const payloads: Uint8Array[] = []
      let slowest = 0
      for (let k = 0; k < nodes; k++) {
        const t0 = performance.now()
        const trained = await trainers[k].trainRound(state.weights, seedOf(k, round))
        const delta = pseudoGradient(state.weights, trained.weights)
        const compressed = compressWithFeedback(
          delta,
          genesis.delta.errorFeedback ? residuals[k] : undefined,
          encodeOptions,
          genesis.delta.feedbackDecay,
        )
        residuals[k] = compressed.residual
        payloads.push(compressed.bytes)
        slowest = Math.max(slowest, (performance.now() - t0) / 1000)
        stepTimes.push(trained.seconds / innerSteps)
      }
      payloadBytes = payloads[0].length
      const { received, seconds } = await fabric.exchange(payloads)
      const t1 = performance.now()
      const contributions = received[0].map((bytes) => ({
        id: sha256(bytes),
        values: decodeDelta(bytes, count).values,
      }))
      const seed = new Uint8Array([...runId, round & 0xff, (round >> 8) & 0xff])
      const aggregated = aggregate(genesis.aggregation, contributions, { seed, reference: previous })
      previous = aggregated
      state = nesterovStep(state, aggregated, genesis.outer.optimizer)
      const reduceSeconds = (performance.now() - t1) / 1000
      compute += slowest
      exchange += seconds
      reduce += reduceSeconds
      log(`  round ${round + 1}/${rounds}: held-out ${evaluate(trainers[0], state.weights).toFixed(3)}`)
    }
    const bytes = fabric.bytesSent()
    return {
      label: `(c) DiLoCo, n = ${nodes}, H = ${innerSteps}, ${encoding}${rule ? `, ${rule.rule}` : ''}`,
      kind: 'diloco',
      nodes,
      innerSteps,
      encoding,
      rule: rule?.rule ?? 'default',
      rounds,
      evalLoss: evaluate(trainers[0], state.weights),
      bytesPerNode: bytes.reduce((a, b) => a + b, 0) / nodes,
      payloadBytes,
      exchanges: rounds,
      wallSeconds: compute + exchange + reduce,
      computeSeconds: compute + reduce,
      exchangeSeconds: exchange,
      stepSeconds: median(stepTimes),
      aggregateSeconds: reduce / rounds,
    }
  } finally {
    for (const t of trainers) t.dispose()
    await fabric.stop()
  }
}

/** Median seconds of `repeats` exchanges of `size`-byte payloads among `nodes` hosts behind `link`. */
async function shapedExchange(
  nodes: number,
  sizes: number[],
  link: { bitsPerSecond: number; latencyMs: number },
  repeats = 3,
): Promise<Map<number, number>> {
  const fabric = await ExchangeFabric.start({
    nodes,
    uplinkBytesPerSecond: link.bitsPerSecond / 8,
    latencyMs: link.latencyMs,
  })
  const out = new Map<number, number>()
  try {
    for (const size of sizes) {
      const times: number[] = []
      for (let r = 0; r < repeats; r++) {
        const payloads = Array.from({ length: nodes }, (_, i) => {
          const bytes = new Uint8Array(size)
          for (let j = 0; j < size; j += 4096) bytes[j] = (i + r + j) & 0xff // distinct roots per exchange
          return bytes
        })
        times.push((await fabric.exchange(payloads)).seconds)
      }
      out.set(size, median(times))
    }
  } finally {
    await fabric.stop()
  }
  return out
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`

const backend = (await selectBackend('auto', { tfjsOnly: true })).backend
const started = performance.now()
const results: RunResult[] = []
const record = (r: RunResult) => {
  results.push(r)
  log(
    `${r.label}: held-out ${r.evalLoss.toFixed(3)}, ${mb(r.bytesPerNode)} sent per node, wall ${r.wallSeconds.toFixed(1)} s (compute ${r.computeSeconds.toFixed(1)} s, exchange ${r.exchangeSeconds.toFixed(1)} s)`,
  )
}
log(
  `model ${preset} (${start.length.toLocaleString('en-US')} parameters), S = ${SAMPLES} samples of batch ${batchSize} x ${context}`,
)
record(await runSingle())
for (const n of NODES) {
  record(await runSync(n))
  for (const h of INNER_STEPS) {
    for (const encoding of ENCODINGS) {
      record(await runDiloco(n, h, encoding))
      for (const rule of RULES ?? []) record(await runDiloco(n, h, encoding, ruleNamed(rule)))
    }
  }
}
// DiLoCo as published averages the deltas; dtrain's default is a robust rule, which discards part
// of the honest information. One run with the plain mean shows what that costs.
if (RULES === undefined) record(await runDiloco(NODES[0], INNER_STEPS[0], ENCODINGS[0], { rule: 'mean' }))

interface WanRow {
  link: string
  nodes: number
  innerSteps: number
  syncRoundSeconds: number
  dilocoRoundSeconds: Record<string, number>
}
const wanRows: WanRow[] = []
const LINKS = [
  { name: '1 Gbit/s, 50 ms', bitsPerSecond: 1e9, latencyMs: 50 },
  { name: '100 Mbit/s, 50 ms', bitsPerSecond: 1e8, latencyMs: 50 },
]
if (wan) {
  for (const link of LINKS) {
    for (const n of NODES) {
      const sync = results.find((r) => r.kind === 'sync' && r.nodes === n)!
      const diloco = results.filter((r) => r.kind === 'diloco' && r.rule === 'default' && r.nodes === n)
      const sizes = [...new Set([sync.payloadBytes, ...diloco.map((r) => r.payloadBytes)])]
      const times = await shapedExchange(n, sizes, link)
      log(
        `${link.name}, n = ${n}: ${sizes.map((s) => `${mb(s)} in ${times.get(s)!.toFixed(3)} s`).join(', ')}`,
      )
      for (const h of INNER_STEPS) {
        const row: WanRow = {
          link: link.name,
          nodes: n,
          innerSteps: h,
          syncRoundSeconds: h * (sync.stepSeconds + times.get(sync.payloadBytes)!),
          dilocoRoundSeconds: {},
        }
        for (const r of diloco.filter((d) => d.innerSteps === h)) {
          row.dilocoRoundSeconds[r.encoding!] =
            h * r.stepSeconds + times.get(r.payloadBytes)! + r.aggregateSeconds
        }
        wanRows.push(row)
      }
    }
  }
}

const totalSeconds = (performance.now() - started) / 1000
const syncOf = (n: number) => results.find((r) => r.kind === 'sync' && r.nodes === n)!
const lines = [
  `## DiLoCo against synchronous training: \`${preset}\` model${label ? `, ${label}` : ''}`,
  '',
  `Written by \`npm run bench:diloco -- ${args
    .filter((a) => a !== '--json')
    .map((a) => (/\s/.test(a) ? `"${a}"` : a))
    .join(
      ' ',
    )}\` on ${new Date().toISOString().slice(0, 10)} (${totalSeconds.toFixed(0)} s on this machine: 2 cores).`,
  '',
  `Model: char-level transformer, preset \`${preset}\` (${start.length.toLocaleString('en-US')} parameters), Moby Dick, batch ${batchSize} x ${context} characters, tfjs ${backend} backend. Every run uses S = ${SAMPLES} worker-steps of one batch, the same initial weights, the same inner AdamW recipe (warmup 10 steps, cosine decay over the run's steps, clipping 1) and the same ${EVAL_WINDOWS} held-out windows. DiLoCo uses dtrain's default aggregation (NNM + trimmed mean), outer Nesterov (lr 0.7, momentum 0.9) and error feedback${ENCODINGS.includes('top-k') ? "; top-k (1 % of the coordinates) uses the genesis defaults of a top-k run, SparseLoCo's recipe: outer lr 1 without momentum, error feedback decayed by 0.95 (SPEC.md 9)" : ''}${ENCODINGS.includes('sparse-2bit') ? `; sparse-2bit (${Math.floor(4096 * (TOPK_FRACTION ?? 0.03125))} of every 4096 coordinates at 2 bits, SPEC.md 6.10) uses the genesis defaults of a sparse-2bit run, SparseLoCo's outer recipe: lr 1 without momentum, error feedback decayed by 0.95` : ''}${RULES ? `; rows named by a rule (${RULES.join(', ')}) aggregate with it instead of the default` : ''}.`,
  '',
  '| run | rounds or steps | final held-out loss | bytes sent per node | communication reduction vs (b) | one delta (or gradient) | wall time (n machines) | of which exchange |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map((r) => {
    const reduction =
      r.kind === 'diloco'
        ? `${(syncOf(r.nodes).bytesPerNode / r.bytesPerNode).toFixed(0)}x`
        : r.kind === 'sync'
          ? '1x'
          : '-'
    const payload = r.kind === 'single' ? '-' : `${r.payloadBytes.toLocaleString('en-US')} B`
    return `| ${r.label} | ${r.rounds} | ${r.evalLoss.toFixed(3)} | ${r.kind === 'single' ? '0' : mb(r.bytesPerNode)} | ${reduction} | ${payload} | ${r.wallSeconds.toFixed(1)} s | ${r.exchangeSeconds.toFixed(1)} s |`
  }),
  '',
  "Bytes are counted on the links between the hosts: everything a node sent, gossip, noise and yamux framing included; `one delta` is the encoded size of one node's payload per exchange. Wall time models n machines in parallel: per round (or step) the slowest worker's compute, measured one after the other here, plus the measured exchange over loopback and the measured aggregation and outer step.",
  ...(wan
    ? [
        '',
        `### Wall time per round of H steps over a modelled WAN (\`${preset}\` model)`,
        '',
        "Each node's uplink limited in user space (src/net/link-emulator.ts) with 50 ms one-way latency on every link; the exchange of one payload of the measured size among n hosts is timed (median of 3), and composed with the measured compute per step: (b) H x (step + exchange), (c) H x step + exchange + aggregation.",
        '',
        `| link | n | H | (b) synchronous | ${ENCODINGS.map((e) => `(c) DiLoCo ${e}`).join(' | ')} | speed-up (c) ${ENCODINGS[0]} |`,
        `|---|---|---|---|${ENCODINGS.map(() => '---|').join('')}---|`,
        ...wanRows.map(
          (w) =>
            `| ${w.link} | ${w.nodes} | ${w.innerSteps} | ${w.syncRoundSeconds.toFixed(1)} s | ${ENCODINGS.map((e) => `${w.dilocoRoundSeconds[e]?.toFixed(1) ?? '-'} s`).join(' | ')} | ${(w.syncRoundSeconds / w.dilocoRoundSeconds[ENCODINGS[0]]).toFixed(1)}x |`,
        ),
      ]
    : []),
]
const report = lines.join('\n')
console.log(report)
if (outFile) writeSection(outFile, section, report)
if (json) {
  const headline = results.find((r) => r.kind === 'diloco' && r.rule === 'default')!
  const sync = syncOf(headline.nodes)
  console.log(
    JSON.stringify({
      syncEvalLoss: sync.evalLoss,
      dilocoEvalLoss: headline.evalLoss,
      syncBytesPerNode: sync.bytesPerNode,
      dilocoBytesPerNode: headline.bytesPerNode,
      singleEvalLoss: results[0].evalLoss,
      headline: {
        nodes: headline.nodes,
        innerSteps: headline.innerSteps,
        encoding: headline.encoding,
        samples: SAMPLES,
        preset,
      },
      communicationReduction: sync.bytesPerNode / headline.bytesPerNode,
      runs: results,
      wan: wanRows,
    }),
  )
}
process.exit(0)
