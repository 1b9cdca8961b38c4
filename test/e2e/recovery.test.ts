// Crash recovery (issue: operator experience): a node process killed with SIGKILL in the middle of
// a round restarts from its state directory, catches up with the network (state sync when it fell
// behind) and ends the run with the same weights as the nodes that never stopped.
import { type ChildProcess, fork } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { NodeEvent } from '../../src/cli/events.js'
import { defaultGenesis } from '../../src/wire/genesis.js'

const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const ROUNDS = 20

interface Proc {
  child: ChildProcess
  events: NodeEvent[]
  exit: Promise<number | null>
}

function startNode(dir: string, genesisPath: string, bootstrap: string[]): Proc {
  const child = fork(
    cli,
    [
      'start',
      '--genesis',
      genesisPath,
      '--state',
      dir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--rounds',
      String(ROUNDS),
      '--api',
      'off',
      '--train-workers',
      '1',
      '--start-timeout',
      '20',
      ...bootstrap.flatMap((b) => ['--bootstrap', b]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  )
  mkdirSync(dir, { recursive: true })
  child.stderr?.pipe(createWriteStream(join(dir, `node-${child.pid}.log`)))
  const events: NodeEvent[] = []
  child.on('message', (e: NodeEvent) => events.push(e))
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, events, exit }
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const roundsDone = (p: Proc) => p.events.filter((e) => e.type === 'round').length
const lastRound = (p: Proc) => {
  const rounds = p.events.filter((e) => e.type === 'round')
  return rounds.length ? (rounds.at(-1) as Extract<NodeEvent, { type: 'round' }>).report.round : -1
}

describe('crash recovery', () => {
  const procs: Proc[] = []
  afterAll(() => {
    for (const p of procs) p.child.kill('SIGKILL')
  })

  it('a node killed with SIGKILL mid-round restarts from its state directory and ends in agreement', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dtrain-recovery-'))
    const genesisPath = join(root, 'genesis.json')
    const genesis = defaultGenesis({
      preset: 'tiny',
      dataset: 'synthetic',
      innerSteps: 8,
      batchSize: 4,
      expectedPeers: 3,
      minPeers: 2,
      minCollectMs: 300,
      collectTimeoutMs: 4000,
      evalWindows: 4,
      salt: 'recovery',
    })
    writeFileSync(genesisPath, JSON.stringify(genesis))
    const a = startNode(join(root, 'a'), genesisPath, [])
    procs.push(a)
    const listening = await until('node a to listen', () =>
      a.events.find((e): e is Extract<NodeEvent, { type: 'listening' }> => e.type === 'listening'),
    )
    const b = startNode(join(root, 'b'), genesisPath, listening.addresses)
    const cDir = join(root, 'c')
    let c = startNode(cDir, genesisPath, listening.addresses)
    procs.push(b, c)

    // Kill c twice at different moments: early in a round (training) and later in one (collecting
    // or committing), each time in the middle of a round, never between rounds by design.
    const kills: number[] = []
    for (const delayMs of [50, 600]) {
      await until('c to finish a round', () => (roundsDone(c) >= 2 ? true : undefined), 90_000)
      await new Promise((r) => setTimeout(r, delayMs))
      kills.push(lastRound(c) + 1)
      c.child.kill('SIGKILL')
      expect(await c.exit).toBe(null) // killed by the signal, no exit code
      // The others go on without it for a while.
      const behind = lastRound(a) + 2
      await until('the others to move on', () => (lastRound(a) >= behind ? true : undefined), 60_000)
      // The restart must leave the network rounds to run with it (not a test of a late straggler).
      expect(lastRound(a), 'the others are too close to the end of the run').toBeLessThan(ROUNDS - 6)
      c = startNode(cDir, genesisPath, listening.addresses)
      procs.push(c)
      const ready = await until('c to be ready again', () =>
        c.events.find((e): e is Extract<NodeEvent, { type: 'ready' }> => e.type === 'ready'),
      )
      expect(ready.round).toBeGreaterThan(0) // resumed (and synced), not started over
    }

    const done = (p: Proc) =>
      until(
        'the run to end',
        () => p.events.find((e): e is Extract<NodeEvent, { type: 'done' }> => e.type === 'done'),
        120_000,
      )
    const [da, db, dc] = await Promise.all([done(a), done(b), done(c)])
    expect(db.weightsHash).toBe(da.weightsHash)
    expect(dc.weightsHash).toBe(da.weightsHash)
    expect(await Promise.all([a.exit, b.exit, c.exit])).toEqual([0, 0, 0])
    const logs = readFileSync(join(cDir, `node-${c.child.pid}.log`), 'utf8')
    expect(logs).toMatch(/resumed from the state directory/)
    // Its round log survived the kills and ends at the run's last round.
    const roundLog = readFileSync(join(cDir, 'rounds.jsonl'), 'utf8').trim().split('\n')
    expect(JSON.parse(roundLog.at(-1)!).round).toBe(ROUNDS - 1)
    expect(kills).toHaveLength(2)
  })
})
