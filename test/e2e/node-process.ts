// `dtrain start` as a child process (a real node in its own process), optionally inside a network
// namespace, with the node's events (IPC) collected: shared by the crash and chaos drills.
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import type { NodeEvent } from '../../src/cli/events.js'
import { defaultGenesis, type Genesis, type GenesisOptions } from '../../src/wire/genesis.js'
import { tempDir } from '../fixtures/temp.js'

export const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname

export interface NodeProcess {
  child: ChildProcess
  events: NodeEvent[]
  exit: Promise<number | null>
}

export interface NodeProcessOptions {
  dir: string
  genesisPath: string
  bootstrap: string[]
  rounds: number
  listen?: string
  /** run inside this network namespace (ip netns exec) */
  netns?: string
  args?: string[]
}

/** A list for the node processes a test file starts: each is killed (SIGKILL) after its tests. */
export function processesKilledAfterAll(): NodeProcess[] {
  const procs: NodeProcess[] = []
  afterAll(() => {
    for (const p of procs) p.child.kill('SIGKILL')
  })
  return procs
}

export function startNodeProcess(options: NodeProcessOptions): NodeProcess {
  const args = [
    'start',
    '--genesis',
    options.genesisPath,
    '--state',
    options.dir,
    '--listen',
    options.listen ?? '/ip4/127.0.0.1/tcp/0',
    '--rounds',
    String(options.rounds),
    '--api',
    'off',
    '--train-workers',
    '1',
    '--start-timeout',
    '20',
    // the drills' timings were calibrated on tfjs-wasm; auto would pick torch-cpu where PyTorch is
    // installed (test/torch/ covers it); a test's own --backend comes later and wins
    '--backend',
    'wasm',
    ...options.bootstrap.flatMap((b) => ['--bootstrap', b]),
    ...(options.args ?? []),
  ]
  return startCliProcess(args, options.dir, options.netns)
}

/**
 * Any `dtrain` command as a child process with an IPC channel (its events collected), optionally
 * inside a network namespace; its stderr (the log) goes to DIR/node-<pid>.log.
 */
export function startCliProcess(args: string[], dir: string, netns?: string): NodeProcess {
  const stdio: ['ignore', 'ignore', 'pipe', 'ipc'] = ['ignore', 'ignore', 'pipe', 'ipc']
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, process.execPath, cli, ...args], { stdio })
    : fork(cli, args, { stdio })
  mkdirSync(dir, { recursive: true })
  child.stderr?.pipe(createWriteStream(join(dir, `node-${child.pid}.log`)))
  const events: NodeEvent[] = []
  child.on('message', (e: NodeEvent) => events.push(e))
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, events, exit }
}

/**
 * Waits until `fn` returns a value; on timeout the error names `what` and adds `explain()` (the
 * nodes' logs, say: a drill that fails in CI has nothing else to show).
 */
export async function until<T>(
  what: string,
  fn: () => T | undefined,
  timeoutMs = 60_000,
  explain?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value !== undefined) return value
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${explain ? `\n${explain()}` : ''}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The log lines of every node process that ran in `dir` (each node-<pid>.log, oldest first). */
export function nodeLogLines(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^node-\d+\.log$/.test(f))
    .map((f) => join(dir, f))
    .sort((x, y) => statSync(x).mtimeMs - statSync(y).mtimeMs)
    .flatMap((f) => readFileSync(f, 'utf8').split('\n'))
}

/**
 * The last `lines` log lines at info level or above of each node in `dirs` (nodeLogLines), one
 * JSON line each, shortened.
 */
export function logTails(dirs: Record<string, string>, lines = 12): string {
  return Object.entries(dirs)
    .map(([name, dir]) => {
      const tail = nodeLogLines(dir)
        .filter((l) => {
          try {
            return JSON.parse(l).level >= 30
          } catch {
            return false
          }
        })
        .slice(-lines)
        .map((l) => {
          const {
            level,
            time,
            msg,
            pid: _pid,
            name: _name,
            peer: _peer,
            run: _run,
            hostname: _host,
            ...rest
          } = JSON.parse(l)
          return `  ${new Date(time).toISOString().slice(11, 23)} ${level} ${msg} ${JSON.stringify(rest).slice(0, 300)}`
        })
      return `node ${name} (${dir}):\n${tail.join('\n')}`
    })
    .join('\n')
}

export type RoundEvent = Extract<NodeEvent, { type: 'round' }>
export type DoneEvent = Extract<NodeEvent, { type: 'done' }>

export const roundEvents = (p: NodeProcess): RoundEvent[] =>
  p.events.filter((e): e is RoundEvent => e.type === 'round')
export const roundsDone = (p: NodeProcess) => roundEvents(p).length
export const lastRound = (p: NodeProcess) => roundEvents(p).at(-1)?.report.round ?? -1

export function listeningOf(p: NodeProcess): Promise<Extract<NodeEvent, { type: 'listening' }>> {
  return until('the node to listen', () =>
    p.events.find((e): e is Extract<NodeEvent, { type: 'listening' }> => e.type === 'listening'),
  )
}

export function doneOf(p: NodeProcess, timeoutMs = 120_000): Promise<DoneEvent> {
  return until('the run to end', () => p.events.find((e): e is DoneEvent => e.type === 'done'), timeoutMs)
}

/**
 * A drill's run: a new temporary directory holding genesis.json of a tiny model on synthetic data
 * with short rounds (8 inner steps, 3 peers, collect deadline 4 s unless `overrides` say otherwise).
 */
export function drillRun(
  salt: string,
  overrides: Partial<GenesisOptions> = {},
): { root: string; genesis: Genesis; genesisPath: string } {
  const root = tempDir(salt)
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
    salt,
    ...overrides,
  })
  writeFileSync(genesisPath, JSON.stringify(genesis))
  return { root, genesis, genesisPath }
}
