// Chaos drill: a flooding peer. Three honest `dtrain start` processes train a run; a fourth peer
// (a real libp2p host in the test process) connects to all of them and floods them with invalid
// gossip (signed by itself, garbage inside: REJECT malformed) and bogus chunk requests (malformed
// frames and requests for deltas nobody holds). The honest rounds must go on within the deadline
// with every honest delta, each honest node must score the flooder below the graylist threshold,
// hang up on it and refuse it afterwards (SPEC.md 2.7), and their memory must stay bounded.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { commitTopic, deltaTopic, PROTOCOL } from '../../src/constants.js'
import { createHost, type Host } from '../../src/net/host.js'
import { PEER_SCORE } from '../../src/net/peer-guard.js'
import { runIdHex } from '../../src/wire/genesis.js'
import { ChunkRequest } from '../../src/wire/proto/dtrain.js'
import {
  doneOf,
  drillRun,
  listeningOf,
  type NodeProcess,
  roundEvents,
  roundsDone,
  startNodeProcess,
  until,
} from '../e2e/node-process.js'

// Enough rounds that the run outlasts the flood: a round of the drill's model takes 0.5-0.6 s on
// a quiet 2-core machine, and the flood FLOOD_MS (16 rounds did not always outlast it)
const ROUNDS = 40
const FLOOD_MS = 8000

/** Resident set size of a process, in MB (Linux /proc). */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1])
  return kb / 1024
}

describe('chaos drill: flooding peer', () => {
  const procs: NodeProcess[] = []
  let flooder: Host | undefined
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL')
    await flooder?.stop()
  })

  it('honest rounds stay on time while the flooder is scored down, hung up and refused', async () => {
    const { root, genesis, genesisPath } = drillRun('flood', { minPeers: 3 })
    const start = (name: string, bootstrap: string[]) => {
      const p = startNodeProcess({ dir: join(root, name), genesisPath, bootstrap, rounds: ROUNDS })
      procs.push(p)
      return p
    }
    const a = start('a', [])
    const { addresses } = await listeningOf(a)
    const honest = [a, start('b', addresses), start('c', addresses)]
    const listening = await Promise.all(honest.map(listeningOf))
    await until('a first round', () => (honest.every((p) => roundsDone(p) >= 1) ? true : undefined), 90_000)
    const rssBefore = honest.map((p) => rssMb(p.child.pid!))

    flooder = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const topics = [deltaTopic(runIdHex(genesis)), commitTopic(runIdHex(genesis))]
    for (const t of topics) flooder.services.pubsub.subscribe(t)
    const honestIds = listening.map((l) => l.addresses[0].split('/p2p/')[1])
    for (const l of listening) await flooder.dial(multiaddr(l.addresses[0]))
    const connectedTo = () => honestIds.filter((id) => flooder!.getPeers().some((p) => p.toString() === id))
    expect(connectedTo()).toHaveLength(3)

    // Flood for FLOOD_MS, redialing every node that hung up (it must stay refused), sampling the
    // honest nodes' memory meanwhile.
    const floodStarted = Date.now()
    const cutAt = new Map<string, number>()
    const rssPeak = [...rssBefore]
    let messages = 0
    let requests = 0
    const roundsAtStart = honest.map((p) => roundsDone(p))
    let redials = 0
    while (Date.now() - floodStarted < FLOOD_MS) {
      for (let i = 0; i < 20; i++) {
        await flooder.services.pubsub.publish(topics[i % 2], randomBytes(64 + (i % 5) * 100)).catch(() => {})
        messages++
      }
      for (const peer of flooder.getPeers()) {
        for (const bogus of ['malformed', 'unknown'] as const) {
          requests++
          flooder
            .dialProtocol(peer, PROTOCOL.chunkProtocol)
            .then(async (stream) => {
              const lp = lpStream(stream)
              await lp.write(
                bogus === 'malformed'
                  ? randomBytes(40)
                  : ChunkRequest.encode({ root: randomBytes(32), size: 1000n, indices: [0] }),
              )
              await lp.read().catch(() => undefined)
              await stream.close().catch(() => {})
            })
            .catch(() => {})
        }
      }
      for (const [i, id] of honestIds.entries()) {
        if (connectedTo().includes(id)) continue
        if (!cutAt.has(id)) cutAt.set(id, Date.now())
        redials++
        void flooder.dial(multiaddr(listening[i].addresses[0])).catch(() => undefined)
      }
      honest.forEach((p, i) => {
        rssPeak[i] = Math.max(rssPeak[i], rssMb(p.child.pid!))
      })
      expect(
        honest.every((p) => p.child.exitCode === null),
        'the run outlasts the flood',
      ).toBe(true)
      await new Promise((r) => setTimeout(r, 50))
    }
    const floodSeconds = (Date.now() - floodStarted) / 1000
    expect(cutAt.size, `hung up by ${cutAt.size} of 3 honest nodes within ${floodSeconds} s`).toBe(3)

    // Refused afterwards: its redials did not end in a connection.
    await new Promise((r) => setTimeout(r, 500))
    expect(connectedTo()).toEqual([])

    const done = await Promise.all(honest.map((p) => doneOf(p, 180_000)))
    expect(await Promise.all(honest.map((p) => p.exit))).toEqual([0, 0, 0])
    expect(new Set(done.map((d) => d.weightsHash)).size).toBe(1)

    // Each honest node logged the ban, with a score below the graylist threshold.
    const banScores: number[] = []
    for (const [i, p] of honest.entries()) {
      const log = readFileSync(join(root, 'abc'[i], `node-${p.child.pid}.log`), 'utf8')
      const ban = log
        .split('\n')
        .filter((line) => line.includes('hung up and banned'))
        .map((line) => JSON.parse(line))
      expect(ban.length, `node ${'abc'[i]} ban log`).toBeGreaterThanOrEqual(1)
      expect(ban[0].remote).toBe(flooder.peerId.toString())
      expect(ban[0].score).toBeLessThan(PEER_SCORE.graylistThreshold)
      banScores.push(ban[0].score)
    }
    // The rounds during and after the flood: on time, with all three honest deltas.
    const floodRounds = roundEvents(a)
      .map((e) => e.report)
      .filter((r) => r.round >= roundsAtStart[0])
    for (const r of floodRounds) {
      expect(r.phaseSeconds.collect, `round ${r.round}`).toBeLessThanOrEqual(
        genesis.round.collectTimeoutMs / 1000,
      )
      expect(r.contributors, `round ${r.round}`).toBe(3)
    }
    // Memory bounded: the flood grew no honest node's resident set by more than 150 MB.
    const growth = rssPeak.map((peak, i) => peak - rssBefore[i])
    for (const g of growth) expect(g).toBeLessThan(150)
    const cutSeconds = [...cutAt.values()].map((t) => (t - floodStarted) / 1000)
    process.stderr.write(
      `flood drill: ${messages} invalid messages and ${requests} bogus chunk requests and ${redials} redials in ${floodSeconds.toFixed(1)} s; hung up after ${cutSeconds.map((s) => s.toFixed(1)).join(', ')} s; scores at the ban ${banScores.map((x) => x.toFixed(0)).join(', ')}; rounds ended since the flood began: ${floodRounds.length}, longest collect ${Math.max(...floodRounds.map((r) => r.phaseSeconds.collect)).toFixed(2)} s (deadline ${genesis.round.collectTimeoutMs / 1000} s); RSS growth ${growth.map((g) => g.toFixed(0)).join(', ')} MB\n`,
    )
  })
})
