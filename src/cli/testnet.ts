// `dtrain testnet`: a local testnet of N node processes on 127.0.0.1 (node 0 is the others'
// bootstrap peer), with progress while it runs and a JSON summary at the end.
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodedDeltaSize } from '../codec/delta.js'
import { writeSwarmKeyFile } from '../net/swarm-key.js'
import { createKeyFile } from '../store/keys.js'
import type { BackendName } from '../train/backend-names.js'
import { parameterCount } from '../train/parameters.js'
import {
  defaultGenesis,
  describeModel,
  encodeOptionsFor,
  type Genesis,
  type GenesisOptions,
  runIdHex,
} from '../wire/genesis.js'
import { ConfigError, readGenesisFile } from './config-files.js'
import type { NodeEvent } from './events.js'

export interface TestnetOptions {
  /** default: the genesis file's round.expectedPeers */
  nodes?: number
  rounds: number
  state?: string
  json: boolean
  backend: BackendName
  /** the Python of the torch backends */
  python?: string
  /** torch's CPU threads per node; default: the cores shared among the nodes */
  trainThreads?: number
  genesis: GenesisOptions
  /** a genesis the user wrote (`dtrain init`, edited): the testnet runs it as it is, instead of `genesis` */
  genesisFile?: string
  /** the run's own text (genesis dataset 'text'), given to every node */
  dataPath?: string
  /** rounds of proofs each node keeps (they take 62 MB per round with the default model) */
  proofRetention?: number
  startTimeout: number
  /** Run as a private network: generate STATE/swarm.key and give it to every node. */
  private: boolean
}

export interface TestnetSummary {
  nodes: number
  rounds: number
  roundsCompleted: number
  runId: string
  stateDir: string
  /** held-out loss of the global weights: index 0 before training, index r after round r */
  evalLoss: number[]
  /** a classifier's held-out accuracy after each round (index r: round r); empty for a language model */
  evalAccuracy: number[]
  /** mean inner-loop train loss of each node, per round */
  trainLoss: number[][]
  modelHashes: string[]
  agreed: boolean
  bytesSentPerNode: number[]
  /** every byte each node's connections sent and received (libp2p's count, framing included) */
  linkBytesSentPerNode: number[]
  linkBytesReceivedPerNode: number[]
  /** each protocol's stream payload summed over the nodes ("/meshsub/1.1.0 sent") */
  linkBytesByProtocol: Record<string, number>
  bytesReceivedPerNode: number[]
  /** how the nodes exchange deltas: all-to-all, or sharded (SPEC.md 18) */
  exchange: 'all-to-all' | { shards: number; replicas: number }
  /** the size of one encoded delta of this run (SPEC.md 6.7) */
  deltaBytes: number
  /**
   * by round, each node's bytes fetched in that round (deltas, their parts, shard results, states)
   * in encoded deltas: `(n - 1)` all-to-all; null where a node did not play the round
   */
  deltasReceivedPerRound: Array<Array<number | null>>
  secondsPerRound: number[]
  /** each node's largest resident memory at the end of a round */
  peakRssBytesPerNode: number[]
  /** each node's CPU seconds over the run, by round phase */
  cpuSecondsPerNode: Array<Record<string, number>>
  backend: string
}

interface Child {
  index: number
  process: ChildProcess
  peerId?: string
  addresses?: string[]
  initialEvalLoss?: number
  reports: Extract<NodeEvent, { type: 'round' }>['report'][]
  done?: Extract<NodeEvent, { type: 'done' }>
  exitCode?: number | null
  backend?: string
}

const cliPath = resolve(fileURLToPath(import.meta.url), '../main.js')

