// Scale drill (issue 17): the protocol at the size of a real model. N `dtrain start` processes
// (through `dtrain testnet`) in a private network train a 110 M-parameter classifier
// (`mlp-110m`) on torch-cpu for R rounds with int8 deltas and proofs on, and this script reports
// per node: peak resident memory (the node and its torch worker, sampled from /proc), the disk its
// proofs and its served objects (deltas, states) take at most, seconds per phase and per protocol
// step (from each node's "round complete" log lines), and bytes sent and received; then whether
// the nodes agree, and the protocol's share of a round (all but training and evaluation). It also
// times hashing and Merkle building of 256 MB in this process, and what the node's own state
// takes (weights, outer momentum, previous aggregate, residual, AdamW moments), beside the peak.
//
// Usage: npm run bench:model-scale [-- --json] [-- --nodes 4] [-- --inner-steps 4] [-- --rounds 2]
//        [-- --preset mlp-110m] [-- --then 8:2]   (a second run: 8 nodes at H = 2; "none" to skip)
//        [-- --python /usr/bin/python3] [-- --out FILE] (default BENCHMARKS.md; --json: print only)
//        [-- --keep]  (leave the nodes' state directories)
//        [-- --protocol 4,8,16]  (then, in this process, the protocol's own steps at d for n deltas:
//        what grows with n without n trainers in memory; "none" to skip)
// Contract: the last stdout line is JSON: { parameters, nodes, agreed, peakRssMB (per node),
// proofBytesPerRound, phaseSeconds, protocolShare, runs: [...] } (the first run's figures at the
// top level, every run's in runs).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { freemem, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { aggregate } from '../../src/aggregate/rules.js'
import { encodeDelta, validateDelta } from '../../src/codec/delta.js'
import { encodeState } from '../../src/codec/state.js'
import { LIMITS } from '../../src/constants.js'
import { MerkleTree } from '../../src/crypto/merkle.js'
import { nesterovStep } from '../../src/round/outer.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { bytesUnder } from '../../src/store/state-dir.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis, type ModelPreset } from '../../src/wire/genesis.js'
import { writeSection } from './report.js'

const args = process.argv.slice(2)
const value = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const json = args.includes('--json')
/** --keep: leave the nodes' state directories (their proofs: bench:checkpoint-compression reads one) */
const keep = args.includes('--keep')
const PRESET = (value('--preset') ?? 'mlp-110m') as ModelPreset
const ROUNDS = Number(value('--rounds') ?? 2)
// Defaults: the issue's configuration, 4 nodes then 8 at a smaller H. A node of this model with
// its torch worker peaks at about 4.8 GB (3d91d92): 4 nodes fit in 24 GB, 8 do not, and a second
// run that would not fit is skipped, saying so.
const first = { nodes: Number(value('--nodes') ?? 4), innerSteps: Number(value('--inner-steps') ?? 4) }
const thenArg = value('--then') ?? '8:2'
const second =
  thenArg === 'none'
    ? undefined
    : { nodes: Number(thenArg.split(':')[0]), innerSteps: Number(thenArg.split(':')[1]) }
const python = value('--python') ?? '/usr/bin/python3'
const protocolArg = value('--protocol') ?? '4,8,16'
const protocolNs = protocolArg === 'none' ? [] : protocolArg.split(',').map(Number)
const outFile = value('--out') ?? (json ? undefined : 'BENCHMARKS.md')
const cli = new URL('../../src/cli/main.js', import.meta.url).pathname
const say = (line: string) => process.stderr.write(`${line}\n`)

const d = parameterCount({ ...defaultGenesis({ preset: PRESET }).model })
const GB = 1e9
const MB = 1e6

/** What the node's own state takes (issue 17's memory budget): vectors of d binary32 values. */
const ownState = {
  node: { weights: 4 * d, outerMomentum: 4 * d, previousAggregate: 4 * d, residual: 4 * d },
  trainer: { weights: 4 * d, gradients: 4 * d, adamMoments: 8 * d },
}
const ownStateBytes = Object.values(ownState.node).reduce((a, b) => a + b, 0)
const trainerStateBytes = Object.values(ownState.trainer).reduce((a, b) => a + b, 0)

/** Hashing and Merkle building (SHA-256 over 256 KiB chunks) of 256 MB, in this process. */
function hashRate(): number {
  const bytes = new Uint8Array(256 * 2 ** 20)
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i & 0xff
  MerkleTree.fromBytes(bytes.subarray(0, 8 * 2 ** 20), LIMITS.chunkBytes)
  const started = performance.now()
  MerkleTree.fromBytes(bytes, LIMITS.chunkBytes)
  return bytes.length / ((performance.now() - started) / 1000)
}

interface ProcInfo {
  ppid: number
  rss: number
  cmdline: string
}

