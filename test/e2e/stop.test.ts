// Stopping a node (issue 19): SIGTERM in the middle of a round exits 143 after a clean stop, with
// no stack trace, and the round it was collecting is neither aggregated nor committed.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { drillRun, processesKilledAfterAll, roundsDone, startNodeProcess, until } from './node-process.js'

describe('a node stopped while it collects', () => {
  const procs = processesKilledAfterAll()

  it('exits 143 on SIGTERM without a stack trace, and commits nothing of the round', async () => {
    // Two expected peers, one running: after training, collect waits for the other's delta.
    const { root, genesisPath } = drillRun('stop', {
      expectedPeers: 2,
      minPeers: 1,
      collectTimeoutMs: 60_000,
    })
    const dir = join(root, 'a')
    const node = startNodeProcess({
      dir,
      genesisPath,
      bootstrap: [],
      rounds: 0,
      args: ['--start-timeout', '1', '--log-level', 'debug'],
    })
    procs.push(node)
    const log = () => {
      try {
        return readFileSync(join(dir, `node-${node.child.pid}.log`), 'utf8')
      } catch {
        return '' // not created yet
      }
    }
    await until('the collect phase', () => (/"phase":"collect"/.test(log()) ? true : undefined), 60_000)
    node.child.kill('SIGTERM')
    expect(await node.exit).toBe(143)
    const lines = log()
    expect(lines).toMatch(/"signal":"SIGTERM".*"msg":"stopping"/)
    expect(lines).not.toMatch(/\n\s+at /) // no stack trace
    expect(lines).not.toMatch(/"phase":"(aggregate|commit)"/)
    expect(roundsDone(node)).toBe(0)
  })
})
