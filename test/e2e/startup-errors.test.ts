// A node given bootstrap peers that reaches none of them says which address failed and why, and
// exits 2, instead of training a run of its own forever (issue 19: a wrong address or peer id, a
// missing or wrong swarm key, another genesis). Real node processes on 127.0.0.1.
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { classifyDialError } from '../../src/net/bootstrap-check.js'
import { writeSwarmKeyFile } from '../../src/net/swarm-key.js'
import { runCli } from './helpers.js'
import { drillRun, listeningOf, processesKilledAfterAll, startNodeProcess } from './node-process.js'

describe('start-up that cannot reach its bootstrap peers', () => {
  const procs = processesKilledAfterAll()

  /** `dtrain start` of a second node that bootstraps from `address`, with a short start timeout. */
  const join2 = (genesisPath: string, dir: string, address: string, extra: string[] = []) =>
    runCli([
      'start',
      '--genesis',
      genesisPath,
      '--state',
      dir,
      '--bootstrap',
      address,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      'off',
      '--start-timeout',
      '3',
      '--backend',
      'wasm',
      '--relay-client',
      'off',
      ...extra,
    ])

  it('names an address where nothing listens', async () => {
    const { root, genesisPath } = drillRun('startup-refused', { expectedPeers: 2 })
    const address = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWLX7CbhQG4NE9Z7jVa1KRm6tkX8V6q1JQjXu6V4E9gq2b'
    const { code, stderr } = await join2(genesisPath, join(root, 'b'), address)
    expect(code, stderr).toBe(2)
    expect(stderr).toContain('reached none of its 1 bootstrap peer')
    expect(stderr).toContain(`${address}: unreachable: nothing listens there`)
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it('names a swarm key that differs, and another genesis', async () => {
    const { root, genesisPath } = drillRun('startup-key', { expectedPeers: 2 })
    const key = join(root, 'swarm.key')
    await writeSwarmKeyFile(key)
    const a = startNodeProcess({
      dir: join(root, 'a'),
      genesisPath,
      bootstrap: [],
      rounds: 0,
      args: ['--swarm-key', key],
    })
    procs.push(a)
    const address = (await listeningOf(a)).addresses[0]
    const other = join(root, 'other.key')
    await writeSwarmKeyFile(other)
    for (const extra of [[], ['--swarm-key', other]]) {
      const { code, stderr } = await join2(genesisPath, join(root, `b${extra.length}`), address, extra)
      expect(code, stderr).toBe(2)
      // refused at once, or stalled (under load): both name the swarm keys
      expect(stderr).toMatch(
        /(the connection handshake failed|the libp2p handshake did not complete) .*different swarm keys/,
      )
    }

    const elsewhere = drillRun('startup-genesis', { expectedPeers: 2 })
    const { code, stderr } = await join2(elsewhere.genesisPath, join(root, 'c'), address, [
      '--swarm-key',
      key,
    ])
    expect(code, stderr).toBe(2)
    expect(stderr).toMatch(
      /connected, but 12D3KooW\w+ does not take part in this run: it runs another genesis/,
    )
  })

  it('names a listen port another process holds, and exits 2 without a stack trace', async () => {
    const { root, genesisPath } = drillRun('startup-port', { expectedPeers: 1, minPeers: 1 })
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      const { code, stderr } = await runCli([
        'start',
        '--genesis',
        genesisPath,
        '--state',
        join(root, 'a'),
        '--listen',
        `/ip4/127.0.0.1/tcp/${port}`,
        '--api',
        'off',
        '--backend',
        'wasm',
      ])
      expect(code, stderr).toBe(2)
      expect(stderr).toContain(
        `cannot listen on /ip4/127.0.0.1/tcp/${port}: the port is in use by another process`,
      )
      expect(stderr).toContain('--listen')
      expect(stderr).not.toMatch(/\n\s+at /)
    } finally {
      server.close()
    }
  })

  it('tells another peer at the address from the one named', () => {
    const err = Object.assign(
      new Error('Payload identity key X does not match expected remote identity key Y'),
      {
        name: 'EncryptionFailedError',
      },
    )
    expect(classifyDialError(err, 'Y')).toMatch(/another peer answers there, not Y/)
  })
})
