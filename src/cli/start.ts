// `dtrain start`: runs one node until it has trained the requested rounds or is stopped.
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createLogger } from '../log.js'
import { DtrainNode } from '../node/node.js'
import { createKeyFile, readKeyFile } from '../store/keys.js'
import type { BackendName } from '../train/backend.js'
import { readGenesisFile, readSwarmKeyFile } from './config-files.js'
import type { NodeEvent } from './events.js'

export interface StartOptions {
  genesis: string
  state: string
  key?: string
  listen: string[]
  bootstrap: string[]
  rounds: number
  backend: BackendName
  swarmKey?: string
  startTimeout: number
  logLevel: string
  /** fetch the network's committed state before the first round (a late joiner) */
  join: boolean
  /** rounds of proof-of-learning checkpoints kept in STATE/proofs */
  proofRetention: number
}

function emit(event: NodeEvent): void {
  if (process.send) process.send(event)
}

export async function runStart(options: StartOptions): Promise<number> {
  const logger = createLogger(options.logLevel)
  const genesis = await readGenesisFile(options.genesis)
  await mkdir(options.state, { recursive: true, mode: 0o700 })
  const keyPath = options.key ?? join(options.state, 'key')
  const privateKey = existsSync(keyPath) ? await readKeyFile(keyPath) : await createKeyFile(keyPath)
  const swarmKey = options.swarmKey ? await readSwarmKeyFile(options.swarmKey) : undefined

  const node = await DtrainNode.create({
    genesis,
    privateKey,
    listen: options.listen,
    bootstrap: options.bootstrap,
    swarmKey,
    backend: options.backend,
    logger,
    stateDir: options.state,
    proofRetention: options.proofRetention,
  })
  let stopping = false
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
    await node.stop()
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
  })
  logger.info({ addresses: node.addresses(), run: node.runIdHex }, 'listening')
  const peers = await node.waitForPeers(genesis.round.expectedPeers, options.startTimeout * 1000)
  if (options.join) {
    const synced = await node.syncFromNetwork(genesis.round.collectTimeoutMs)
    logger.info(
      { synced, round: node.round },
      synced ? 'joined the running network' : 'found no majority state to join; starting from round 0',
    )
  }
  const initialEvalLoss = node.evaluate()
  emit({ type: 'ready', peers, initialEvalLoss })
  logger.info({ peers, initialEvalLoss }, 'starting rounds')

  for (let i = 0; options.rounds === 0 || i < options.rounds; i++) {
    const report = await node.runRound()
    emit({ type: 'round', report })
  }
  const committed = await node.linger(node.round - 1)
  logger.info({ committed }, 'all rounds done')
  emit({
    type: 'done',
    weightsHash: node.globalWeightsHash,
    bytesSent: await node.metrics.total(node.metrics.bytesSent),
    bytesReceived: await node.metrics.total(node.metrics.bytesReceived),
  })
  stopping = true
  process.off('disconnect', onSigterm)
  await node.stop()
  return 0
}
