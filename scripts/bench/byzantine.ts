// Attack harness (issue: Byzantine-robust aggregation). Simulates n peers in one process: the
// honest ones really train the tiny char transformer on their own batches (shuffled data) or on
// their own contiguous part of the corpus (skewed data); the Byzantine ones see every honest delta
// (an omniscient attacker) and send an attack. Deltas are aggregated with dtrain's rules and the
// outer Nesterov step is applied, as a node does. Each cell reports the final held-out loss and
// the worst held-out loss over the last 20 % of rounds, beside the clean run of the same rule.
//
// Usage: npm run bench:byzantine [-- --quick] [-- --json] [-- --rounds R] [-- --out FILE]
//   --quick: n = 8, fractions 0, 1/4 and 3/8, rules mean, median, trimmed mean, centered clipping
//            with bucketing and the default NNM + trimmed mean; attacks sign flip, Gaussian noise,
//            ALIE (both directions, see alie-sign), IPM and min-max; shuffled data.
//   default: n = 8; fractions 0, 1/8, 1/4, 3/8 and the largest each rule tolerates; every rule
//            and attack below; shuffled and skewed data.
// Every attacker sends its own vector (the attack plus its own noise at the honest spread), and
// every attack with a strength picks it each round against the rule it faces (STRENGTHS).
import '../../src/polyfill.js'
import { writeFileSync } from 'node:fs'
import { type AggregationRule, aggregate, toleratedFaults } from '../../src/aggregate/rules.js'
import { weightsHash } from '../../src/crypto/hash.js'
import { HashStream } from '../../src/crypto/prng.js'
import { nesterovStep, type OuterState, pseudoGradient } from '../../src/round/outer.js'
import { selectBackend } from '../../src/train/backend.js'
import { evalOffsets } from '../../src/train/batches.js'
import { type Corpus, loadCorpus } from '../../src/train/corpus.js'
import { InnerTrainer } from '../../src/train/inner-loop.js'
import { initialWeights } from '../../src/train/parameters.js'
import { defaultGenesis, runIdOf, transformerOf } from '../../src/wire/genesis.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const json = args.includes('--json')
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const outIndex = args.indexOf('--out')
const outFile = outIndex >= 0 ? args[outIndex + 1] : undefined
const n = option('--n', 8)
const rounds = option('--rounds', quick ? 8 : 12)

type Attack =
  | 'none'
  | 'sign-flip'
  | 'scaled'
  | 'gaussian'
  | 'alie'
  | 'alie-sign'
  | 'ipm'
  | 'min-max'
  | 'free-rider'
  | 'copy-cat'
  | 'poison'
/**
 * Each attack's strengths. Every round the attackers send the strength whose aggregate, under the
 * rule they face, lands furthest from the honest mean: an omniscient attacker that knows the rule
 * tunes itself to it (the AGR-tailored attacks of Shejwalkar & Houmansadr 2021). Units: sign flip
 * and IPM, multiples of the honest mean; Gaussian, multiples of the honest spread per coordinate;
 * ALIE, z (honest standard deviations per coordinate).
 */
const STRENGTHS: Partial<Record<Attack, number[]>> = {
  'sign-flip': [0.5, 1, 2, 4],
  scaled: [10],
  gaussian: [1, 3, 10],
  alie: [0.5, 1, 1.5, 2, 3],
  'alie-sign': [0.5, 1, 1.5, 2, 3],
  ipm: [0.1, 0.5, 1, 2],
}
/**
 * Attackers differ from one another as honest peers do: each adds its own noise of this many
 * honest standard deviations per coordinate. Identical Byzantine vectors are never an honest
 * input's nearest neighbours, which flattered nearest-neighbour rules (issue 19 §5).
 */
const SPREAD = 1

