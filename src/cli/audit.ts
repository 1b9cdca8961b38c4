// `dtrain audit`: checks a peer's proof of learning for one round (SPEC.md 17.4), over the network
// (a light node that only audits) or from a node's state directory. Exit codes: 0 the proof is
// valid, 1 it is invalid, 2 it could not be audited; each with its reason.
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdBytes } from '../crypto/sign.js'
import { createHost, type Host } from '../net/host.js'
import { judgeAnnounced, readAnnounced } from '../proof/announced-record.js'
import { type AuditReport, audit } from '../proof/audit.js'
import { AUDIT_LOG_FILE, appendAuditVerdict } from '../proof/audit-log.js'
import { NetworkProofSource, type ProofSource, StoreProofSource } from '../proof/protocol.js'
import { ProofStore } from '../proof/store.js'
import { readKeyFile } from '../store/keys.js'
import { selectBackend } from '../train/backend.js'
import type { BackendName } from '../train/backend-names.js'
import { createTrainer } from '../train/create-trainer.js'
import { loadDataset } from '../train/dataset.js'
import { runIdOf } from '../wire/genesis.js'
import { ConfigError, readGenesisFile, readSwarmKeyFile } from './config-files.js'

export interface AuditCliOptions {
  peer?: string
  proof?: string
  /** a node's state directory whose rounds.jsonl records what each peer announced (default: --proof) */
  record?: string
  round: number
  segments: number
  tolerance: 'auto' | number
  /** seconds after the manifest within which a network peer must deliver what it committed to */
  deadline: number
  json: boolean
  genesis?: string
  bootstrap: string[]
  swarmKey?: string
  backend: BackendName
  /** the Python of the torch backends */
  python?: string
  nonce?: string
  /** the run's text, when its genesis trains on a user's text */
  dataPath?: string
}

export const AUDIT_EXIT = { valid: 0, invalid: 1, unavailable: 2 } as const

export async function runAudit(options: AuditCliOptions): Promise<number> {
  if ((options.peer === undefined) === (options.proof === undefined))
    throw new ConfigError('give exactly one of --peer <peer id or multiaddr> and --proof <state dir>')
  const genesisPath = options.genesis ?? (options.proof ? findGenesis(options.proof) : undefined)
  if (!genesisPath)
    throw new ConfigError(
      '--genesis <file> is needed (with --proof it defaults to genesis.json beside or above the state directory)',
    )
  const genesis = await readGenesisFile(genesisPath)
  const backend = await selectBackend(options.backend, { python: options.python })
  const data = loadDataset(genesis, options.dataPath)
  // Deterministic algorithms where torch has them: a replay on CUDA then reproduces itself.
  const trainer = await createTrainer(genesis, data, backend, { deterministic: true })
  const nonce = options.nonce ? Uint8Array.from(Buffer.from(options.nonce, 'hex')) : undefined

  let host: Host | undefined
  let source: ProofSource
  let peer: PeerId | undefined
  let recordDir = options.record
  try {
    if (options.proof) {
      const dir = existsSync(join(options.proof, 'proofs')) ? options.proof : dirname(resolve(options.proof))
      recordDir ??= dir
      // The directory is a node's: the audit is of that node, whose key is there (issue 19). Another
      // peer's proof copied into it must not audit VALID "by" this node.
      const owner = await ownerOf(dir)
      if (owner !== undefined) peer = peerIdFromString(owner)
      const store = new ProofStore({ dir, retention: Number.MAX_SAFE_INTEGER })
      source = new StoreProofSource(store)
    } else {
      const swarmKey = options.swarmKey ? await readSwarmKeyFile(options.swarmKey) : undefined
      host = await createHost({
        privateKey: await generateKeyPair('Ed25519'),
        listen: [],
        bootstrap: [],
        swarmKey,
      })
      try {
        peer = await connect(host, options.peer!, options.bootstrap)
      } catch (err) {
        if (!(err instanceof UnreachableError)) throw err
        const verdict = { verdict: 'unavailable', round: options.round, reasons: [err.message] }
        process.stdout.write(
          options.json
            ? `${JSON.stringify(verdict)}\n`
            : `audit of round ${options.round}: UNAVAILABLE\n  reason: ${err.message}\n`,
        )
        return AUDIT_EXIT.unavailable
      }
      source = new NetworkProofSource(host, peer, runIdOf(genesis), options.deadline * 1000)
    }
    if (recordDir !== undefined && !existsSync(recordDir))
      throw new ConfigError(`--record ${recordDir}: no such directory (give a node's state directory)`)
    const proofReport = await audit(source, {
      genesis,
      data,
      round: options.round,
      peerId: peer ? peerIdBytes(peer) : undefined,
      segments: options.segments,
      tolerance: options.tolerance,
      replayBackend: backend.backend,
      nonce,
      trainer,
    })
    // The proof must be of the delta the peer announced to the network (SPEC.md 17.4, step 1).
    const record = recordDir === undefined ? undefined : await readAnnounced(recordDir, options.round)
    const report = judgeAnnounced(proofReport, record)
    // The verdict counts against (or for) the peer in the auditing node's standing (issue 19 §1).
    const audited = peer?.toString() ?? report.peer
    const logged =
      recordDir !== undefined && audited !== undefined
        ? await recordVerdict(recordDir, audited, report)
        : undefined
    process.stdout.write(
      options.json ? `${JSON.stringify({ ...report, logged })}\n` : summary(report, logged),
    )
    return AUDIT_EXIT[report.verdict]
  } finally {
    await host?.stop()
    await trainer.close()
  }
}