export async function runTestnet(options: TestnetOptions): Promise<number> {
  const progress = options.json ? process.stderr : process.stdout
  const say = (line: string) => progress.write(`${line}\n`)
  const genesis: Genesis =
    options.genesisFile !== undefined
      ? await readGenesisFile(options.genesisFile)
      : defaultGenesis({
          salt: randomBytes(8).toString('hex'),
          ...options.genesis,
          expectedPeers: options.nodes,
          plannedRounds: options.rounds, // the inner learning rate decays on a cosine over the run
        })
  if (
    options.genesisFile !== undefined &&
    genesis.dataset.source === 'text' &&
    options.dataPath === undefined
  )
    throw new ConfigError(
      `genesis file ${options.genesisFile} trains on its own text (dataset.source "text"): give the nodes a copy with --data PATH`,
    )
  const nodes = options.nodes ?? genesis.round.expectedPeers
  const stateDir = options.state ? resolve(options.state) : await mkdtemp(join(tmpdir(), 'dtrain-testnet-'))
  await mkdir(stateDir, { recursive: true })
  const genesisPath = join(stateDir, 'genesis.json')
  await writeFile(genesisPath, `${JSON.stringify(genesis, null, 2)}\n`)
  const runId = runIdHex(genesis)
  const deltaBytes = encodedDeltaSize(
    parameterCount(genesis.model),
    encodeOptionsFor(genesis.delta, parameterCount(genesis.model)),
  )
  const swarmKeyPath = join(stateDir, 'swarm.key')
  if (options.private) await writeSwarmKeyFile(swarmKeyPath)
  say(
    `dtrain testnet: ${nodes} nodes, ${options.rounds} rounds, run ${runId.slice(0, 16)}, state in ${stateDir}`,
  )
  if (options.genesisFile !== undefined)
    say(
      `genesis: ${options.genesisFile}` +
        (nodes === genesis.round.expectedPeers
          ? ''
          : ` (it expects ${genesis.round.expectedPeers} peers a round, and ${nodes} nodes run)`),
    )
  say(
    `model: ${describeModel(genesis.model)}, H = ${genesis.inner.steps} inner steps, ` +
      `batch ${genesis.inner.batchSize}, ${genesis.delta.encoding} deltas, ${genesis.aggregation.rule} aggregation` +
      (genesis.exchange === undefined
        ? ''
        : `, sharded exchange (${genesis.exchange.shards} shards, ${genesis.exchange.replicas} aggregators each)`) +
      (options.private ? ', private network (swarm.key)' : ''),
  )

  const children: Child[] = []
  /** Every node's report of round `r` (a node that adopted the network's state skipped rounds). */
  const reportsOf = (r: number) => children.flatMap((c) => c.reports.filter((x) => x.round === r))
  let interrupted = false
  let failed = false
  const killAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === undefined) c.process.kill(signal)
  }
  const onSigint = () => {
    interrupted = true
    say('interrupted: stopping every node')
    killAll('SIGTERM')
  }
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigint)

  const finished = new Promise<void>((resolveAll) => {
    const check = () => {
      const allSpawned = children.length === nodes || failed || interrupted
      if (allSpawned && children.every((c) => c.exitCode !== undefined)) resolveAll()
    }
    const spawnNode = async (index: number, bootstrap: string[]): Promise<Child> => {
      const dir = join(stateDir, `node-${index}`)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      await createKeyFile(join(dir, 'key')).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err
      })
      const log = createWriteStream(join(dir, 'node.log'))
      const args = [
        'start',
        '--genesis',
        genesisPath,
        '--state',
        dir,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--rounds',
        String(options.rounds),
        '--backend',
        options.backend,
        ...(options.python ? ['--python', options.python] : []),
        '--train-threads',
        String(options.trainThreads ?? Math.max(1, Math.floor(availableParallelism() / nodes))),
        '--api',
        '127.0.0.1:0',
        // several nodes share this machine's cores already
        '--train-workers',
        '1',
        '--proof-retention',
        String(options.proofRetention ?? 2),
        ...(options.dataPath ? ['--data', options.dataPath] : []),
        '--start-timeout',
        String(options.startTimeout),
        ...bootstrap.flatMap((b) => ['--bootstrap', b]),
        ...(options.private ? ['--swarm-key', swarmKeyPath] : []),
      ]
      const proc = fork(cliPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
      proc.stderr?.pipe(log)
      const child: Child = { index, process: proc, reports: [] }
      children.push(child)
      proc.on('message', (event: NodeEvent) => onEvent(child, event))
      proc.on('exit', (code) => {
        child.exitCode = code
        if (code !== 0 && !interrupted) {
          failed = true
          say(`node ${index} exited with code ${code}; its log is ${join(dir, 'node.log')}`)
          killAll('SIGTERM')
        }
        check()
      })
      return child
    }

    const onEvent = (child: Child, event: NodeEvent) => {
      switch (event.type) {
        case 'listening':
          child.peerId = event.peerId
          child.addresses = event.addresses
          child.backend = event.backend
          if (child.index === 0) {
            if (event.api) say(`node 0 status page: ${event.api}/ (metrics at ${event.api}/metrics)`)
            for (let i = 1; i < nodes; i++) void spawnNode(i, event.addresses)
          }
          break
        case 'ready':
          child.initialEvalLoss = event.initialEvalLoss
          break
        case 'round':
          child.reports.push(event.report)
          reportRound(event.report.round)
          break
        case 'synced':
          say(`node ${child.index}: adopted the network's state of round ${event.round + 1} (${event.why})`)
          break
        case 'done':
          child.done = event
          break
        case 'error':
          say(`node ${child.index}: ${event.message}`)
          break
      }
    }

    const printed = new Set<number>()
    const reportRound = (round: number) => {
      // A node that adopted the network's state (behind) skipped rounds: it never reports them.
      if (children.length < nodes || printed.has(round)) return
      if (!children.every((c) => (c.reports.at(-1)?.round ?? -1) >= round)) return
      printed.add(round)
      const reports = reportsOf(round)
      if (reports.length === 0) return
      const hashes = new Set(reports.map((r) => r.weightsHash))
      const mean = (f: (r: (typeof reports)[number]) => number) =>
        reports.reduce((s, r) => s + f(r), 0) / reports.length
      const max = (f: (r: (typeof reports)[number]) => number) => Math.max(...reports.map(f))
      say(
        `round ${round + 1}/${options.rounds}  train loss [${reports.map((r) => r.trainLoss.toFixed(3)).join(' ')}]  ` +
          `held-out ${reports[0].evalLoss.toFixed(3)} (${reports[0].evalAccuracy === null ? `ppl ${reports[0].evalPerplexity.toFixed(2)}` : `accuracy ${(100 * reports[0].evalAccuracy).toFixed(1)} %`})  ` +
          `sent ${formatBytes(mean((r) => r.bytesSent))}/node  recv ${formatBytes(mean((r) => r.bytesReceived))}/node  ` +
          `train ${max((r) => r.phaseSeconds.train).toFixed(1)}s collect ${max((r) => r.phaseSeconds.collect).toFixed(1)}s ` +
          `aggregate ${max((r) => r.phaseSeconds.aggregate).toFixed(2)}s eval ${max((r) => r.phaseSeconds.eval).toFixed(1)}s  ` +
          `${Math.round(mean((r) => r.tokensPerSecond))} ${reports[0].evalAccuracy === null ? 'tok/s' : 'samples/s'}/node  proofs ${formatBytes(mean((r) => r.proofBytes))}/node  ` +
          (hashes.size === 1
            ? `weights ${[...hashes][0].slice(0, 12)} (all agree)`
            : `WEIGHTS DISAGREE (${hashes.size} hashes)`),
      )
    }

    void spawnNode(0, [])
  })
  const started = Date.now()
  await finished
  process.off('SIGINT', onSigint)
  process.off('SIGTERM', onSigint)

  const roundsCompleted = Math.min(...children.map((c) => (c.reports.at(-1)?.round ?? -1) + 1))
  const modelHashes = children.map((c) => c.done?.weightsHash ?? c.reports.at(-1)?.weightsHash ?? '')
  const agreed = new Set(modelHashes).size === 1 && modelHashes[0] !== ''
  const first = children[0]
  const summary: TestnetSummary = {
    nodes,
    rounds: options.rounds,
    roundsCompleted,
    runId,
    stateDir,
    evalLoss: [first.initialEvalLoss ?? Number.NaN, ...first.reports.map((r) => r.evalLoss)],
    evalAccuracy: first.reports.flatMap((r) => (r.evalAccuracy === null ? [] : [r.evalAccuracy])),
    trainLoss: Array.from({ length: roundsCompleted }, (_, r) =>
      children.map((c) => c.reports.find((x) => x.round === r)?.trainLoss ?? Number.NaN),
    ),
    modelHashes,
    agreed,
    bytesSentPerNode: children.map((c) => c.done?.bytesSent ?? c.reports.at(-1)?.bytesSent ?? 0),
    linkBytesSentPerNode: children.map((c) => c.done?.linkBytesSent ?? 0),
    linkBytesReceivedPerNode: children.map((c) => c.done?.linkBytesReceived ?? 0),
    linkBytesByProtocol: children.reduce<Record<string, number>>((sum, c) => {
      for (const [protocol, bytes] of Object.entries(c.done?.linkBytesByProtocol ?? {}))
        sum[protocol] = (sum[protocol] ?? 0) + bytes
      return sum
    }, {}),
    bytesReceivedPerNode: children.map((c) => c.done?.bytesReceived ?? c.reports.at(-1)?.bytesReceived ?? 0),
    exchange: genesis.exchange ?? 'all-to-all',
    deltaBytes,
    deltasReceivedPerRound: Array.from({ length: roundsCompleted }, (_, r) =>
      children.map((c) => {
        const at = c.reports.findIndex((x) => x.round === r)
        if (at < 0) return null
        const before = at === 0 ? 0 : c.reports[at - 1].bytesReceived
        return Math.round(((c.reports[at].bytesReceived - before) / deltaBytes) * 1000) / 1000
      }),
    ),
    secondsPerRound: Array.from({ length: roundsCompleted }, (_, r) =>
      Math.max(...reportsOf(r).map((x) => Object.values(x.phaseSeconds).reduce((a, b) => a + b, 0))),
    ),
    peakRssBytesPerNode: children.map((c) => Math.max(0, ...c.reports.map((r) => r.rssBytes))),
    cpuSecondsPerNode: children.map((c) => {
      const total: Record<string, number> = {}
      for (const r of c.reports)
        for (const [phase, seconds] of Object.entries(r.cpuSeconds))
          total[phase] = (total[phase] ?? 0) + seconds
      return total
    }),
    backend: first.backend ?? 'unknown',
  }
  const ok =
    !interrupted && roundsCompleted === options.rounds && agreed && children.every((c) => c.exitCode === 0)
  say(
    ok
      ? `done: ${options.rounds} rounds in ${((Date.now() - started) / 1000).toFixed(1)}s, held-out loss ${summary.evalLoss[0].toFixed(3)} -> ${summary.evalLoss.at(-1)?.toFixed(3)}, all ${nodes} nodes hold weights ${modelHashes[0].slice(0, 16)}`
      : `FAILED: ${roundsCompleted}/${options.rounds} rounds completed${agreed ? '' : ', nodes disagree on the global weights'}; logs in ${stateDir}/node-*/node.log`,
  )
  if (options.json) await new Promise((done) => process.stdout.write(`${JSON.stringify(summary)}\n`, done))
  return ok ? 0 : interrupted ? 130 : 1
}

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`
  return `${n} B`
}
