// UPnP is opt-in (SPEC.md 2.9): a node started with --upnp on a LAN without a UPnP gateway (a
// network namespace of its own, so that its SSDP search stays inside it) must run as usual: the
// gateway search finds nothing and the node trains its rounds and exits cleanly.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { doneOf, drillRun, type NodeProcess, roundEvents, startNodeProcess } from '../e2e/node-process.js'
import { VirtualLan } from './virtual-lan.js'

describe('UPnP opt-in', () => {
  let node: NodeProcess | undefined
  let lan: VirtualLan | undefined
  afterAll(() => {
    node?.child.kill('SIGKILL')
    lan?.destroy()
  })

  it('a node asked to use UPnP where there is no gateway runs its rounds as usual', async () => {
    lan = VirtualLan.create(1)
    lan.enableMulticast()
    const { root, genesisPath } = drillRun('upnp', { expectedPeers: 1, minPeers: 1 })
    node = startNodeProcess({
      dir: join(root, 'node-0'),
      genesisPath,
      bootstrap: [],
      rounds: 2,
      netns: lan.namespace(0),
      listen: `/ip4/${lan.address(0)}/tcp/4100`,
      args: ['--upnp', '--start-timeout', '2'],
    })
    await doneOf(node, 60_000)
    expect(await node.exit).toBe(0)
    expect(roundEvents(node).map((e) => e.report.round)).toEqual([0, 1])
  })
})
