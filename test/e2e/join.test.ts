// `dtrain start --join` (issue 19 §2, SPEC.md 12.5): a node asked to join takes the network's
// decided state even where its state directory holds one of its own, and never starts a run of
// its own: finding no decided state, it exits 2 saying what it saw, its saved state untouched.
// Real node processes on 127.0.0.1.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from './helpers.js'
import {
  doneOf,
  drillRun,
  listeningOf,
  processesKilledAfterAll,
  roundEvents,
  startNodeProcess,
  until,
} from './node-process.js'

describe('dtrain start --join', () => {
  const procs = processesKilledAfterAll()
  const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

  it('takes the network state over a saved one of a later round, or exits 2 when there is none', async () => {
    // One expected peer: every node's own commit is a majority, so each run below needs nobody.
    const { root, genesisPath } = drillRun('join', { expectedPeers: 1, minPeers: 1 })
    // X trains 4 rounds on its own: its directory holds a state of round 3 that nobody else has.
    const x = startNodeProcess({ dir: join(root, 'x'), genesisPath, bootstrap: [], rounds: 4 })
    procs.push(x)
    await doneOf(x)
    expect(await x.exit).toBe(0)
    const saved = join(root, 'x', 'node-state.bin')
    const before = sha(saved)

    // With --join and nobody to join: exit 2 naming what it saw, the saved state as it was.
    const alone = await runCli([
      'start',
      '--genesis',
      genesisPath,
      '--state',
      join(root, 'x'),
      '--join',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      'off',
      '--start-timeout',
      '2',
      '--backend',
      'wasm',
      '--relay-client',
      'off',
    ])
    expect(alone.code, alone.stderr).toBe(2)
    expect(alone.stderr).toContain(
      '--join found no decided state to join within 4 s: no commit from any of 0 connected peers',
    )
    expect(alone.stderr).not.toMatch(/\n\s+at /)
    expect(sha(saved)).toBe(before)

    // A runs from round 0; X joins it with --join and adopts A's decided state, although that
    // state's round is below the one X saved.
    // (A trains 10 times slower, so that X joins it before A passes X's saved round.)
    const a = startNodeProcess({
      dir: join(root, 'a'),
      genesisPath,
      bootstrap: [],
      rounds: 0,
      args: ['--slowdown', '10'],
    })
    procs.push(a)
    const { addresses } = await listeningOf(a)
    await until('A to finish a round', () => (roundEvents(a).length > 0 ? true : undefined), 60_000)
    const joined = startNodeProcess({
      dir: join(root, 'x'),
      genesisPath,
      bootstrap: addresses,
      rounds: 0,
      args: ['--join'],
    })
    procs.push(joined)
    const synced = await until(
      'X to adopt the network state',
      () => joined.events.find((e) => e.type === 'synced'),
      60_000,
    )
    if (synced.type !== 'synced') throw new Error('unreachable')
    expect(synced.round).toBeLessThan(3)
    const aHash = roundEvents(a).find((e) => e.report.round === synced.round)?.report.weightsHash
    expect(synced.weightsHash).toBe(aHash)
    // The saved state was replaced by the network's, once fetched.
    await until('the state file to be replaced', () => (sha(saved) !== before ? true : undefined), 10_000)
    const ready = await until('X to be ready', () => joined.events.find((e) => e.type === 'ready'))
    expect(ready.type === 'ready' && ready.round).toBe(synced.round + 1)
  })
})
