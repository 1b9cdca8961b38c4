// `dtrain start`: runs one node until the run has completed the requested rounds or it is stopped.
// A node restarted on its state directory resumes after its last committed round and syncs the
// network's state if it fell behind (SPEC.md 12).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { type ApiServer, startApiServer } from '../api/server.js'
import { createLogger } from '../log.js'
import { DEFAULT_PROOF_RETENTION, DtrainNode } from '../node/node.js'
import { bytesPerRound } from '../proof/storage.js'
import { createKeyFile, readKeyFile } from '../store/keys.js'
import { loadNodeState } from '../store/node-state.js'
import { checkDiskRoom, DiskFullError, prepareStateDir } from '../store/state-dir.js'
import { checkNodeMemory } from '../train/memory.js'
import { readGenesisFile, readSwarmKeyFile } from './config-files.js'
import type { NodeEvent } from './events.js'
import type { NodeConfig } from './node-config.js'
import { TerminalProgress } from './progress.js'

function emit(event: NodeEvent): void {
  if (process.send) process.send(event)
}

export async function runStart(config: NodeConfig): Promise<number> {
  // On a terminal (and not a testnet child): a progress display, and only warnings as log lines.
  const progress = process.stderr.isTTY && !process.send ? new TerminalProgress() : undefined
  const logger = createLogger(config.logLevel ?? (progress ? 'warn' : 'info'))
  const genesis = await readGenesisFile(config.genesis)
  await prepareStateDir(config.state)
  await checkDiskRoom(config.state, bytesPerRound(genesis), config.proofRetention ?? DEFAULT_PROOF_RETENTION)
  checkNodeMemory(genesis)
  const keyPath = config.key ?? join(config.state, 'key')
  const privateKey = existsSync(keyPath) ? await readKeyFile(keyPath) : await createKeyFile(keyPath)
  const swarmKey = config.swarmKey ? await readSwarmKeyFile(config.swarmKey) : undefined

  const node = await DtrainNode.create({
    genesis,
    privateKey,
    listen: config.listen,
    bootstrap: config.bootstrap,
    swarmKey,
    backend: config.backend,
    python: config.python,
    trainThreads: config.trainThreads,
    logger,
    stateDir: config.state,
    resume: !config.join,
    dataPath: config.data,
    trainWorkers: config.trainWorkers,
    trainSlowdown: config.slowdown,
    gpuPeakTflops: config.gpuPeakTflops,
    relayClient: config.relayClient,
    relayServer: config.relayServer === 'auto' ? undefined : config.relayServer === 'on',
    mdns: config.mdns,
    upnp: config.upnp,
    uploadBytesPerSecond: config.uploadLimit,
    shardChecks: config.shardChecks,
    onRelayed: (addresses) => {
      emit({ type: 'relayed', addresses })
      if (addresses.length > 0) progress?.message(`reachable through a relay at ${addresses[0]}`)
    },
    allowlist: config.allow,
    proofRetention: config.proofRetention,
    onInnerStep: progress ? (step, steps) => progress.step(node.round, step, steps) : undefined,
    onPhase: progress ? (r, phase) => phase !== 'train' && progress.phase(r, phase) : undefined,
    onSynced: (syncedRound, weightsHash, why) =>
      emit({ type: 'synced', round: syncedRound, weightsHash, why }),
  })
  let api: ApiServer | undefined
  try {
    if (config.api !== 'off') api = await startApiServer(node, config.api)
  } catch (err) {
    await node.stop()
    throw err
  }
  let stopping = false
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
    progress?.message(`stopping (${signal})`)
    await api?.close()
    await stopWithin(node, logger)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  const onSigint = () => void stop('SIGINT')
  const onSigterm = () => void stop('SIGTERM')
  // A testnet child whose parent went away stops too.
  process.once('SIGINT', onSigint)
  process.once('SIGTERM', onSigterm)
  process.once('disconnect', onSigterm)

  emit({
    type: 'listening',
    peerId: node.peerId.toString(),
    addresses: node.addresses(),
    backend: node.backend.backend,
    api: api?.url ?? null,
  })
  logger.info({ addresses: node.addresses(), run: node.runIdHex, api: api?.url }, 'listening')
  progress?.message(
    `node ${node.peerId} (backend ${node.backend.backend})\n  listening on ${node.addresses().join(' ')}${api ? `\n  status page and metrics: ${api.url}/ and ${api.url}/metrics` : ''}`,
  )
  if (node.restoredRound !== null)
    progress?.message(`resumed after round ${node.restoredRound} from ${config.state}`)
  if (config.join && existsSync(join(config.state, 'node-state.bin'))) {
    const message = `--join: the state saved in ${config.state} is not resumed; the network's decided state replaces it once fetched`
    logger.info(message)
    progress?.message(message)
  }
  try {
    await node.run({
      rounds: config.rounds,
      startTimeoutMs: config.startTimeout * 1000,
      join: config.join,
      onReady: (ready) => emit({ type: 'ready', ...ready }),
      onRound: (report) => {
        progress?.round(report)
        emit({ type: 'round', report })
      },
    })
  } catch (err) {
    // Stopping aborts whatever the node was doing (training, fetching): the signal handler owns
    // the exit (130 or 143), so the abort is not an error (it exited 7 with a stack trace).
    if (stopping) await new Promise<never>(() => {})
    stopping = true
    await api?.close()
    await node.stop()
    throw (await diskFull(err, config.state, node.runId)) ?? err
  }
  if (stopping) await new Promise<never>(() => {})
  const link = await node.metrics.linkBytes()
  emit({
    type: 'done',
    weightsHash: node.globalWeightsHash,
    bytesSent: await node.metrics.total(node.metrics.bytesSent),
    bytesReceived: await node.metrics.total(node.metrics.bytesReceived),
    linkBytesSent: link.sent,
    linkBytesReceived: link.received,
    linkBytesByProtocol: link.byProtocol,
  })
  stopping = true
  process.off('disconnect', onSigterm)
  await api?.close()
  await stopWithin(node, logger)
  return 0
}

