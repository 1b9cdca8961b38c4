// Scale (issue: the headline result and the failure drills): N real node processes on this
// machine (`dtrain testnet`, tiny model) complete R rounds; reports whether they agree, seconds
// per round, each node's peak resident memory, bytes per node, and the CPU the protocol costs
// (announce: encode, hash, sign; collect: gossip, transfer, chunk verification; aggregate;
// commit: state hash, sign, settle) as a share of each node's CPU time and of round time.
//
// Usage: npm run bench:scale [-- --nodes 16] [-- --rounds 10] [-- --inner-steps 20] [-- --json]
//        [-- --out FILE]   (default: writes its section of BENCHMARKS.md; --json prints only)
import { writeSection } from './report.js'
import { runTestnet } from './testnet-run.js'

const args = process.argv.slice(2)
const value = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const json = args.includes('--json')
const NODES = Number(value('--nodes') ?? 16)
const ROUNDS = Number(value('--rounds') ?? 10)
const INNER_STEPS = Number(value('--inner-steps') ?? 20)
const outFile = value('--out') ?? (json ? undefined : 'BENCHMARKS.md')
const started = performance.now()
const summary = await runTestnet({ nodes: NODES, rounds: ROUNDS, innerSteps: INNER_STEPS })
const wallSeconds = (performance.now() - started) / 1000

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const PROTOCOL_PHASES = ['announce', 'collect', 'aggregate', 'commit']
const cpuOf = (phases: Record<string, number>, names: string[]) =>
  names.reduce((s, n) => s + (phases[n] ?? 0), 0)
const totalCpu = summary.cpuSecondsPerNode.map((c) => cpuOf(c, Object.keys(c)))
const protocolCpu = summary.cpuSecondsPerNode.map((c) => cpuOf(c, PROTOCOL_PHASES))
const roundSeconds = summary.secondsPerRound.reduce((a, b) => a + b, 0)
const result = {
  nodes: NODES,
  rounds: ROUNDS,
  roundsCompleted: summary.roundsCompleted,
  agreed: summary.agreed,
  secondsPerRoundMedian: median(summary.secondsPerRound),
  peakRssMbMedian: median(summary.peakRssBytesPerNode) / 1e6,
  peakRssMbMax: Math.max(...summary.peakRssBytesPerNode) / 1e6,
  bytesSentPerNodeMedian: median(summary.bytesSentPerNode),
  // share of each node's own CPU time spent in the protocol phases (median over nodes)
  protocolShareOfCpu: median(protocolCpu.map((p, i) => p / totalCpu[i])),
  // protocol CPU seconds per node per round against the round's wall time
  protocolShareOfRoundTime: median(protocolCpu) / roundSeconds,
  evalLoss: [summary.evalLoss[0], summary.evalLoss.at(-1) ?? Number.NaN],
  cpuSecondsPerRound: Object.fromEntries(
    Object.keys(summary.cpuSecondsPerNode[0] ?? {}).map((phase) => [
      phase,
      median(summary.cpuSecondsPerNode.map((c) => c[phase] ?? 0)) / summary.roundsCompleted,
    ]),
  ),
  wallSeconds,
}
const pct = (x: number) => `${(100 * x).toFixed(1)} %`
const lines = [
  `## Scale: ${NODES} node processes on one machine`,
  '',
  `Written by \`npm run bench:scale${args.length ? ` -- ${args.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)} (2 cores, ${wallSeconds.toFixed(0)} s): \`dtrain testnet --nodes ${NODES} --rounds ${ROUNDS} --preset tiny --dataset synthetic --inner-steps ${INNER_STEPS}\`, every node a separate process with its own libp2p host on 127.0.0.1.`,
  '',
  '| measure | value |',
  '|---|---|',
  `| rounds completed | ${summary.roundsCompleted} of ${ROUNDS} |`,
  `| all nodes hold the same weights | ${summary.agreed ? 'yes' : 'NO'} |`,
  `| held-out loss | ${result.evalLoss[0].toFixed(3)} -> ${result.evalLoss[1].toFixed(3)} |`,
  `| seconds per round (median) | ${result.secondsPerRoundMedian.toFixed(1)} |`,
  `| peak resident memory per node (median / max) | ${result.peakRssMbMedian.toFixed(0)} MB / ${result.peakRssMbMax.toFixed(0)} MB |`,
  `| bytes sent per node (median) | ${(result.bytesSentPerNodeMedian / 1e6).toFixed(2)} MB |`,
  `| protocol CPU (announce, collect, aggregate, commit) as a share of the node's CPU | ${pct(result.protocolShareOfCpu)} |`,
  `| protocol CPU per node as a share of round time | ${pct(result.protocolShareOfRoundTime)} |`,
  `| CPU seconds per node per round, by phase (median over nodes) | ${Object.entries(
    result.cpuSecondsPerRound,
  )
    .map(([phase, seconds]) => `${phase} ${seconds.toFixed(2)}`)
    .join(', ')} |`,
  '',
  `All ${NODES} processes share 2 cores, so a round lasts about ${NODES / 2} times one node's training: round time here measures the machine, not the protocol. The CPU shares count the process's CPU time (user + system) during each phase; work a node does for its peers while it trains (serving chunks, relaying gossip) counts as training, so the protocol share is a lower bound by that much.`,
]
if (outFile) writeSection(outFile, `scale-${NODES}`, lines.join('\n'))
process.stderr.write(`${lines.join('\n')}\n`)
process.stdout.write(`${JSON.stringify(result)}\n`)
if (!summary.agreed || summary.roundsCompleted !== ROUNDS) process.exitCode = 1