/**
 * Keeps the verdict in the audits.jsonl of the node whose state directory is `dir`, unless that
 * node is the audited one (`dtrain audit --proof DIR` reads DIR's own record); returns the file.
 */
async function recordVerdict(dir: string, audited: string, report: AuditReport): Promise<string | undefined> {
  if ((await ownerOf(dir)) === audited) return undefined
  try {
    await appendAuditVerdict(dir, {
      peer: audited,
      round: report.round,
      verdict: report.verdict,
      reasons: report.reasons,
      at: new Date().toISOString(),
    })
    return join(dir, AUDIT_LOG_FILE)
  } catch (err) {
    process.stderr.write(`could not record the verdict in ${dir}: ${(err as Error).message}\n`)
    return undefined
  }
}

/** The peer id of the node whose state directory is `dir` (its key), if it has one. */
async function ownerOf(dir: string): Promise<string | undefined> {
  const path = join(dir, 'key')
  return existsSync(path) ? peerIdFromPrivateKey(await readKeyFile(path)).toString() : undefined
}

/** Dials the audited peer: a multiaddr with /p2p/<id>, or a peer id among the bootstrap peers. */
async function connect(host: Host, target: string, bootstrap: string[]): Promise<PeerId> {
  if (target.startsWith('/')) {
    const address = multiaddr(target)
    const id = peerIdOfAddress(target)
    if (!id) throw new ConfigError(`--peer ${target}: a multiaddr must end with /p2p/<peer id>`)
    await host.dial(address, { signal: AbortSignal.timeout(15_000) }).catch((err: Error) => {
      throw new UnreachableError(`cannot reach ${target}: ${err.message}`)
    })
    return peerIdFromString(id)
  }
  let peer: PeerId
  try {
    peer = peerIdFromString(target)
  } catch {
    throw new ConfigError(`--peer ${target} is neither a peer id nor a multiaddr`)
  }
  const known = bootstrap.find((b) => peerIdOfAddress(b) === target)
  if (!known)
    throw new ConfigError(
      `--peer ${target}: no address known for this peer id; give its multiaddr (.../p2p/${target}, printed in its log at start) or list it with --bootstrap`,
    )
  await host.dial(multiaddr(known), { signal: AbortSignal.timeout(15_000) }).catch((err: Error) => {
    throw new UnreachableError(`cannot reach ${known}: ${err.message}`)
  })
  return peer
}

/** The audited peer cannot be reached: "could not audit". */
export class UnreachableError extends Error {
  override name = 'UnreachableError'
}

/** The peer id a multiaddr ends with (/p2p/<id>), if any. */
function peerIdOfAddress(address: string): string | undefined {
  return /\/p2p\/([^/]+)$/.exec(address)?.[1]
}

function findGenesis(stateDir: string): string | undefined {
  const dir = resolve(stateDir)
  return [join(dir, 'genesis.json'), join(dirname(dir), 'genesis.json')].find((p) => existsSync(p))
}

function summary(r: AuditReport, logged?: string): string {
  const lines = [
    `audit of round ${r.round}${r.peer ? ` by ${r.peer}` : ''}: ${r.verdict.toUpperCase()}`,
    ...r.reasons.map((why) => `  reason: ${why}`),
  ]
  if (r.proofRoot)
    lines.push(
      `  proof root ${r.proofRoot.slice(0, 16)}, trained on ${r.trainedBackend ?? '?'}, replayed on ${r.replayBackend}`,
    )
  for (const s of r.segments)
    lines.push(
      `  segment ${s.index} (steps ${s.fromStep}-${s.toStep}, ${s.picked}): distance ${s.relativeDistance.toExponential(2)} of its update (tolerance ${s.tolerance.relative}), rms ${s.rmsDistance.toExponential(2)} (tolerance ${s.tolerance.rms.toExponential(2)}): ${s.verdict}`,
    )
  for (const note of r.notes) lines.push(`  note: ${note}`)
  if (r.stepsTrained)
    lines.push(
      `  cost: replayed ${r.stepsReplayed} of ${r.stepsTrained} steps, read ${r.bytesRead} bytes of a ${r.proofBytes ?? '?'}-byte proof, ${r.seconds.toFixed(2)} s (nonce ${r.nonce.slice(0, 16)})`,
    )
  if (logged) lines.push(`  verdict recorded in ${logged} (dtrain status shows it beside the peer)`)
  return `${lines.join('\n')}\n`
}
