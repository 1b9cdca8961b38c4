// NAT traversal drill (SPEC.md 2.8, 2.9): two nodes at two sites with no route between them
// (two-sites.ts) and a `dtrain relay` both can reach. Neither node is told about the other: each
// bootstraps from the relay only, finds the other through the run's DHT, reserves a relay slot
// because AutoNAT confirms no public address for it (relay client 'auto'), and dials the other
// through the relay. They must exchange gossip and deltas through it: every round aggregates both
// deltas, and both end with one weights hash.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  doneOf,
  drillRun,
  listeningOf,
  type NodeProcess,
  roundEvents,
  startCliProcess,
  startNodeProcess,
} from '../e2e/node-process.js'
import { TwoSites } from './two-sites.js'

const ROUNDS = 6
const PORT = 4200

describe('chaos drill: nodes behind NATs meet through a relay', () => {
  const procs: NodeProcess[] = []
  let sites: TwoSites | undefined
  afterAll(() => {
    for (const p of procs) p.child.kill('SIGKILL')
    sites?.destroy()
  })

  it('two nodes with no route between them find each other and train through a relay', async () => {
    sites = TwoSites.create()
    // The sites really are cut off from each other, and the relay reaches both.
    expect(sites.canConnect('a', sites.relayAddress('b'), 1)).toBe(false)
    const { root, genesisPath } = drillRun('relay', { expectedPeers: 2, minPeers: 1, collectTimeoutMs: 5000 })
    const relay = startCliProcess(
      [
        'relay',
        '--genesis',
        genesisPath,
        '--key',
        join(root, 'relay', 'key'),
        '--listen',
        `/ip4/${sites.relayAddress('a')}/tcp/${PORT}`,
        '--listen',
        `/ip4/${sites.relayAddress('b')}/tcp/${PORT}`,
        // and on its loopback, as a relay listening on every interface does: no node may announce
        // a relayed address through it (issue 19 §3)
        '--listen',
        `/ip4/127.0.0.1/tcp/${PORT}`,
        '--log-level',
        'debug',
      ],
      join(root, 'relay'),
      sites.namespace('relay'),
    )
    procs.push(relay)
    const { peerId: relayId } = await listeningOf(relay)
    const start = (site: 'a' | 'b') => {
      const p = startNodeProcess({
        dir: join(root, `node-${site}`),
        genesisPath,
        bootstrap: [`/ip4/${sites!.relayAddress(site)}/tcp/${PORT}/p2p/${relayId}`],
        rounds: ROUNDS,
        netns: sites!.namespace(site),
        listen: `/ip4/${sites!.address(site)}/tcp/4100`,
        args: ['--start-timeout', '90', '--log-level', 'debug'],
      })
      procs.push(p)
      return p
    }
    const a = start('a')
    const b = start('b')
    expect(sites.canConnect('b', sites.address('a'), 4100)).toBe(false)

    const done = await Promise.all([a, b].map((p) => doneOf(p, 240_000)))
    expect(await Promise.all([a.exit, b.exit])).toEqual([0, 0])
    relay.child.kill('SIGTERM')

    // Each reserved a slot on the relay (AutoNAT confirmed no public address).
    for (const p of [a, b]) {
      const relayed = p.events.find((e) => e.type === 'relayed' && e.addresses.length > 0)
      expect(relayed, 'a node never became reachable through the relay').toBeDefined()
      const announced = p.events.flatMap((e) => (e.type === 'relayed' ? e.addresses : []))
      expect(announced.filter((a) => a.startsWith('/ip4/127.'))).toEqual([])
    }
    // They reached each other only through the relay, and every round aggregated both deltas.
    // A report is taken at the end of its round: at the end of the last one the other node may
    // already have finished and hung up (the CI run of 7dd4fd8 saw that), so the other node must
    // be there, relayed, at the end of every round but the last. At no round's end is any peer
    // but the relay reached directly.
    const reportsA = roundEvents(a).map((e) => e.report)
    const reportsB = roundEvents(b).map((e) => e.report)
    expect(reportsA.length).toBe(ROUNDS)
    expect(reportsB.length).toBe(ROUNDS)
    for (const r of [...reportsA, ...reportsB]) {
      expect(r.contributors, `round ${r.round}`).toBe(2)
      expect(r.peers - r.relayedPeers, `round ${r.round}: peers reached directly`).toBe(1)
      if (r.round < ROUNDS - 1) expect(r.relayedPeers, `round ${r.round}`).toBe(1)
    }
    for (let r = 0; r < ROUNDS; r++) expect(reportsA[r].weightsHash).toBe(reportsB[r].weightsHash)
    expect(new Set(done.map((d) => d.weightsHash)).size).toBe(1)
    const received = Math.min(...done.map((d) => d.bytesReceived))
    process.stderr.write(
      `relay drill: ${ROUNDS} rounds through the relay, both deltas every round, ${received} bytes received per node\n`,
    )
  })
})