const ALL_RULES: Record<string, AggregationRule> = {
  mean: { rule: 'mean' },
  median: { rule: 'median' },
  'trimmed-mean': { rule: 'trimmed-mean', trimFraction: 0.25 },
  'cc+bucketing': { rule: 'centered-clipping', tau: 'auto', iterations: 3, bucketSize: 2 },
  'nnm-trimmed-mean (default)': { rule: 'nnm-trimmed-mean', faultFraction: 0.2 },
  ...(quick
    ? {}
    : {
        krum: { rule: 'krum', f: 2 },
        'geometric-median': { rule: 'geometric-median', iterations: 10, nu: 1e-8, tolerance: 1e-6 },
      }),
}
const listOption = (name: string): string[] | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1].split(',') : undefined
}
// --rules a,b and --attacks a,b pick a subset (names as in the table).
const RULES: Record<string, AggregationRule> = Object.fromEntries(
  Object.entries(ALL_RULES).filter(([rule]) => listOption('--rules')?.includes(rule) ?? true),
)
const ATTACKS: Attack[] = ((listOption('--attacks') as Attack[] | undefined) ??
  (quick
    ? ['sign-flip', 'gaussian', 'alie', 'alie-sign', 'ipm', 'min-max']
    : [
        'sign-flip',
        'scaled',
        'gaussian',
        'alie',
        'alie-sign',
        'ipm',
        'min-max',
        'free-rider',
        'copy-cat',
        'poison',
      ])) as Attack[]
/** --outer-momentum m: DiLoCo's outer momentum (0.9) or another value, e.g. 0 to see what it does. */
const outerMomentum = option('--outer-momentum', 0.9)
const DATA: Array<'shuffled' | 'skewed'> = quick ? ['shuffled'] : ['shuffled', 'skewed']

interface Cell {
  rule: string
  attack: Attack
  fraction: number
  byzantine: number
  data: 'shuffled' | 'skewed'
  evalLoss: number
  worstLateEvalLoss: number
  cleanEvalLoss: number
  /** whether the rule claims to tolerate this many Byzantine inputs among n (toleratedFaults) */
  withinTolerance: boolean
  /** the strength the attackers chose each round (STRENGTHS) */
  strengths: number[]
}

/** "1.5 x5, 3 x3": how often each strength was chosen; empty for attacks without a choice. */
function chosen(strengths: number[]): string {
  const counts = new Map<number, number>()
  for (const s of strengths) if (!Number.isNaN(s)) counts.set(s, (counts.get(s) ?? 0) + 1)
  return [...counts]
    .sort((a, b) => a[0] - b[0])
    .map(([s, k]) => `${s} x${k}`)
    .join(', ')
}

const dataset = args.includes('--moby-dick') ? 'moby-dick' : 'synthetic'
const genesis = defaultGenesis({
  preset: 'tiny',
  dataset,
  innerSteps: 8,
  batchSize: 8,
  expectedPeers: n,
  salt: 'byzantine',
  evalWindows: 32,
})
const runId = runIdOf(genesis)
const fullCorpus = loadCorpus(genesis.dataset)
const heldOut = evalOffsets(
  runId,
  fullCorpus.heldOut.length,
  transformerOf(genesis, 'bench:byzantine').contextLength,
  genesis.eval.windows,
)

function corpusOf(peer: number, honestCount: number, data: 'shuffled' | 'skewed'): Corpus {
  if (data === 'shuffled') return fullCorpus
  const size = Math.floor(fullCorpus.train.length / honestCount)
  return { train: fullCorpus.train.subarray(peer * size, (peer + 1) * size), heldOut: fullCorpus.heldOut }
}

/** The honest deltas' per-coordinate mean and standard deviation. */
function moments(honest: Float32Array[]): { mean: Float32Array; std: Float32Array } {
  const d = honest[0].length
  const mean = new Float32Array(d)
  const std = new Float32Array(d)
  for (const h of honest) for (let i = 0; i < d; i++) mean[i] += h[i] / honest.length
  for (const h of honest) for (let i = 0; i < d; i++) std[i] += (h[i] - mean[i]) ** 2 / honest.length
  for (let i = 0; i < d; i++) std[i] = Math.sqrt(std[i])
  return { mean, std }
}

const distance = (a: Float32Array, b: Float32Array): number => {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2
  return Math.sqrt(sum)
}

/**
 * Shejwalkar & Houmansadr's min-max attack (2021, AGR-agnostic): mean - gamma std, with the largest
 * gamma (binary search) that keeps the malicious vector no further from any honest one than the
 * two furthest honest vectors are from each other, so that distance-based rules cannot tell it out.
 */