function processes(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = readFileSync(`/proc/${name}/status`, 'utf8')
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ')
      out.set(Number(name), { ppid: Number(fields[1]), rss, cmdline })
    } catch {
      // the process ended while it was read
    }
  }
  return out
}

interface RoundLine {
  round: number
  phaseSeconds: Record<string, number>
  stepSeconds: Record<string, number>
  bytesSent: number
  bytesReceived: number
  proofBytes: number
  weightsHash: string
}

interface RunResult {
  nodes: number
  innerSteps: number
  agreed: boolean
  roundsCompleted: number
  seconds: number
  peakRssMB: number[]
  peakProofMB: number[]
  peakObjectMB: number[]
  bytesSentMB: number[]
  bytesReceivedMB: number[]
  /** mean over nodes and rounds */
  phaseSeconds: Record<string, number>
  protocolShare: number
  proofBytesPerRound: number
}

async function drill(nodes: number, innerSteps: number): Promise<RunResult> {
  const state = mkdtempSync(join(tmpdir(), 'dtrain-model-scale-'))
  const testnetArgs = [
    'testnet',
    '--nodes',
    String(nodes),
    '--rounds',
    String(ROUNDS),
    '--preset',
    PRESET,
    '--backend',
    'torch-cpu',
    '--python',
    python,
    '--encoding',
    'int8-block',
    '--inner-steps',
    String(innerSteps),
    // Two checkpoints a round (steps 0 and H): this machine's disk holds every node's proofs.
    '--checkpoint-interval',
    String(innerSteps),
    '--proof-retention',
    '1',
    '--private',
    '--start-timeout',
    '900',
    '--state',
    state,
    '--json',
  ]
  say(`dtrain ${testnetArgs.join(' ')}`)
  const started = performance.now()
  const peakRss = new Array<number>(nodes).fill(0)
  const peakProof = new Array<number>(nodes).fill(0)
  const peakObjects = new Array<number>(nodes).fill(0)
  const child = spawn(process.execPath, [cli, ...testnetArgs], { stdio: ['ignore', 'pipe', 'inherit'] })
  const sample = async () => {
    const all = processes()
    const children = new Map<number, number[]>()
    for (const [pid, p] of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid])
    const treeRss = (pid: number): number =>
      (all.get(pid)?.rss ?? 0) + (children.get(pid) ?? []).reduce((s, c) => s + treeRss(c), 0)
    for (const pid of children.get(child.pid!) ?? []) {
      const match = /--state \S*node-(\d+)/.exec(all.get(pid)?.cmdline ?? '')
      if (!match) continue
      const i = Number(match[1])
      peakRss[i] = Math.max(peakRss[i], treeRss(pid))
    }
    for (let i = 0; i < nodes; i++) {
      // a directory not made yet holds nothing
      const dir = join(state, `node-${i}`)
      peakProof[i] = Math.max(peakProof[i], await bytesUnder(join(dir, 'proofs')).catch(() => 0))
      peakObjects[i] = Math.max(peakObjects[i], await bytesUnder(join(dir, 'objects')).catch(() => 0))
    }
  }
  const timer = setInterval(() => void sample(), 500)
  let stdout = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearInterval(timer)
  const seconds = (performance.now() - started) / 1000
  const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    agreed?: boolean
    roundsCompleted?: number
  }
  if (code !== 0) say(`dtrain testnet exited with ${code}; logs in ${state}`)
  // A node that never started (the testnet stops the others when one fails) has no log.
  const logOf = (i: number) => join(state, `node-${i}`, 'node.log')
  const lines: RoundLine[][] = Array.from({ length: nodes }, (_, i) =>
    (existsSync(logOf(i)) ? readFileSync(logOf(i), 'utf8') : '')
      .split('\n')
      .filter((l) => l.includes('"round complete"'))
      .map((l) => JSON.parse(l) as RoundLine),
  )
  const all = lines.flat()
  const mean = (f: (l: RoundLine) => number) => all.reduce((s, l) => s + f(l), 0) / Math.max(1, all.length)
  const phase = (p: string) => mean((l) => l.phaseSeconds[p] ?? 0)
  const step = (s: string) => mean((l) => l.stepSeconds?.[s] ?? 0)
  const phaseSeconds = {
    train: phase('train'),
    encode: step('encode'),
    hashAndMerkle: step('hashDelta') + step('hashState'),
    announce: step('publish'),
    transfer: phase('collect'),
    decode: step('validate'),
    aggregate: step('aggregateRule'),
    outerStep: step('outerStep'),
    commit: phase('commit'),
    stateWrite: step('stateWrite'),
    proofWrite: step('proofWrite'),
    eval: phase('eval'),
  }
  // A round: its phases, and the state file written after them.
  const round =
    ['train', 'announce', 'collect', 'aggregate', 'commit', 'eval'].reduce((s, p) => s + phase(p), 0) +
    step('stateWrite')
  const result: RunResult = {
    nodes,
    innerSteps,
    agreed: summary.agreed === true,
    roundsCompleted: summary.roundsCompleted ?? 0,
    seconds,
    peakRssMB: peakRss.map((b) => Math.round(b / MB)),
    peakProofMB: peakProof.map((b) => Math.round(b / MB)),
    peakObjectMB: peakObjects.map((b) => Math.round(b / MB)),
    bytesSentMB: lines.map((ls) => Math.round((ls.at(-1)?.bytesSent ?? 0) / MB)),
    bytesReceivedMB: lines.map((ls) => Math.round((ls.at(-1)?.bytesReceived ?? 0) / MB)),
    phaseSeconds,
    protocolShare: round > 0 ? 1 - (phase('train') + phase('eval')) / round : 0,
    proofBytesPerRound: 2 * (16 + 12 * d),
  }
  if (code === 0 && !keep) rmSync(state, { recursive: true, force: true })
  else say(`state directories kept in ${state}`)
  return result
}

