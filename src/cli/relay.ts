// `dtrain relay`: a dedicated relay and rendezvous peer for a run (SPEC.md 2.8, 2.9), for a machine
// with a public address (a small VPS) that home nodes behind NATs can all reach. It serves circuit
// relay v2 reservations, answers the run's DHT, AutoNAT dial-backs and identify; it does not
// train and does not join the run's gossip. Nodes give its address as a bootstrap peer.
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { createLogger } from '../log.js'
import { createHost, dhtProtocol } from '../net/host.js'
import { createKeyFile, readKeyFile } from '../store/keys.js'
import { runIdHex } from '../wire/genesis.js'
import { readGenesisFile, readSwarmKeyFile } from './config-files.js'
import type { NodeEvent } from './events.js'

export interface RelayOptions {
  genesis: string
  key: string
  listen: string[]
  swarmKey?: string
  allow?: string[]
  logLevel?: string
  json: boolean
}

export async function runRelay(options: RelayOptions): Promise<number> {
  const logger = createLogger(options.logLevel ?? 'info')
  const genesis = await readGenesisFile(options.genesis)
  const run = runIdHex(genesis)
  await mkdir(dirname(options.key), { recursive: true, mode: 0o700 })
  const privateKey = existsSync(options.key)
    ? await readKeyFile(options.key)
    : await createKeyFile(options.key)
  const host = await createHost({
    privateKey,
    listen: options.listen,
    swarmKey: options.swarmKey ? await readSwarmKeyFile(options.swarmKey) : undefined,
    allowlist: options.allow,
    dhtProtocol: dhtProtocol(run),
    relayServer: true,
  })
  const addresses = host.getMultiaddrs().map((a) => a.toString())
  const event: NodeEvent = {
    type: 'listening',
    peerId: host.peerId.toString(),
    addresses,
    backend: 'none',
    api: null,
  }
  if (process.send) process.send(event)
  logger.info({ peerId: host.peerId.toString(), addresses, run: run.slice(0, 12) }, 'relay listening')
  process.stdout.write(
    options.json
      ? `${JSON.stringify({ peerId: host.peerId.toString(), addresses, run })}\n`
      : `dtrain relay for run ${run.slice(0, 16)}\n  peer id ${host.peerId}\n${addresses.map((a) => `  ${a}\n`).join('')}` +
          'nodes use one of these addresses (with a public IP) as --bootstrap; stop with Ctrl-C\n',
  )
  host.addEventListener('peer:connect', (e) => logger.debug({ peer: e.detail.toString() }, 'peer connected'))
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('disconnect', () => resolve('SIGTERM'))
  })
  await host.stop()
  logger.info({ signal }, 'relay stopped')
  // As `dtrain start`: 128 + the signal's number (a service manager expects 143 after SIGTERM).
  return signal === 'SIGINT' ? 130 : 143
}
