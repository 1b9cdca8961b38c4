// Per-node traffic past one machine, by simulation (issue 20 §4). The discrete-event simulator
// (src/sim/) runs the round's collect decision (round/policy.ts, round/deadline.ts), dtrain's
// transfer rules (SPEC.md 10: chunks, requests of 64, 4 fetches at a time, holders as sources)
// and gossipsub's mesh over modelled links, all-to-all as the protocol runs today or sharded as
// docs/sharded-aggregation.md proposes. Real parts: message sizes from the wire encoders, delta
// sizes from the codec, the aggregation rule's cost per value measured here, and the sharded
// aggregation itself, checked bit for bit against the whole-vector rule on small d.
//
// 1. Validation: a real `dtrain testnet` of 16 node processes on 127.0.0.1 (fp32 deltas of the
//    tiny and the small model) against the simulator's bytes per node for the same run (libp2p's
//    own count of each connection's bytes; target: within 10 %).
// 2. Rows: n = 16, 64, 256 at 100 Mbit/s and 1 Gbit/s, all-to-all and sharded, for a model of
//    124 M parameters with int8-block and sparse-2bit deltas: bytes per node per round and round
//    time (third simulated round, so the adaptive deadline has a history).
// 3. Byzantine aggregators (sharded, n = 64): a wrong chunk, 1 % wrong, all wrong, a withheld
//    result, two signed results; with a second replica and without (random checks alone), over
//    many seeds: how often a wrong result was applied, and the detection rate the formula gives.
//
// Usage: npm run bench:traffic [-- --json] [-- --no-validate] [-- --out FILE] [-- --seeds 20]
//        [-- --step-seconds 0.3] [-- --inner-steps 100]
//   default: writes its sections of BENCHMARKS.md and docs/sharded-aggregation.md;
//   --json: prints only, its last stdout line the JSON rows {n, mode, link, bytesPerNode,
//   roundSeconds, agreed, encoding}.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pairwiseSquaredDistances, sourceSet } from '../../src/aggregate/blocks.js'
import { aggregate, trimmedMeanOf } from '../../src/aggregate/rules.js'
import { aggregateByShards, shardRanges } from '../../src/aggregate/shards.js'
import { encodedDeltaSize } from '../../src/codec/delta.js'
import { LIMITS } from '../../src/constants.js'
import { HashStream } from '../../src/crypto/prng.js'
import {
  type AggregatorAttack,
  type MessageSizes,
  type RoundSimConfig,
  simulateRound,
} from '../../src/sim/round-sim.js'
import { parameterCount } from '../../src/train/parameters.js'
import { parseGenesis } from '../../src/wire/genesis.js'
import {
  encodeAnnouncementBody,
  encodeCommitBody,
  encodeEnvelope,
  encodeHaveBody,
} from '../../src/wire/messages.js'
import { writeSection } from './report.js'
import { runTestnet } from './testnet-run.js'

const args = process.argv.slice(2)
const value = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const json = args.includes('--json')
const validate = !args.includes('--no-validate')
/** --validate-only: the validation alone (prints; writes nothing) */
const validateOnly = args.includes('--validate-only')
const outFile = value('--out') ?? (json ? undefined : 'BENCHMARKS.md')
const SEEDS = Number(value('--seeds') ?? 20)
const STEP_SECONDS = Number(value('--step-seconds') ?? 0.3)
const INNER_STEPS = Number(value('--inner-steps') ?? 100)
const PARAMETERS = 124_000_000
const log = (line: string) => process.stderr.write(`${line}\n`)
const started = performance.now()