interface ProtocolRow {
  n: number
  validateSeconds: number
  aggregateSeconds: number
  /** resident-memory high-water mark of this process after the aggregation, MB */
  maxRssMB: number
}

interface ProtocolSteps {
  /** encoding one delta (int8, from binary32) */
  encodeSeconds: number
  rows: ProtocolRow[]
  /** the steps whose cost does not depend on n, timed once */
  outerStepSeconds: number
  encodeStateSeconds: number
  hashStateSeconds: number
}

/**
 * The protocol's steps at d = the preset's size for n int8 deltas held on disk, in this process:
 * validation (every delta, summed) and the default rule (nnm-trimmed-mean) read block by block
 * from the store, for each n ascending, so the high-water mark of resident memory after each
 * aggregation shows what n adds; then, once, the outer step, the state's encoding and its chunk
 * tree, which do not depend on n.
 */
async function protocolSteps(ns: readonly number[]): Promise<ProtocolSteps> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-model-scale-objects-'))
  const store = new DeltaStore({ dir: join(dir, 'objects') })
  const options = {
    encoding: 'int8-block',
    blockSize: defaultGenesis({ preset: PRESET }).delta.blockSize,
  } as const
  const roots: Uint8Array[] = []
  let encodeSeconds = 0
  const rows: ProtocolRow[] = []
  let aggregated: Float32Array = new Float32Array(0)
  for (const n of ns) {
    while (roots.length < n) {
      const delta = new Float32Array(d)
      const scale = 1e-3 * (1 + roots.length / 10)
      for (let i = 0; i < d; i++) delta[i] = (Math.random() - 0.5) * scale
      const started = performance.now()
      const bytes = encodeDelta(delta, options)
      encodeSeconds = (performance.now() - started) / 1000
      roots.push(store.put(0, bytes))
      await store.flush()
    }
    const ids = roots.slice(0, n)
    let started = performance.now()
    for (const id of ids) validateDelta(store.get(id)!.bytes, d)
    const validateSeconds = (performance.now() - started) / 1000
    started = performance.now()
    aggregated = aggregate(
      { rule: 'nnm-trimmed-mean', faultFraction: 0.2 },
      ids.map((id) => ({ id, values: store.delta(id, d) })),
    )
    const aggregateSeconds = (performance.now() - started) / 1000
    const maxRssMB = Math.round((process.resourceUsage().maxRSS * 1024) / MB)
    rows.push({ n, validateSeconds, aggregateSeconds, maxRssMB })
    say(`protocol steps, n = ${n}: ${JSON.stringify(rows.at(-1))}`)
  }
  const weights = new Float32Array(d).fill(0.01)
  let started = performance.now()
  const next = nesterovStep({ weights, momentum: new Float32Array(d) }, aggregated, {
    lr: 0.7,
    momentum: 0.9,
  })
  const outerStepSeconds = (performance.now() - started) / 1000
  started = performance.now()
  const state = encodeState({
    round: 0,
    weights: next.weights,
    momentum: next.momentum,
    reference: aggregated,
  })
  const encodeStateSeconds = (performance.now() - started) / 1000
  started = performance.now()
  MerkleTree.fromBytes(state, LIMITS.chunkBytes)
  const hashStateSeconds = (performance.now() - started) / 1000
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  return { encodeSeconds, rows, outerStepSeconds, encodeStateSeconds, hashStateSeconds }
}

