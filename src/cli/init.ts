// `dtrain init`: creates a run: its genesis, the first node's identity (so the join command can
// name it), and a swarm key for a private network; prints the commands that start the first node
// and join the others.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { writeSwarmKeyFile } from '../net/swarm-key.js'
import { DEFAULT_PROOF_RETENTION } from '../node/options.js'
import { checkpointSteps } from '../proof/manifest.js'
import { bytesPerRound } from '../proof/storage.js'
import { createKeyFile } from '../store/keys.js'
import { diskNeeded } from '../store/state-dir.js'
import { defaultGenesis, describeModel, type GenesisOptions, runIdHex } from '../wire/genesis.js'
import { ConfigError, readGenesisFile } from './config-files.js'

export interface InitOptions {
  dir: string
  name: string
  nodes: number
  port: number
  private: boolean
  force: boolean
  json: boolean
  /** the run's own text (--data): every node needs a copy, and its start command names it */
  dataPath?: string
  genesis: GenesisOptions
}

export async function runInit(options: InitOptions): Promise<number> {
  const dir = resolve(options.dir)
  const genesisPath = join(dir, 'genesis.json')
  if (existsSync(genesisPath) && !options.force)
    throw new ConfigError(`${genesisPath} exists: choose another --dir, or --force to replace the run`)
  await mkdir(join(dir, 'node-0'), { recursive: true, mode: 0o700 })
  const genesis = defaultGenesis({
    ...options.genesis,
    name: options.name,
    salt: randomBytes(8).toString('hex'),
    expectedPeers: options.nodes,
  })
  await writeFile(genesisPath, `${JSON.stringify(genesis, null, 2)}\n`)
  await readGenesisFile(genesisPath) // what others will read back must pass the same schema
  const keyPath = join(dir, 'node-0', 'key')
  const key = existsSync(keyPath) ? undefined : await createKeyFile(keyPath)
  const peerId = key ? peerIdFromPrivateKey(key).toString() : undefined
  const swarmKeyPath = join(dir, 'swarm.key')
  if (options.private) await writeSwarmKeyFile(swarmKeyPath)
  const swarm = options.private ? ` --swarm-key ${swarmKeyPath}` : ''
  // A run on the operator's own text: each node reads its own copy, named by --data (issue 19).
  const text = options.dataPath ? basename(options.dataPath) : undefined
  const first = `dtrain start --genesis ${genesisPath} --state ${join(dir, 'node-0')} --listen /ip4/0.0.0.0/tcp/${options.port}${swarm}${options.dataPath ? ` --data ${options.dataPath}` : ''}`
  const others = `dtrain start --genesis genesis.json --bootstrap /ip4/<first node's address>/tcp/${options.port}/p2p/${peerId ?? '<its peer id: dtrain keys --key node-0/key>'}${options.private ? ' --swarm-key swarm.key' : ''}${text ? ` --data ${text}` : ''}`
  // What each node's state directory needs (SPEC.md 17.1), the figures dtrain start checks.
  const perRound = bytesPerRound(genesis)
  const disk = {
    proofBytesPerRound: perRound.proof,
    stateBytes: perRound.state,
    parkedBytes: perRound.parked,
    objectBytes: perRound.objects,
    proofRetention: DEFAULT_PROOF_RETENTION,
    totalBytes: diskNeeded(perRound, DEFAULT_PROOF_RETENTION),
  }
  const checkpoints = checkpointSteps(genesis.inner.steps, genesis.proof.checkpointInterval).length
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ runId: runIdHex(genesis), genesis: genesisPath, swarmKey: options.private ? swarmKeyPath : null, bootstrapPeerId: peerId ?? null, start: first, join: others, disk })}\n`,
    )
    return 0
  }
  process.stdout.write(
    [
      `created run "${options.name}" (run id ${runIdHex(genesis).slice(0, 16)}) in ${dir}`,
      `  genesis    ${genesisPath}: ${describeModel(genesis.model)}, H = ${genesis.inner.steps}, ${genesis.delta.encoding} deltas, ${genesis.aggregation.rule}, ${options.nodes} expected peers`,
      `  first node ${join(dir, 'node-0')} (peer id ${peerId ?? 'kept from before'})`,
      `  disk       each node needs ${gb(disk.totalBytes)} in its --state directory: ${gb(disk.proofBytesPerRound)} of proof per round (${checkpoints} checkpoints, one every ${genesis.proof.checkpointInterval} steps) for ${DEFAULT_PROOF_RETENTION + 1} rounds (--proof-retention ${DEFAULT_PROOF_RETENTION} and the round being written), ${gb(2 * disk.stateBytes + disk.parkedBytes)} of state and ${gb(disk.objectBytes)} of the deltas and states it serves`,
      ...(options.private
        ? [`  swarm key  ${swarmKeyPath} (private network: give it to every node, keep it secret)`]
        : []),
      '',
      'start the first node (the others bootstrap from it):',
      `  ${first}`,
      `every other node: copy genesis.json${options.private ? ', swarm.key' : ''}${text ? ` and the text (${options.dataPath}, as ${text}: it must hash to the genesis's dataset.textSha256)` : ''} to it, then`,
      `  ${others}`,
      '',
    ].join('\n'),
  )
  return 0
}

const gb = (bytes: number): string =>
  bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`
