// Start-up in any order (SPEC.md 2.6, 2.8): four node processes started at once in random order,
// the bootstrap node among them and not first, so that some nodes dial a bootstrap peer that is
// not listening yet. They must retry, end in one connected mesh and train every round with all
// four deltas (split networks at start-up are hivemind users' top reliability complaint).
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { createKeyFile } from '../../src/store/keys.js'
import {
  doneOf,
  drillRun,
  type NodeProcess,
  processesKilledAfterAll,
  roundEvents,
  startNodeProcess,
} from './node-process.js'

const NODES = 4
const ROUNDS = 3

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('start-up in random order', () => {
  const procs = processesKilledAfterAll()

  it('nodes started together, the bootstrap node not first, end in one mesh and train together', async () => {
    const { root, genesisPath } = drillRun('startup-order', { expectedPeers: NODES, collectTimeoutMs: 5000 })
    const port = await freePort()
    mkdirSync(join(root, 'node-0'), { recursive: true })
    const bootstrapKey = await createKeyFile(join(root, 'node-0', 'key'))
    const bootstrap = `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(bootstrapKey)}`
    // a random order with the bootstrap node (0) never first
    const order = [1, 2, 3].sort(() => Math.random() - 0.5)
    order.splice(1 + Math.floor(Math.random() * 3), 0, 0)
    const nodes = new Map<number, NodeProcess>()
    for (const i of order) {
      const p = startNodeProcess({
        dir: join(root, `node-${i}`),
        genesisPath,
        bootstrap: i === 0 ? [] : [bootstrap],
        rounds: ROUNDS,
        listen: i === 0 ? `/ip4/127.0.0.1/tcp/${port}` : '/ip4/127.0.0.1/tcp/0',
        args: ['--start-timeout', '60'],
      })
      procs.push(p)
      nodes.set(i, p)
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    const all = [...nodes.values()]
    const done = await Promise.all(all.map((p) => doneOf(p, 150_000)))
    expect(await Promise.all(all.map((p) => p.exit))).toEqual([0, 0, 0, 0])
    for (const p of all) {
      // Each found the mesh before round 0 (SPEC.md 11: it waits for all expected peers, or for at
      // least one and 2 s without another; on a loaded machine the last node can take longer to
      // subscribe, as CI saw once), and every round aggregated all four deltas.
      const ready = p.events.find((e) => e.type === 'ready')
      expect(ready?.type === 'ready' && ready.peers, `order ${order.join(', ')}`).toBeGreaterThan(1)
      for (const e of roundEvents(p)) expect(e.report.contributors, `round ${e.report.round}`).toBe(NODES)
    }
    expect(new Set(done.map((d) => d.weightsHash)).size).toBe(1)
  })
})