/**
 * A write that failed for want of space (issue 19 §3: a full disk gave a crash at every proof
 * write): say so, and that the state of the last committed round is intact (the state file is
 * replaced by a rename, proofs are written beside the kept ones and renamed).
 */
async function diskFull(
  err: unknown,
  stateDir: string,
  runId: Uint8Array,
): Promise<DiskFullError | undefined> {
  const { code, path } = (err ?? {}) as NodeJS.ErrnoException
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined
  const saved = await loadNodeState(stateDir, runId).catch(() => undefined)
  const round = saved?.global.round
  return new DiskFullError(
    `the disk holding ${stateDir} is full (${code}${path ? ` writing ${path}` : ''}): the node stopped${round === undefined ? '' : `; its state after round ${round} is intact in ${join(stateDir, 'node-state.bin')}`}. Free space on that disk, or keep fewer rounds of proofs with --proof-retention, and start it again: it resumes where it stopped`,
  )
}

/** How long a stopping node may take to close libp2p and its trainer before the process exits anyway. */
const STOP_TIMEOUT_MS = 20_000

/**
 * Stops the node, bounded: a stop that does not finish (a libp2p or trainer close that hangs, seen
 * once in a loaded test run after "all rounds done") must not keep the process, and a testnet
 * parent waiting for it, alive forever. Its state was saved before: exiting loses nothing.
 */
async function stopWithin(node: DtrainNode, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)
  })
  const outcome = await Promise.race([node.stop().then(() => 'stopped' as const), timedOut])
  clearTimeout(timer)
  if (outcome === 'timeout')
    logger.error(
      { stage: node.stopStage, timeoutMs: STOP_TIMEOUT_MS },
      'the node did not finish stopping in time: exiting anyway (its state is saved; please report this log)',
    )
}
