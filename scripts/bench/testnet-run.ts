// A real `dtrain testnet` for a benchmark: N node processes (the tiny model by default) on 127.0.0.1, its
// progress on this process's stderr, its JSON summary (the last stdout line) returned.
import { spawn } from 'node:child_process'
import type { TestnetSummary } from '../../src/cli/testnet.js'

export interface TestnetRun {
  nodes: number
  rounds: number
  innerSteps: number
  /** the model preset (default tiny) */
  preset?: string
  /** more options of `dtrain testnet` (`--encoding fp32`) */
  extra?: string[]
}

/** The arguments of the run, as `dtrain` takes them (a report prints them). */
export function testnetArgs(run: TestnetRun): string[] {
  return [
    'testnet',
    '--nodes',
    String(run.nodes),
    '--rounds',
    String(run.rounds),
    '--preset',
    run.preset ?? 'tiny',
    '--dataset',
    'synthetic',
    '--inner-steps',
    String(run.innerSteps),
    ...(run.extra ?? []),
    '--start-timeout',
    '180',
    '--json',
  ]
}

export function runTestnet(run: TestnetRun): Promise<TestnetSummary> {
  const cli = new URL('../../src/cli/main.js', import.meta.url).pathname
  const args = testnetArgs(run)
  process.stderr.write(`dtrain ${args.join(' ')}\n`)
  return new Promise<TestnetSummary>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as TestnetSummary)
      } catch {
        reject(new Error(`dtrain testnet exited ${code} without a JSON summary`))
      }
    })
  })
}