const rate = hashRate()
say(
  `${PRESET}: ${d.toLocaleString('en-US')} parameters; hashing and Merkle building ${(rate / GB).toFixed(2)} GB/s`,
)
const runs: RunResult[] = [await drill(first.nodes, first.innerSteps)]
if (second) {
  // Each node needs about its peak of the first run; say so rather than run out of memory.
  const needed = second.nodes * Math.max(...runs[0].peakRssMB) * MB
  if (needed > 0.9 * totalmem())
    say(
      `skipped ${second.nodes} nodes at H = ${second.innerSteps}: they need about ${(needed / GB).toFixed(1)} GB (${second.nodes} x the peak of one node above), this machine has ${(totalmem() / GB).toFixed(1)} GB (${(freemem() / GB).toFixed(1)} GB free)`,
    )
  else runs.push(await drill(second.nodes, second.innerSteps))
}

const protocol = protocolNs.length > 0 ? await protocolSteps(protocolNs) : undefined

const f = (x: number, digits = 2) => x.toFixed(digits)
const table = [
  `## Model scale: ${d.toLocaleString('en-US')} parameters (\`${PRESET}\`, torch-cpu), ${ROUNDS} rounds`,
  '',
  'Written by `npm run bench:model-scale` (issue 17): node processes on this one machine in a private',
  'network, int8 deltas, proofs on (2 checkpoints a round, `--checkpoint-interval H`), torch-cpu.',
  `Hashing and Merkle building: ${f(rate / GB)} GB/s. The node's own state is ${f(ownStateBytes / GB)} GB`,
  `(weights, outer momentum, previous aggregate, residual) and its trainer's ${f(trainerStateBytes / GB)} GB`,
  '(weights, gradients, AdamW moments): peak memory is compared with their sum.',
  '',
  '| nodes | H | agreed | peak RSS per node (MB) | over own state (MB) | proofs (MB) | objects (MB) | sent / received per node (MB) | protocol share |',
  '|---|---|---|---|---|---|---|---|---|',
  ...runs.map(
    (r) =>
      `| ${r.nodes} | ${r.innerSteps} | ${r.agreed ? 'yes' : 'no'} | ${r.peakRssMB.join(', ')} | ${r.peakRssMB.map((m) => Math.round(m - (ownStateBytes + trainerStateBytes) / MB)).join(', ')} | ${Math.max(...r.peakProofMB)} | ${Math.max(...r.peakObjectMB)} | ${r.bytesSentMB.join('/')} ; ${r.bytesReceivedMB.join('/')} | ${f(100 * r.protocolShare, 1)} % |`,
  ),
  '',
  `| seconds per round (mean over nodes and rounds) | ${runs.map((r) => `${r.nodes} nodes, H = ${r.innerSteps}`).join(' | ')} |`,
  `|---|${runs.map(() => '---').join('|')}|`,
  ...Object.keys(runs[0].phaseSeconds).map(
    (k) => `| ${k} | ${runs.map((r) => f(r.phaseSeconds[k as keyof typeof r.phaseSeconds])).join(' | ')} |`,
  ),
  ...(protocol
    ? [
        '',
        `The protocol's steps for n int8 deltas of d = ${d.toLocaleString('en-US')}, held on disk and read block by block, in one`,
        `process (no trainers): what grows with n. Encoding one delta (int8, from binary32): ${f(protocol.encodeSeconds)} s;`,
        `the outer step ${f(protocol.outerStepSeconds)} s, encoding the state ${f(protocol.encodeStateSeconds)} s and its chunk tree ${f(protocol.hashStateSeconds)} s, whatever n.`,
        'Peak RSS is the high-water mark of this process after each aggregation (it also holds the deltas as they',
        'were generated, one at a time).',
        '',
        '| n | validate all (s) | aggregate, nnm-trimmed-mean (s) | peak RSS (MB) |',
        '|---|---|---|---|',
        ...protocol.rows.map(
          (r) => `| ${r.n} | ${f(r.validateSeconds)} | ${f(r.aggregateSeconds)} | ${r.maxRssMB} |`,
        ),
      ]
    : []),
].join('\n')
process.stdout.write(`${table}\n`)
// A failed run's figures (zeros, "agreed: no") are printed, and never replace a good section.
const succeeded = runs.every((r) => r.agreed && r.roundsCompleted === ROUNDS)
if (outFile && succeeded) writeSection(outFile, `model-scale ${PRESET}`, table)
else if (outFile) say(`not written to ${outFile}: a run did not complete its ${ROUNDS} rounds in agreement`)
const top = runs[0]
process.stdout.write(
  `${JSON.stringify({
    parameters: d,
    nodes: top.nodes,
    agreed: top.agreed,
    peakRssMB: top.peakRssMB,
    proofBytesPerRound: top.proofBytesPerRound,
    phaseSeconds: top.phaseSeconds,
    protocolShare: top.protocolShare,
    hashMerkleBytesPerSecond: rate,
    ownStateBytes,
    trainerStateBytes,
    runs,
    protocolSteps: protocol,
  })}\n`,
)
process.exitCode = succeeded ? 0 : 1
