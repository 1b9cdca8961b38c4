// The command line as a user runs it: real child processes, real TCP on 127.0.0.1.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmodSync, cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readGenesisFile } from '../../src/cli/config-files.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis, runIdHex } from '../../src/wire/genesis.js'
import { tempDir } from '../fixtures/temp.js'
import { runCli } from './helpers.js'
import { drillRun, listeningOf, startCliProcess, startNodeProcess } from './node-process.js'

// `npm test` builds first; the CLI under test is the built one, as `npx dtrain` runs it.
const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname

const run = runCli

function nodeProcessesUsing(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
  return out
    .split('\n')
    .filter((line) => line.includes(cli) && line.includes(' start ') && line.includes(dir))
}

describe('dtrain CLI', () => {
  it('lists its commands in --help', async () => {
    const { code, stdout } = await run(['--help'])
    expect(code).toBe(0)
    for (const command of ['init', 'keys', 'start', 'testnet', 'status', 'audit', 'relay'])
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'))
    for (const command of ['init', 'keys', 'start', 'testnet', 'status', 'audit', 'relay']) {
      const help = await run([command, '--help'])
      expect(help.code).toBe(0)
      expect(help.stdout, command).toMatch(/Examples:/)
    }
  })

  it('dtrain init writes a run that validates, with a 0600 key and swarm key, and prints the join command', async () => {
    const dir = tempDir('init')
    const { code, stdout, stderr } = await run([
      'init',
      '--dir',
      dir,
      '--nodes',
      '4',
      '--preset',
      'tiny',
      '--encoding',
      'int8-block',
      '--private',
      '--json',
    ])
    expect(code, stderr).toBe(0)
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!)
    const genesis = await readGenesisFile(out.genesis) // the same schema dtrain start uses
    expect(genesis.round.expectedPeers).toBe(4)
    expect(genesis.delta.encoding).toBe('int8-block')
    expect(statSync(join(dir, 'swarm.key')).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'node-0', 'key')).mode & 0o777).toBe(0o600)
    expect(out.join).toContain(`/p2p/${out.bootstrapPeerId}`)
    expect(out.join).toContain('--swarm-key swarm.key')
    // The disk each node needs, as dtrain start checks it (SPEC.md 17.1): the tiny model at H = 20
    // keeps 21 checkpoints of 16 + 12 d bytes a round, for 5 rounds, and its state file twice.
    const d = parameterCount(genesis.model)
    expect(out.disk.proofBytesPerRound).toBe(21 * (16 + 12 * d) + 4 * d) // int8 deltas: a residual (6.9)
    expect(out.disk.totalBytes).toBe(
      5 * out.disk.proofBytesPerRound + 2 * out.disk.stateBytes + out.disk.objectBytes,
    )
    expect(out.disk.parkedBytes).toBe(0) // a small model's node parks nothing
    const text = await run([
      'init',
      '--dir',
      tempDir('init-text'),
      '--preset',
      'gpt-124m',
      '--inner-steps',
      '100',
    ])
    expect(text.stdout).toMatch(
      /disk {7}each node needs \d+\.\d GB in its --state directory: 10\.4 GB of proof per round \(7 checkpoints, one every 17 steps\) for 5 rounds/,
    )
    // dtrain keys shows the same identity, and creates a new one elsewhere.
    const keys = await run(['keys', '--key', join(dir, 'node-0', 'key'), '--json'])
    expect(JSON.parse(keys.stdout).peerId).toBe(out.bootstrapPeerId)
    const fresh = await run(['keys', '--key', join(dir, 'node-1', 'key')])
    expect(fresh.stdout).toMatch(/created key .*\npeer id 12D3KooW/)
    expect(statSync(join(dir, 'node-1', 'key')).mode & 0o777).toBe(0o600)
    // A second init in the same place is refused rather than replacing the run.
    const again = await run(['init', '--dir', dir])
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/exists: choose another --dir, or --force/)
  })

  it('dtrain init --data names the text in both start commands and says to copy it', async () => {
    const dir = tempDir('init-data')
    const text = join(dir, 'book.txt')
    writeFileSync(text, 'Call me Ishmael. '.repeat(2000))
    const { code, stdout, stderr } = await run([
      'init',
      '--dir',
      join(dir, 'run'),
      '--preset',
      'tiny',
      '--data',
      text,
    ])
    expect(code, stderr).toBe(0)
    expect(stdout).toContain(`--data ${text}`) // the first node
    expect(stdout).toMatch(/--bootstrap .* --data book\.txt/) // every other node
    expect(stdout).toMatch(/copy genesis\.json and the text .*must hash to the genesis's dataset\.textSha256/)
  })

  it('refuses a key file others can read, and says how to fix it', async () => {
    const dir = tempDir('key-mode')
    const key = join(dir, 'key')
    expect((await run(['keys', '--key', key])).code).toBe(0)
    chmodSync(key, 0o644)
    const { code, stderr } = await run(['keys', '--key', key])
    expect(code).toBe(2)
    expect(stderr).toContain(`key file ${key} is readable by others (mode 0644)`)
    expect(stderr).toContain(`chmod 600 ${key}`)
  })

  it('refuses a genesis with a bad field, naming the field', async () => {
    const dir = tempDir('cli')
    const genesis = structuredClone(defaultGenesis()) as unknown as { inner: { steps: number } }
    genesis.inner.steps = -3
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(genesis))
    writeFileSync(join(dir, 'broken.json'), '{"version": 1,')
    const bad = await run(['start', '--genesis', join(dir, 'bad.json'), '--state', join(dir, 's')])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('inner.steps')
    const broken = await run(['start', '--genesis', join(dir, 'broken.json'), '--state', join(dir, 's')])
    expect(broken.code).toBe(2)
    expect(broken.stderr).toContain('not valid JSON')
    const missing = await run(['start', '--genesis', join(dir, 'nope.json'), '--state', join(dir, 's')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('nope.json')
  })

  it('runs a private 3-node testnet as child processes and prints the JSON summary last', async () => {
    const state = tempDir('testnet')
    const { code, stdout, stderr } = await run([
      'testnet',
      '--nodes',
      '3',
      '--rounds',
      '2',
      '--preset',
      'tiny',
      '--dataset',
      'synthetic',
      '--inner-steps',
      '8',
      '--batch-size',
      '8',
      '--json',
      '--private',
      '--backend',
      'wasm', // auto would pick torch-cpu where PyTorch is installed: test/torch/cli.test.ts
      '--state',
      state,
    ])
    expect(code, stderr).toBe(0)
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!)
    expect(summary.nodes).toBe(3)
    expect(summary.rounds).toBe(2)
    expect(summary.runId).toMatch(/^[0-9a-f]{64}$/)
    expect(summary.evalLoss).toHaveLength(3)
    expect(summary.evalLoss[2]).toBeLessThan(summary.evalLoss[0])
    expect(summary.modelHashes).toHaveLength(3)
    expect(new Set(summary.modelHashes).size).toBe(1)
    expect(summary.bytesSentPerNode).toHaveLength(3)
    for (const bytes of summary.bytesSentPerNode) expect(bytes).toBeGreaterThan(0)
    // libp2p's count of each connection: more than the delta payloads it carried, and by protocol
    for (let i = 0; i < 3; i++) {
      expect(summary.linkBytesSentPerNode[i]).toBeGreaterThan(summary.bytesSentPerNode[i])
      expect(summary.linkBytesReceivedPerNode[i]).toBeGreaterThan(summary.bytesReceivedPerNode[i])
    }
    expect(summary.linkBytesByProtocol['/dtrain/chunks/1.0.0 received']).toBeGreaterThan(0)
    expect(Object.keys(summary.linkBytesByProtocol).some((p) => p.startsWith('/meshsub/'))).toBe(true)
    expect(stderr).toMatch(/round 2\/2/)
    expect(stderr).toMatch(/private network/)
    expect(statSync(join(state, 'swarm.key')).mode & 0o777).toBe(0o600)
    for (let i = 0; i < 3; i++) {
      expect(existsSync(join(state, `node-${i}`, 'node.log'))).toBe(true)
      expect(statSync(join(state, `node-${i}`, 'key')).mode & 0o777).toBe(0o600)
    }
    expect(nodeProcessesUsing(state)).toEqual([])

    // dtrain audit reads the proofs the testnet left in DIR/node-i (genesis found in DIR).
    const valid = await run(['audit', '--proof', join(state, 'node-1'), '--round', '1', '--json'])
    expect(valid.code, valid.stderr + valid.stdout).toBe(0)
    const report = JSON.parse(valid.stdout.trim().split('\n').at(-1)!)
    expect(report.verdict).toBe('valid')
    expect(report.segments).toHaveLength(2)
    const human = await run(['audit', '--proof', join(state, 'node-2'), '--round', '0', '--segments', '2'])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/VALID[\s\S]*segment \d+ .*: pass/)
    // A checkpoint altered on disk: the proof is invalid (exit 1), with the reason.
    const checkpoint = join(state, 'node-1', 'proofs', 'round-1', 'checkpoint-4')
    const bytes = readFileSync(checkpoint)
    bytes[64] ^= 0xff
    writeFileSync(checkpoint, bytes)
    const tampered = await run(['audit', '--proof', join(state, 'node-1'), '--round', '1', '--segments', '8'])
    expect(tampered.code).toBe(1)
    expect(tampered.stdout).toMatch(/INVALID[\s\S]*checkpoint 4 does not match its committed root/)
    // A node's own directory keeps no verdict about itself; node 0's record keeps the failure
    // against node 1 (its status shows it beside the peer: issue 19 §1).
    expect(existsSync(join(state, 'node-1', 'audits.jsonl'))).toBe(false)
    const recorded = await run([
      'audit',
      '--proof',
      join(state, 'node-1'),
      '--record',
      join(state, 'node-0'),
      '--round',
      '1',
      '--segments',
      '8',
    ])
    expect(recorded.code).toBe(1)
    expect(recorded.stdout).toMatch(/verdict recorded in .*node-0\/audits\.jsonl/)
    const verdicts = readFileSync(join(state, 'node-0', 'audits.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(verdicts).toHaveLength(1)
    expect(verdicts[0]).toMatchObject({ round: 1, verdict: 'invalid' })
    expect(verdicts[0].reasons.join(' ')).toMatch(/checkpoint 4 does not match its committed root/)
    expect(verdicts[0].peer).toBe(report.peer)
    // A round that was never trained: could not audit (exit 2).
    const missing = await run(['audit', '--proof', join(state, 'node-1'), '--round', '7'])
    expect(missing.code).toBe(2)
    // Another node's proof copied into node 1's directory does not audit VALID "by" node 1: the
    // directory's key says whose proofs these must be.
    rmSync(join(state, 'node-1', 'proofs', 'round-0'), { recursive: true })
    cpSync(join(state, 'node-2', 'proofs', 'round-0'), join(state, 'node-1', 'proofs', 'round-0'), {
      recursive: true,
    })
    const copied = await run(['audit', '--proof', join(state, 'node-1'), '--round', '0'])
    expect(copied.code).toBe(1)
    expect(copied.stdout).toMatch(/INVALID[\s\S]*not by the audited peer/)
    expect(missing.stdout).toMatch(/no proof of round 7/)
  })

  it("runs a testnet of the user's own genesis as it is, and refuses run options beside it", async () => {
    const dir = tempDir('testnet-genesis')
    const init = await run([
      'init',
      '--dir',
      dir,
      '--nodes',
      '2',
      '--preset',
      'tiny',
      '--dataset',
      'synthetic',
    ])
    expect(init.code, init.stderr).toBe(0)
    // A model of no preset: the file is the run.
    const path = join(dir, 'genesis.json')
    const file = JSON.parse(readFileSync(path, 'utf8'))
    file.model.dModel = 40
    file.model.mlpHidden = 80
    file.inner.steps = 4
    writeFileSync(path, JSON.stringify(file))
    const genesis = await readGenesisFile(path)
    const refused = await run([
      'testnet',
      '--genesis',
      path,
      '--encoding',
      'int8-block',
      '--inner-steps',
      '3',
    ])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(
      /--genesis .* fixes the run, so --inner-steps, --encoding cannot change it/,
    )
    const { code, stdout, stderr } = await run([
      'testnet',
      '--genesis',
      path,
      '--rounds',
      '1',
      '--json',
      '--backend',
      'wasm',
      '--state',
      join(dir, 'tn'),
    ])
    expect(code, stderr).toBe(0)
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!)
    expect(summary.nodes).toBe(2) // the genesis's expectedPeers
    expect(summary.runId).toBe(runIdHex(genesis))
    expect(summary.agreed).toBe(true)
    expect(summary.deltaBytes).toBe(4 * parameterCount(genesis.model) + 8) // fp32: its own model's size
    expect(stderr).toContain(`genesis: ${path}`)
  })

  it('stops every node on Ctrl-C (SIGINT) and exits 130', async () => {
    const state = tempDir('sigint')
    const child: ChildProcess = spawn(
      process.execPath,
      [
        cli,
        'testnet',
        '--rounds',
        '50',
        '--preset',
        'tiny',
        '--dataset',
        'synthetic',
        '--backend',
        'wasm',
        '--state',
        state,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (d) => {
        output += d
        if (output.includes('round 1/50')) resolve()
      })
    })
    expect(nodeProcessesUsing(state).length).toBe(3)
    child.kill('SIGINT')
    expect(await exited).toBe(130)
    expect(nodeProcessesUsing(state)).toEqual([])
  })

  it('stops a node and a relay cleanly on SIGTERM with exit code 143, as a service manager expects', async () => {
    const { root, genesisPath } = drillRun('sigterm')
    const relay = startCliProcess(
      [
        'relay',
        '--genesis',
        genesisPath,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--key',
        join(root, 'relay', 'key'),
      ],
      join(root, 'relay'),
    )
    const relayAt = await listeningOf(relay)
    // A node that runs until stopped (--rounds 0), bootstrapped from the relay.
    const node = startNodeProcess({
      dir: join(root, 'a'),
      genesisPath,
      bootstrap: relayAt.addresses,
      rounds: 0,
    })
    await listeningOf(node)
    node.child.kill('SIGTERM')
    relay.child.kill('SIGTERM')
    expect(await Promise.all([node.exit, relay.exit])).toEqual([143, 143])
    expect(readFileSync(join(root, 'relay', `node-${relay.child.pid}.log`), 'utf8')).toMatch(/relay stopped/)
  })
})
