import { spawn } from 'node:child_process'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { encodedDeltaSize } from '../../src/codec/delta.js'
import { deltaTopic, PROTOCOL } from '../../src/constants.js'
import { weightsHash } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { createLogger, silentLogger } from '../../src/log.js'
import { createHost, type Host } from '../../src/net/host.js'
import { type DeltaSource, serveChunks } from '../../src/net/transfer.js'

const logger = () =>
  process.env.DTRAIN_TEST_LOG ? createLogger(process.env.DTRAIN_TEST_LOG) : silentLogger()

import { expect } from 'vitest'
import { DtrainNode } from '../../src/node/node.js'
import type { NodeOptions } from '../../src/node/options.js'
import type { BackendName } from '../../src/train/backend-names.js'
import { initialWeights, parameterCount } from '../../src/train/parameters.js'
import {
  defaultGenesis,
  type Genesis,
  type GenesisOptions,
  runIdHex,
  runIdOf,
} from '../../src/wire/genesis.js'
import { signAnnouncement } from '../../src/wire/messages.js'
import { whenEvents } from '../fixtures/events.js'

/**
 * Subscribes both hosts to `topic`, and returns the first byte of every message `b` receives on
 * it, as the messages come (gossip tests tag their messages by that byte).
 */
export function subscribeBoth(a: Host, b: Host, topic: string): number[] {
  a.services.pubsub.subscribe(topic)
  b.services.pubsub.subscribe(topic)
  const received: number[] = []
  b.services.pubsub.addEventListener('message', (e) => {
    if (e.detail.topic === topic) received.push(e.detail.data[0])
  })
  return received
}

/**
 * The run of the three-node testnets: the tiny model on synthetic data, 8 inner steps of batch 8,
 * 3 expected peers, a 30 s collect deadline, 16 evaluation windows; `salt` makes it a run of its
 * own, `extra` changes what a test needs.
 */
export function threeNodeGenesis(salt: string, extra: Partial<GenesisOptions> = {}): Genesis {
  return defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 8,
    batchSize: 8,
    expectedPeers: 3,
    salt,
    collectTimeoutMs: 30_000,
    evalWindows: 16,
    ...extra,
  })
}

/**
 * Starts `count` real nodes on 127.0.0.1; node 0 is the others' bootstrap peer. Node i trains on
 * `backends[i]` (the last entry for the rest): tfjs-wasm unless a test asks for another (auto
 * would pick torch-cpu where PyTorch is installed); `optionsOf(i)` adds to or replaces its options.
 */
export async function startNodes(
  genesis: Genesis,
  count: number,
  backends: BackendName[] = ['wasm'],
  optionsOf: (i: number) => Partial<NodeOptions> = () => ({}),
): Promise<DtrainNode[]> {
  const backendOf = (i: number) => backends[Math.min(i, backends.length - 1)]
  const first = await DtrainNode.create({
    genesis,
    privateKey: await generateKeyPair('Ed25519'),
    logger: logger(),
    backend: backendOf(0),
    trainThreads: 1,
    ...optionsOf(0),
  })
  const nodes = [first]
  for (let i = 1; i < count; i++) {
    nodes.push(
      await DtrainNode.create({
        genesis,
        privateKey: await generateKeyPair('Ed25519'),
        bootstrap: first.addresses(),
        logger: logger(),
        backend: backendOf(i),
        trainThreads: 1,
        ...optionsOf(i),
      }),
    )
  }
  return nodes
}

/**
 * Waits until every node sees at least `count` peers of the run on its delta topic (itself
 * included), on subscription events, and fails naming the count each reached.
 */
export async function expectPeers(nodes: DtrainNode[], count: number, timeoutMs = 10_000): Promise<void> {
  const seen = (node: DtrainNode) =>
    node.host.services.pubsub.getSubscribers(deltaTopic(node.runIdHex)).length + 1
  await Promise.all(
    nodes.map((node) =>
      whenEvents(
        [node.host.services.pubsub as unknown as EventTarget],
        ['subscription-change'],
        () => seen(node) >= count,
        `${count} peers of the run`,
        timeoutMs,
      ).catch(() => {}),
    ),
  )
  expect(nodes.map(seen), `peers each node sees (wanted ${count} each)`).toEqual(
    nodes.map((n) => Math.max(count, seen(n))),
  )
}

/**
 * A dishonest peer for tests: a real libp2p host that serves `source` over the chunk protocol,
 * subscribes to the run's delta topic and connects to every node.
 */
export async function startAttacker(
  genesis: Genesis,
  nodes: DtrainNode[],
  source: DeltaSource,
): Promise<{ host: Host; key: PrivateKey; topic: string }> {
  const key = await generateKeyPair('Ed25519')
  const host = await createHost({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'] })
  await serveChunks(host, source, { bytesSent: () => {}, bytesReceived: () => {} }, () => {})
  const topic = deltaTopic(runIdHex(genesis))
  host.services.pubsub.subscribe(topic)
  for (const node of nodes) await host.dial(multiaddr(node.addresses()[0]))
  return { host, key, topic }
}

/**
 * A valid fp32 announcement of round 0 by the attacker, for a delta it serves from `root`, on the
 * run's real initial weights (a delta on other weights would be left out as `other-base`).
 */
export function attackerAnnouncement(
  genesis: Genesis,
  attacker: { host: Host; key: PrivateKey },
  root: Uint8Array,
): Promise<Uint8Array> {
  return signAnnouncement(attacker.key, {
    version: PROTOCOL.protocolVersion,
    runId: runIdOf(genesis),
    round: 0,
    peerId: peerIdBytes(attacker.host.peerId),
    baseHash: weightsHash(initialWeights(genesis.model)),
    deltaHash: root,
    encodedSize: encodedDeltaSize(parameterCount(genesis.model), { encoding: 'fp32' }),
    encoding: 'fp32',
    trainLoss: 1,
    sampleCount: 16,
    proofRoot: new Uint8Array(32),
  })
}

/** The built `dtrain` command (npm test builds it first). */
export const cliPath = new URL('../../dist/src/cli/main.js', import.meta.url).pathname

/** Runs the built `dtrain` command as a child process; SIGKILLs it after `timeoutMs`. */
export function runCli(
  args: string[],
  timeoutMs = 180_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