// --- message sizes from the wire encoders (signature 64 bytes), with gossipsub's envelope:
// topic (dtrain/1/<run id hex>/<suffix>), from, seqno, signature and key fields, about 200 bytes
const GOSSIP_ENVELOPE = 200
const h32 = new Uint8Array(32)
const peerId = new Uint8Array(38)
const header = { version: 1, runId: h32, round: 1000, peerId }
const signed = (body: Uint8Array) => encodeEnvelope(body, new Uint8Array(64)).length + GOSSIP_ENVELOPE
const messages: MessageSizes = {
  announcement: signed(
    encodeAnnouncementBody({
      ...header,
      baseHash: h32,
      deltaHash: h32,
      encodedSize: 125_000_000,
      encoding: 'int8-block',
      trainLoss: 2.5,
      sampleCount: 800,
      proofRoot: h32,
    }),
  ),
  have: signed(encodeHaveBody({ ...header, deltaHashes: [] })),
  commitBase: signed(
    encodeCommitBody({ ...header, weightsHash: h32, deltaHashes: [], stateRoot: h32, stateSize: 1e9 }),
  ),
  // proposed: round, shard index, root, size and the signature, as an announcement carries
  shardResult: signed(
    encodeAnnouncementBody({
      ...header,
      baseHash: h32,
      deltaHash: h32,
      encodedSize: 1e6,
      encoding: 'int8-block',
      trainLoss: 0,
      sampleCount: 0,
      proofRoot: new Uint8Array(0),
    }),
  ),
  evidence: 2 * 400 + 20 * 34,
}
log(`message sizes (bytes, gossip envelope included): ${JSON.stringify(messages)}`)

// --- the rule's cost, measured here on the real functions (NNM + trimmed mean, the default)
function measureRates() {
  const n = 16
  const d = 1 << 16
  const s = new HashStream('bench-traffic', new Uint8Array([1]))
  const vectors = Array.from({ length: n }, () =>
    Float32Array.from({ length: d }, () => s.nextSymmetricUnit()),
  )
  const set = sourceSet(vectors)
  let t = performance.now()
  for (let r = 0; r < 3; r++) pairwiseSquaredDistances(set)
  const distance = (performance.now() - t) / 1000 / 3 / ((d * n * (n - 1)) / 2)
  t = performance.now()
  for (let r = 0; r < 3; r++) trimmedMeanOf(set, 3)
  const rule = (performance.now() - t) / 1000 / 3 / (d * n)
  return { ruleSecondsPerValue: 2 * rule, distanceSecondsPerValue: distance }
}
const rates = measureRates()
log(
  `rule ${(rates.ruleSecondsPerValue * 1e9).toFixed(2)} ns per value (NNM's means and the trimmed mean), distances ${(rates.distanceSecondsPerValue * 1e9).toFixed(2)} ns per coordinate and pair`,
)

/** The sharded aggregate equals the whole-vector rule bit for bit on small d (the real functions). */
function shardedMatchesWhole(n: number, shards: number): boolean {
  const d = shards * 256
  const s = new HashStream('bench-traffic-check', new Uint8Array([n & 0xff, n >> 8]))
  const contributions = Array.from({ length: n }, (_, j) => ({
    id: new Uint8Array([j & 0xff, j >> 8, 1]),
    values: Float32Array.from({ length: d }, () => s.nextSymmetricUnit()),
  }))
  const rule = { rule: 'nnm-trimmed-mean' as const, faultFraction: 0.2 }
  const whole = aggregate(rule, contributions)
  const sharded = aggregateByShards(rule, contributions, shardRanges(d, shards, 256))
  return Buffer.from(whole.buffer).equals(Buffer.from(sharded.buffer))
}

interface Scenario {
  n: number
  mode: 'all-to-all' | 'sharded'
  bitsPerSecond: number
  latencySeconds: number
  deltaBytes: number
  aggregateBytes: number
  parameters: number
  granule: number
  replicas?: number
  checkedChunks?: number
  byzantine?: number[]
  attack?: AggregatorAttack
  computeSeconds: number[]
  rounds?: number
  seed?: number
}