function minMax(honest: Float32Array[], mean: Float32Array, std: Float32Array): Float32Array {
  let bound = 0
  for (let i = 0; i < honest.length; i++)
    for (let j = i + 1; j < honest.length; j++) bound = Math.max(bound, distance(honest[i], honest[j]))
  const at = (gamma: number) => Float32Array.from(mean, (x, i) => x - gamma * std[i])
  let lo = 0
  let hi = 64
  for (let k = 0; k < 20; k++) {
    const mid = (lo + hi) / 2
    const m = at(mid)
    if (Math.max(...honest.map((h) => distance(m, h))) <= bound) lo = mid
    else hi = mid
  }
  return at(lo)
}

/** The attack's vector at one strength, before each attacker's own noise. */
function attackBase(
  attack: Attack,
  strength: number,
  honest: Float32Array[],
  mean: Float32Array,
  std: Float32Array,
  b: number,
): Float32Array {
  switch (attack) {
    case 'sign-flip':
    case 'scaled':
      return Float32Array.from(mean, (x) => -strength * x)
    case 'gaussian':
      return new Float32Array(mean.length) // all noise: strength x the honest spread, below
    case 'alie':
      return Float32Array.from(mean, (x, i) => x - strength * std[i])
    case 'alie-sign':
      // ALIE's bound with a direction: each coordinate moves z std towards the opposite of the
      // honest mean's sign (the "inverse sign" perturbation of Shejwalkar & Houmansadr 2021).
      return Float32Array.from(mean, (x, i) => x - strength * std[i] * Math.sign(x))
    case 'ipm':
      return Float32Array.from(mean, (x) => -strength * x)
    case 'min-max':
      return minMax(honest, mean, std)
    case 'free-rider':
      return new Float32Array(mean.length)
    case 'copy-cat':
      return Float32Array.from(honest[b % honest.length])
    case 'none':
    case 'poison': // poisoned deltas come from real training (runCell), never from here
      return Float32Array.from(mean)
  }
}

/**
 * The Byzantine vectors of a round: every attacker its own (the attack's vector plus its own noise
 * of SPREAD honest standard deviations; Gaussian: noise of `strength` of them), at the strength
 * of STRENGTHS whose aggregate under `rule` lands furthest from the honest mean. Returns the
 * vectors and the strength chosen.
 */
function attackVectors(
  attack: Attack,
  honest: Float32Array[],
  count: number,
  rng: HashStream,
  rule: AggregationRule,
  seed: Uint8Array,
  reference: Float32Array | undefined,
): { vectors: Float32Array[]; strength: number } {
  const { mean, std } = moments(honest)
  // Each attacker's noise, drawn once per round: uniform with unit variance per coordinate.
  const noise = Array.from({ length: count }, () =>
    Float32Array.from(mean, () => Math.sqrt(3) * rng.nextSymmetricUnit()),
  )
  const vectorsAt = (strength: number): Float32Array[] =>
    noise.map((z, b) => {
      const base = attackBase(attack, strength, honest, mean, std, b)
      if (attack === 'copy-cat') return base
      const scale = attack === 'gaussian' ? strength : SPREAD
      return Float32Array.from(base, (x, i) => x + scale * std[i] * z[i])
    })
  const strengths = STRENGTHS[attack] ?? [Number.NaN]
  let best = { vectors: vectorsAt(strengths[0]), strength: strengths[0], deviation: -1 }
  if (strengths.length === 1) return best
  for (const strength of strengths) {
    const vectors = vectorsAt(strength)
    const contributions = [...honest, ...vectors].map((values, k) => ({ id: new Uint8Array([k]), values }))
    let deviation: number
    try {
      deviation = distance(aggregate(rule, contributions, { seed, reference }), mean)
    } catch {
      continue // a configuration the rule refuses
    }
    if (!Number.isFinite(deviation)) deviation = Number.POSITIVE_INFINITY
    if (deviation > best.deviation) best = { vectors, strength, deviation }
  }
  return best
}

