// The state directory from outside (issue 19 §3): a path that is a file, a read-only file system,
// a corrupt state file, a disk too small for the run's proofs, and a disk that fills up mid-run.
// Each exits 2 with a message naming the cause and the fix, without a stack trace, and loses
// nothing. Real node processes; the small and read-only disks are tmpfs mounts in a mount
// namespace of the test's own (unshare), so nothing outside the test is touched.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bytesPerRound } from '../../src/proof/storage.js'
import { decodeNodeState } from '../../src/store/node-state.js'
import { diskNeeded } from '../../src/store/state-dir.js'
import { runIdOf } from '../../src/wire/genesis.js'
import { tempDir } from '../fixtures/temp.js'
import { startOnTmpfs } from '../fixtures/tmpfs.js'
import { runCli } from './helpers.js'
import { drillRun } from './node-process.js'

/** `dtrain start` of a node alone: one expected peer, so that its rounds need nobody. */
const startArgs = (genesisPath: string, state: string, rounds: number) => [
  'start',
  '--genesis',
  genesisPath,
  '--state',
  state,
  '--listen',
  '/ip4/127.0.0.1/tcp/0',
  '--api',
  'off',
  '--backend',
  'wasm',
  '--relay-client',
  'off',
  '--rounds',
  String(rounds),
  '--start-timeout',
  '1',
]

describe('the state directory', () => {
  const run = drillRun('state-dir', { expectedPeers: 1, minPeers: 1 })

  it('refuses a path that is a file, naming it and the fix', async () => {
    const file = join(run.root, 'not-a-dir')
    writeFileSync(file, 'x')
    const { code, stderr } = await runCli(startArgs(run.genesisPath, file, 1))
    expect(code).toBe(2)
    expect(stderr).toContain(`--state ${file} is a file, not a directory`)
    expect(stderr).not.toMatch(/\n\s+at /)
    // below a file, the path cannot be a directory either
    const below = await runCli(startArgs(run.genesisPath, join(file, 'state'), 1))
    expect(below.code).toBe(2)
    expect(below.stderr).toMatch(/not-a-dir\/state is a file|a part of the path is a file/)
  })

  it('refuses a read-only file system, saying so', async () => {
    const { code, stderr } = await startOnTmpfs((state) => startArgs(run.genesisPath, state, 1), {
      sizeBytes: 64 << 20,
      readOnly: true,
      out: tempDir('state-out'),
    })
    expect(code).toBe(2)
    expect(stderr).toMatch(/cannot write to the state directory .*: the file system is read-only \(EROFS\)/)
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it('names a corrupt state file and what to do, and leaves it as it was', async () => {
    const state = tempDir('corrupt-state')
    expect((await runCli(startArgs(run.genesisPath, state, 1))).code).toBe(0)
    const path = join(state, 'node-state.bin')
    const bytes = readFileSync(path)
    bytes[100] ^= 0xff
    writeFileSync(path, bytes)
    const { code, stderr } = await runCli(startArgs(run.genesisPath, state, 2))
    expect(code).toBe(2)
    expect(stderr).toContain(`${path} cannot be read: the node state file is corrupt (checksum mismatch)`)
    expect(stderr).toContain('restore the file from a backup, or move it away')
    expect(readFileSync(path)).toEqual(bytes)
  })

  it('refuses at start a disk too small for the proofs it keeps, with both figures', async () => {
    const { proof } = bytesPerRound(run.genesis)
    const { code, stderr } = await startOnTmpfs((state) => startArgs(run.genesisPath, state, 1), {
      sizeBytes: 2 * proof,
      out: tempDir('state-out'),
    })
    expect(code).toBe(2)
    expect(stderr).toMatch(/has [\d.]+ MB free, and this run needs [\d.]+ MB there/)
    expect(stderr).toContain('--proof-retention 4')
  })

  it('stops with its last state intact when the disk fills up mid-run, and says so', async () => {
    const out = tempDir('state-out')
    const { code, stderr } = await startOnTmpfs((dir) => startArgs(run.genesisPath, dir, 5), {
      sizeBytes: diskNeeded(bytesPerRound(run.genesis), 4) + (4 << 20),
      fill: true,
      out,
    })
    expect(code, stderr).toBe(2)
    const saved = decodeNodeState(readFileSync(join(out, 'node-state.bin')))
    expect(saved.runId).toEqual(runIdOf(run.genesis))
    const round = saved.global.round
    expect(stderr).toMatch(/the disk holding .* is full \(ENOSPC/)
    expect(stderr).toContain(`its state after round ${round} is intact`)
    expect(stderr).not.toMatch(/\n\s+at /)
  })
})