function configOf(s: Scenario, history: number[][], seed: number): RoundSimConfig {
  const link = {
    upBytesPerSecond: s.bitsPerSecond / 8,
    downBytesPerSecond: s.bitsPerSecond / 8,
    latencySeconds: s.latencySeconds,
    loss: 0,
  }
  const shards = Math.min(s.n, Math.ceil(s.parameters / s.granule))
  return {
    mode: s.mode,
    links: Array.from({ length: s.n }, () => link),
    computeSeconds: s.computeSeconds,
    deltaBytes: s.deltaBytes,
    aggregateBytes: s.aggregateBytes,
    parameters: s.parameters,
    shards: shardRanges(s.parameters, shards, s.granule),
    replicas: s.replicas ?? 2,
    checkedChunks: s.checkedChunks ?? 1,
    distanceRule: true,
    ...rates,
    byzantine: s.byzantine ?? [],
    attack: s.attack ?? 'none',
    messages,
    chunkBytes: LIMITS.chunkBytes,
    meshDegree: 6,
    minCollectMs: 2000,
    // a run of 124 M parameters needs more than the 120 s default: all-to-all at n = 256 over
    // 100 Mbit/s moves for about 45 minutes (a deadline that cuts it splits the sets)
    collectTimeoutMs: 3_600_000,
    history,
    settleSeconds: LIMITS.settleTimeoutMs / 1000,
    seed: new Uint8Array([seed & 0xff, (seed >> 8) & 0xff, s.n & 0xff, s.n >> 8]),
  }
}

/** Simulates `rounds` rounds (the deadline learns from the earlier ones); returns the last. */
function simulate(s: Scenario) {
  const history: number[][] = []
  let last: ReturnType<typeof simulateRound> | undefined
  let bytes = 0
  let transfer = 0
  let gossip = 0
  for (let r = 0; r < (s.rounds ?? 3); r++) {
    last = simulateRound(configOf(s, history, (s.seed ?? 0) * 31 + r))
    history.push(last.arrivalsMs)
    bytes += last.bytesReceived.reduce((a, b) => a + b, 0)
    transfer += last.receivedByKind.transfer
    gossip += last.receivedByKind.gossip
  }
  const result = last!
  const mean = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0) / xs.length
  return {
    transferBytesPerNode: transfer / s.n,
    gossipBytesPerNode: gossip / s.n,
    bytesPerNode: mean(result.bytesReceived),
    bytesSentPerNode: mean(result.bytesSent),
    maxBytesSent: Math.max(...result.bytesSent),
    totalBytesPerNode: bytes / s.n,
    roundSeconds: result.roundSeconds,
    agreed: result.agreed,
    corruptApplied: result.corruptApplied,
    detections: result.detections,
  }
}