async function runCell(
  ruleName: string,
  attack: Attack,
  byzantine: number,
  data: 'shuffled' | 'skewed',
): Promise<{ final: number; worstLate: number; strengths: number[] }> {
  const rule = RULES[ruleName]
  const honestCount = n - byzantine
  const trainers = Array.from(
    { length: honestCount },
    (_, p) => new InnerTrainer(genesis, corpusOf(p, honestCount, data)),
  )
  // Data poisoning: Byzantine peers really train, on text whose every character is shifted by one
  // (the language-model analogue of label flipping), and send the deltas that training produces.
  const poisoned: Corpus = { train: fullCorpus.train.map((t) => (t + 1) % 96), heldOut: fullCorpus.heldOut }
  const poisoners =
    attack === 'poison' ? Array.from({ length: byzantine }, () => new InnerTrainer(genesis, poisoned)) : []
  const rng = new HashStream(
    'dtrain/bench/byzantine',
    new TextEncoder().encode(`${ruleName}/${attack}/${byzantine}/${data}`),
  )
  let state: OuterState = {
    weights: initialWeights(genesis.model),
    momentum: new Float32Array(trainers[0].parameterCount),
  }
  let reference: Float32Array | undefined
  const losses: number[] = []
  const strengths: number[] = []
  try {
    for (let round = 0; round < rounds; round++) {
      const honest: Float32Array[] = []
      const baseHash = weightsHash(state.weights)
      for (let p = 0; p < honestCount; p++) {
        const trained = await trainers[p].trainRound(state.weights, {
          runId,
          baseHash,
          peerId: new Uint8Array([p]),
          round,
        })
        honest.push(pseudoGradient(state.weights, trained.weights))
      }
      const attacks: Float32Array[] = []
      for (const [b, poisoner] of poisoners.entries()) {
        const trained = await poisoner.trainRound(state.weights, {
          runId,
          baseHash,
          peerId: new Uint8Array([100 + b]),
          round,
        })
        attacks.push(pseudoGradient(state.weights, trained.weights))
      }
      const seed = new Uint8Array([round & 0xff, round >> 8])
      if (attack !== 'poison' && byzantine > 0) {
        const chosen = attackVectors(attack, honest, byzantine, rng, rule, seed, reference)
        attacks.push(...chosen.vectors)
        strengths.push(chosen.strength)
      }
      const deltas = [...honest, ...attacks]
      const contributions = deltas.map((values) => ({
        id: Uint8Array.from({ length: 32 }, () => rng.nextBelow(256)),
        values,
      }))
      const aggregated = aggregate(rule, contributions, { seed, reference })
      reference = aggregated
      state = nesterovStep(state, aggregated, { lr: genesis.outer.optimizer.lr, momentum: outerMomentum })
      const loss = trainers[0].evaluate(state.weights, heldOut, genesis.eval.batchSize)
      losses.push(Number.isFinite(loss) ? loss : Number.POSITIVE_INFINITY)
    }
  } finally {
    for (const t of [...trainers, ...poisoners]) t.dispose()
  }
  const late = losses.slice(Math.floor(rounds * 0.8))
  return { final: losses.at(-1)!, worstLate: Math.max(...late), strengths }
}

await selectBackend('auto', { tfjsOnly: true })
const started = performance.now()
const cells: Cell[] = []
for (const data of DATA) {
  for (const ruleName of Object.keys(RULES)) {
    const clean = await runCell(ruleName, 'none', 0, data)
    const fractions = new Set([0, ...(quick ? [] : [1 / 8]), 1 / 4, 3 / 8])
    if (!quick) {
      const largest = toleratedFaults(RULES[ruleName], n) / n
      if (largest > 0) fractions.add(largest)
    }
    for (const fraction of [...fractions].sort()) {
      const byzantine = Math.round(fraction * n)
      for (const attack of ATTACKS) {
        let result = clean
        if (byzantine > 0) {
          try {
            result = await runCell(ruleName, attack, byzantine, data)
          } catch (err) {
            // A rule refusing a configuration (f beyond what it tolerates) is a result too.
            process.stderr.write(
              `${ruleName} / ${attack} / ${byzantine} Byzantine: ${(err as Error).message}\n`,
            )
            result = { final: Number.NaN, worstLate: Number.NaN, strengths: [] }
          }
        }
        cells.push({
          rule: ruleName,
          attack,
          fraction,
          byzantine,
          data,
          evalLoss: result.final,
          worstLateEvalLoss: result.worstLate,
          cleanEvalLoss: clean.final,
          withinTolerance: byzantine <= toleratedFaults(RULES[ruleName], n),
          strengths: byzantine > 0 ? result.strengths : [],
        })
        process.stderr.write(
          `${data.padEnd(9)} ${ruleName.padEnd(26)} ${attack.padEnd(11)} f = ${byzantine}/${n}  held-out ${result.final.toFixed(3)} (worst late ${result.worstLate.toFixed(3)}, clean ${clean.final.toFixed(3)})\n`,
        )
      }
    }
  }
}

