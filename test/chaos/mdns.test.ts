// Discovery on a LAN by mDNS (SPEC.md 2.8): three nodes in their own network namespaces on one
// virtual LAN (virtual-lan.ts), started with --mdns and no bootstrap peer at all, must find each
// other and train together: every round aggregates all three deltas.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { doneOf, drillRun, type NodeProcess, roundEvents, startNodeProcess } from '../e2e/node-process.js'
import { VirtualLan } from './virtual-lan.js'

const NODES = 3
const ROUNDS = 3

describe('discovery: mDNS on a LAN', () => {
  const procs: NodeProcess[] = []
  let lan: VirtualLan | undefined
  afterAll(() => {
    for (const p of procs) p.child.kill('SIGKILL')
    lan?.destroy()
  })

  it('nodes without bootstrap peers find each other by mDNS and train together', async () => {
    lan = VirtualLan.create(NODES)
    lan.enableMulticast()
    const { root, genesisPath } = drillRun('mdns', { expectedPeers: NODES, collectTimeoutMs: 5000 })
    const nodes = Array.from({ length: NODES }, (_, i) => {
      const p = startNodeProcess({
        dir: join(root, `node-${i}`),
        genesisPath,
        bootstrap: [],
        rounds: ROUNDS,
        netns: lan!.namespace(i),
        listen: `/ip4/${lan!.address(i)}/tcp/4100`,
        args: ['--mdns', '--start-timeout', '60', '--relay-client', 'off'],
      })
      procs.push(p)
      return p
    })
    const done = await Promise.all(nodes.map((p) => doneOf(p, 120_000)))
    expect(await Promise.all(nodes.map((p) => p.exit))).toEqual([0, 0, 0])
    for (const p of nodes) {
      const ready = p.events.find((e) => e.type === 'ready')
      expect(ready?.type === 'ready' && ready.peers, 'peers found before round 1').toBe(NODES)
      for (const e of roundEvents(p)) expect(e.report.contributors, `round ${e.report.round}`).toBe(NODES)
    }
    expect(new Set(done.map((d) => d.weightsHash)).size).toBe(1)
  })
})