const computeOf = (n: number, seconds: number) =>
  // every tenth node a straggler at 1.5 times the compute
  Array.from({ length: n }, (_, i) => (i % 10 === 9 ? 1.5 : 1) * seconds)
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 0)} MB`

// --- 1. validation against real processes
interface Validation {
  preset: string
  parameters: number
  realBytesPerNode: number
  simulatedBytesPerNode: number
  ratio: number
  rounds: number
  agreed: boolean
  realTransferBytes: number
  simulatedTransferBytes: number
  realGossipBytes: number
  simulatedGossipBytes: number
  realDhtBytes: number
}
async function validation(preset: string): Promise<Validation> {
  const NODES = 16
  const ROUNDS = 3
  const summary = await runTestnet({
    nodes: NODES,
    rounds: ROUNDS,
    innerSteps: 20,
    preset,
    extra: ['--encoding', 'fp32'],
  })
  const real = summary.linkBytesReceivedPerNode.reduce((a, b) => a + b, 0) / NODES
  // the same run simulated: 16 nodes on loopback, fp32 deltas of the run's model; 16 processes
  // share 2 cores, so a round's compute is about 8 times one node's
  const genesis = parseGenesis(JSON.parse(readFileSync(join(summary.stateDir, 'genesis.json'), 'utf8')))
  const parameters = parameterCount(genesis.model)
  const seconds = summary.secondsPerRound.reduce((a, b) => a + b, 0) / summary.secondsPerRound.length
  const sim = simulate({
    n: NODES,
    mode: 'all-to-all',
    bitsPerSecond: 10e9,
    latencySeconds: 0.0001,
    deltaBytes: encodedDeltaSize(parameters, { encoding: 'fp32' }),
    aggregateBytes: 4 * parameters,
    parameters,
    granule: 256,
    computeSeconds: computeOf(NODES, Math.max(1, seconds - 3)),
    rounds: summary.roundsCompleted,
  })
  const perNode = (protocol: string) => (summary.linkBytesByProtocol[`${protocol} received`] ?? 0) / NODES
  const gossipProtocol =
    Object.keys(summary.linkBytesByProtocol)
      .find((p) => p.startsWith('/meshsub/'))
      ?.replace(/ (sent|received)$/, '') ?? '/meshsub/1.2.0'
  const dhtProtocol = Object.keys(summary.linkBytesByProtocol)
    .find((p) => p.includes('/kad/'))
    ?.replace(/ (sent|received)$/, '')
  const result = {
    preset,
    parameters,
    realBytesPerNode: real,
    simulatedBytesPerNode: sim.totalBytesPerNode,
    ratio: sim.totalBytesPerNode / real,
    rounds: summary.roundsCompleted,
    agreed: summary.agreed,
    // the chunk protocol's and gossipsub's stream payloads, received per node, real and simulated
    realTransferBytes: perNode('/dtrain/chunks/1.0.0'),
    simulatedTransferBytes: sim.transferBytesPerNode,
    realGossipBytes: perNode(gossipProtocol),
    simulatedGossipBytes: sim.gossipBytesPerNode,
    realDhtBytes: dhtProtocol ? perNode(dhtProtocol) : 0,
  }
  log(
    `validation (${preset}, ${parameters} parameters): real bytes by protocol, per node (stream payloads): ${Object.entries(
      summary.linkBytesByProtocol,
    )
      .sort((a, b) => b[1] - a[1])
      .map(([protocol, bytes]) => `${protocol} ${mb(bytes / NODES)}`)
      .join(', ')}`,
  )
  log(
    `validation: transfers real ${mb(result.realTransferBytes)} simulated ${mb(result.simulatedTransferBytes)}; gossip real ${mb(result.realGossipBytes)} simulated ${mb(result.simulatedGossipBytes)}; DHT real ${mb(result.realDhtBytes)} (not simulated)`,
  )
  log(
    `validation: real ${mb(real)} per node in ${summary.roundsCompleted} rounds, simulated ${mb(sim.totalBytesPerNode)} (ratio ${result.ratio.toFixed(3)})`,
  )
  return result
}

// the tiny model, whose deltas (62.6 KB) weigh less than gossip's control traffic, and small
// (1.08 MB), whose deltas outweigh it as a large model's do
const VALIDATION_PRESETS = ['tiny', 'small']
const validations: Validation[] = []
if (validate || validateOnly)
  for (const preset of VALIDATION_PRESETS) validations.push(await validation(preset))
if (validateOnly) process.exit(0)

// --- 2. the rows
const LINKS = [
  { name: '100 Mbit/s', bitsPerSecond: 1e8 },
  { name: '1 Gbit/s', bitsPerSecond: 1e9 },
]
const ENCODINGS = [
  { name: 'int8-block', options: { encoding: 'int8-block' as const, blockSize: 256 }, granule: 256 },
  {
    name: 'sparse-2bit',
    options: { encoding: 'sparse-2bit' as const, blockSize: 4096, k: 128 },
    granule: 4096,
  },
]
// the aggregate travels in int8-block (shard results): a sum of sparse deltas is not sparse
const aggregateBytes = encodedDeltaSize(PARAMETERS, { encoding: 'int8-block', blockSize: 256 })
/** The rows' model: 124 M parameters in `encoding`, H steps of STEP_SECONDS, 25 ms links. */
function modelScenario(n: number, encoding: { granule: number }, deltaBytes: number) {
  return {
    n,
    latencySeconds: 0.025,
    deltaBytes,
    aggregateBytes,
    parameters: PARAMETERS,
    granule: encoding.granule,
    computeSeconds: computeOf(n, INNER_STEPS * STEP_SECONDS),
  }
}

interface Row {
  n: number
  mode: 'all-to-all' | 'sharded'
  link: string
  encoding: string
  bytesPerNode: number
  roundSeconds: number
  agreed: boolean
  deltasPerNode: number
}
const rows: Row[] = []
const shardCheck = new Map<number, boolean>()
for (const encoding of ENCODINGS) {
  const deltaBytes = encodedDeltaSize(PARAMETERS, encoding.options)
  for (const n of [16, 64, 256]) {
    if (!shardCheck.has(n)) shardCheck.set(n, shardedMatchesWhole(n, Math.min(n, 64)))
    for (const link of LINKS) {
      for (const mode of ['all-to-all', 'sharded'] as const) {
        const t = performance.now()
        const result = simulate({
          ...modelScenario(n, encoding, deltaBytes),
          mode,
          bitsPerSecond: link.bitsPerSecond,
        })
        const row: Row = {
          n,
          mode,
          link: link.name,
          encoding: encoding.name,
          bytesPerNode: Math.round(result.bytesPerNode),
          roundSeconds: Number(result.roundSeconds.toFixed(1)),
          agreed: result.agreed && (mode === 'all-to-all' || shardCheck.get(n) === true),
          deltasPerNode: Number((result.bytesPerNode / deltaBytes).toFixed(1)),
        }
        rows.push(row)
        log(
          `${encoding.name} n = ${n} ${link.name} ${mode}: ${mb(row.bytesPerNode)} per node (${row.deltasPerNode} deltas), round ${row.roundSeconds} s, agreed ${row.agreed} (${((performance.now() - t) / 1000).toFixed(1)} s)`,
        )
      }
    }
  }
}

// --- 3. Byzantine aggregators
interface AttackRow {
  attack: AggregatorAttack
  replicas: number
  rounds: number
  corruptApplied: number
  disagreed: number
  caughtBy: string
  predicted: string
  bytesPerNode: number
  roundSeconds: number
}
const attackRows: AttackRow[] = []
{
  const n = 64
  const byzantine = [5, 17, 29, 41, 53, 60] // about 10 %, spread over the peer list
  const encoding = ENCODINGS[0]
  const deltaBytes = encodedDeltaSize(PARAMETERS, encoding.options)
  const shards = Math.min(n, Math.ceil(PARAMETERS / encoding.granule))
  const resultChunks = Math.ceil(aggregateBytes / shards / LIMITS.chunkBytes)
  const honest = n - byzantine.length
  for (const replicas of [2, 1]) {
    for (const attack of ['wrong-chunk', 'wrong-1pct', 'wrong-all', 'withhold', 'equivocate'] as const) {
      let corrupt = 0
      let disagreed = 0
      let bytes = 0
      let seconds = 0
      const caught = { mismatch: 0, check: 0, evidence: 0 }
      for (let seed = 0; seed < SEEDS; seed++) {
        const result = simulate({
          ...modelScenario(n, encoding, deltaBytes),
          mode: 'sharded',
          bitsPerSecond: 1e9,
          replicas,
          byzantine,
          attack,
          rounds: 1,
          seed: 1000 + seed,
        })
        if (result.corruptApplied) corrupt++
        if (!result.agreed) disagreed++
        bytes += result.bytesPerNode
        seconds += result.roundSeconds
        for (const k of ['mismatch', 'check', 'evidence'] as const) caught[k] += result.detections[k]
      }
      // a shard all of whose replicas are Byzantine publishes one wrong root: only random checks
      // (one chunk per honest node) can catch it; per wrong chunk the chance is 1 - (1 - 1/C)^h
      const wrong =
        attack === 'wrong-chunk'
          ? 1
          : attack === 'wrong-1pct'
            ? Math.max(1, Math.ceil(0.01 * resultChunks))
            : resultChunks
      const total = shards * resultChunks
      const perCheck = wrong / total
      const predicted =
        attack.startsWith('wrong') && replicas === 1
          ? `caught with p = ${(1 - (1 - perCheck) ** honest).toFixed(3)} per wrong shard and round`
          : attack.startsWith('wrong')
            ? 'a second replica disagrees unless both are Byzantine'
            : attack === 'withhold'
              ? 'fetched from the other replica, or computed from the deltas'
              : 'two signed roots: evidence'
      const by = Object.entries(caught)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')
      attackRows.push({
        attack,
        replicas,
        rounds: SEEDS,
        corruptApplied: corrupt,
        disagreed,
        caughtBy: by || '-',
        predicted,
        bytesPerNode: bytes / SEEDS,
        roundSeconds: seconds / SEEDS,
      })
      log(
        `attack ${attack}, ${replicas} replica(s): wrong result applied in ${corrupt}/${SEEDS} rounds, honest nodes disagreed in ${disagreed}, caught by ${by || 'nothing'}`,
      )
    }
  }
}

const totalSeconds = (performance.now() - started) / 1000
const table = [
  '| n | encoding | link | all-to-all: bytes per node | round | sharded: bytes per node | round | sharded / all-to-all bytes | agreed |',
  '|---|---|---|---|---|---|---|---|---|',
  ...ENCODINGS.flatMap((e) =>
    [16, 64, 256].flatMap((n) =>
      LINKS.map((l) => {
        const of = (mode: string) =>
          rows.find((r) => r.n === n && r.encoding === e.name && r.link === l.name && r.mode === mode)!
        const a = of('all-to-all')
        const s = of('sharded')
        return `| ${n} | ${e.name} | ${l.name} | ${mb(a.bytesPerNode)} (${a.deltasPerNode} deltas) | ${a.roundSeconds} s | ${mb(s.bytesPerNode)} (${s.deltasPerNode} deltas) | ${s.roundSeconds} s | ${(s.bytesPerNode / a.bytesPerNode).toFixed(3)} | ${a.agreed && s.agreed ? 'yes' : 'NO'} |`
      }),
    ),
  ),
]
const lines = [
  '## Per-node traffic by simulation: all-to-all against sharded exchange',
  '',
  `Written by \`npm run bench:traffic${args.length ? ` -- ${args.filter((a) => a !== '--json').join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)} (${totalSeconds.toFixed(0)} s on this machine: 2 cores). Simulator: src/sim/ (docs/sharded-aggregation.md).`,
  '',
  ...(validations.length > 0
    ? [
        `Validation against real processes: \`dtrain testnet --nodes 16 --rounds 3 --preset P --dataset synthetic --inner-steps 20 --encoding fp32\` on 127.0.0.1, and the simulator on the same run (its model, its rounds, its measured round time). Real bytes are libp2p's count of every connection's bytes (gossip, transfers, the DHT, identify, pings, framing), received per node over the run; by protocol, the stream payloads. Target: within 10 %.`,
        '',
        '| preset | parameters | real, per node | simulated | ratio | target | transfers real / simulated | gossipsub real / simulated | DHT real (not simulated) |',
        '|---|---|---|---|---|---|---|---|---|',
        ...validations.map(
          (v) =>
            `| ${v.preset} | ${v.parameters.toLocaleString('en-US')} | ${mb(v.realBytesPerNode)} | ${mb(v.simulatedBytesPerNode)} | ${v.ratio.toFixed(3)} | ${Math.abs(v.ratio - 1) <= 0.1 ? 'met' : 'NOT met'} | ${mb(v.realTransferBytes)} / ${mb(v.simulatedTransferBytes)} | ${mb(v.realGossipBytes)} / ${mb(v.simulatedGossipBytes)} | ${mb(v.realDhtBytes)} |`,
        ),
        '',
        "The simulator's gossip is the eager flood of each round's messages over a mesh of degree 6, and each node's re-announcements (one copy to every peer every 2 s until its round settles). The real nodes send more haves: 16 processes on 2 cores fetch their deltas one after another, so the 250 ms batching joins few of them, where the simulator's fetches end together; each have is flooded over a mesh of up to 12 peers, and gossipsub adds IHAVE/IWANT and heartbeats. That traffic grows with the run's duration and the number of messages, not with the deltas: with the tiny model's deltas of 62.6 KB it is most of the bytes, with deltas of a megabyte or more it is not.",
      ]
    : ['Validation against real processes: not run (`--no-validate`).']),
  '',
  `Rows: a model of ${PARAMETERS.toLocaleString('en-US')} parameters, H = ${INNER_STEPS} inner steps of ${STEP_SECONDS} s (every tenth node a straggler at 1.5 times), NNM + trimmed mean (its cost per value measured here: ${(rates.ruleSecondsPerValue * 1e9).toFixed(2)} ns, distances ${(rates.distanceSecondsPerValue * 1e9).toFixed(2)} ns per coordinate and pair), symmetric links with 25 ms one-way latency, gossipsub mesh degree 6. Bytes are what a node receives in the third round. Sharded: ${'`'}min(n, d / granule)${'`'} shards on chunk (int8: 256-value block; sparse-2bit: 4096-value chunk) boundaries, 2 aggregators each, partial distances exchanged first, shard results in int8-block (the sum of sparse deltas is not sparse), one random chunk of the results checked by every node. "agreed": every honest node applied the same results, and the sharded aggregate equals the whole-vector rule bit for bit on small d with the real functions.`,
  '',
  ...table,
  '',
  "What the simulator leaves out: gossipsub heartbeats and IHAVE/IWANT, identify and pings (small beside megabytes a round; they are in the validation's real count); TCP/IP headers (about 3.5 %); TCP slow start; link asymmetry. An all-to-all node uploads as much as it downloads on average, but a node whose delta many fetch first serves more: the round time includes that.",
]
const attackLines = [
  '## Byzantine aggregators (simulated)',
  '',
  `Written by \`npm run bench:traffic\` on ${new Date().toISOString().slice(0, 10)}: n = 64 nodes, 6 of them Byzantine aggregators (they train and send honest deltas), a model of ${PARAMETERS.toLocaleString('en-US')} parameters in int8-block, 1 Gbit/s, every honest node checks one random chunk of the shard results; ${SEEDS} rounds (seeds) per row. A wrong result is caught when a second replica's root differs (every node recomputes that shard from the deltas), when a node's random check finds a chunk that does not recompute (it gossips the signed result with the chunk as evidence, and every node that has not settled recomputes), or when one aggregator signs two results (evidence).`,
  '',
  '| attack | replicas | rounds with a wrong result applied | rounds the honest nodes disagreed | caught by (over all rounds) | expected | bytes per node | round |',
  '|---|---|---|---|---|---|---|---|',
  ...attackRows.map(
    (r) =>
      `| ${r.attack} | ${r.replicas} | ${r.corruptApplied} of ${r.rounds} | ${r.disagreed} of ${r.rounds} | ${r.caughtBy} | ${r.predicted} | ${mb(r.bytesPerNode)} | ${r.roundSeconds.toFixed(1)} s |`,
  ),
]
const report = lines.join('\n')
const attackReport = attackLines.join('\n')
if (outFile) {
  writeSection(outFile, 'traffic', report)
  writeSection('docs/sharded-aggregation.md', 'traffic-attacks', attackReport)
}
log(report)
log(attackReport)
process.stdout.write(
  `${JSON.stringify(rows.map(({ n, mode, link, bytesPerNode, roundSeconds, agreed, encoding }) => ({ n, mode, link, bytesPerNode, roundSeconds, agreed, encoding })))}\n`,
)