/**
 * Whether each attack is potent: it must clearly hurt plain mean (final held-out loss at least
 * POTENT_MARGIN above mean's clean run) before a robust rule's result against it means anything.
 */
const POTENT_MARGIN = 0.02
function potencyLines(): string[] {
  const meanCells = cells.filter((c) => c.rule === 'mean' && c.byzantine > 0)
  if (meanCells.length === 0) return []
  return [
    '',
    `Potency against plain mean (potent = final loss more than ${POTENT_MARGIN * 100} % above clean):`,
    '',
    '| data | attack | Byzantine | mean under attack | clean | potent |',
    '|---|---|---|---|---|---|',
    ...meanCells.map((c) => {
      const potent = c.evalLoss > c.cleanEvalLoss * (1 + POTENT_MARGIN) || !Number.isFinite(c.evalLoss)
      return `| ${c.data} | ${c.attack} | ${c.byzantine}/${n} | ${c.evalLoss.toFixed(3)} | ${c.cleanEvalLoss.toFixed(3)} | ${potent ? 'yes' : 'no'} |`
    }),
  ]
}

const signedPercent = (x: number) =>
  Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} %` : 'diverged'

/** Per rule and fraction, the attack that hurt it most (final held-out loss over its clean run). */
function worstLines(): string[] {
  const groups = new Map<string, Cell[]>()
  for (const c of cells.filter((x) => x.byzantine > 0)) {
    const key = `${c.data}|${c.rule}|${c.byzantine}`
    groups.set(key, [...(groups.get(key) ?? []), c])
  }
  const ratio = (c: Cell) =>
    Number.isFinite(c.evalLoss) ? c.evalLoss / c.cleanEvalLoss : Number.POSITIVE_INFINITY
  return [
    '',
    "Worst attack per rule and Byzantine fraction (final held-out loss over the rule's clean run):",
    '',
    '| data | rule | Byzantine | worst attack | vs clean |',
    '|---|---|---|---|---|',
    ...[...groups.values()].map((g) => {
      const worst = g.reduce((a, b) => (ratio(b) > ratio(a) ? b : a))
      return `| ${worst.data} | ${worst.rule} | ${worst.byzantine}/${n} | ${worst.attack} | ${signedPercent(ratio(worst) - 1)} |`
    }),
  ]
}

const table = [
  `Byzantine harness: n = ${n}, ${rounds} rounds of H = ${genesis.inner.steps} steps, tiny model on ${genesis.dataset.source}, outer momentum ${outerMomentum}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
  '',
  '| data | rule | attack | Byzantine | final held-out loss | worst of last 20 % | clean | vs clean | strengths chosen |',
  '|---|---|---|---|---|---|---|---|---|',
  ...cells
    .filter((c) => c.byzantine > 0)
    .map(
      (c) =>
        `| ${c.data} | ${c.rule} | ${c.attack} | ${c.byzantine}/${n}${c.withinTolerance ? '' : ` (beyond: tolerates ${toleratedFaults(RULES[c.rule], n)})`} | ${c.evalLoss.toFixed(3)} | ${c.worstLateEvalLoss.toFixed(3)} | ${c.cleanEvalLoss.toFixed(3)} | ${signedPercent(c.evalLoss / c.cleanEvalLoss - 1)} | ${chosen(c.strengths)} |`,
    ),
  ...worstLines(),
  ...potencyLines(),
].join('\n')
console.log(table)
if (outFile) writeFileSync(outFile, `${table}\n`)
if (json)
  // every cell's figures, its Byzantine count aside (the fraction says it)
  console.log(JSON.stringify(cells.map(({ byzantine: _, ...cell }) => cell)))
process.exit(0)
