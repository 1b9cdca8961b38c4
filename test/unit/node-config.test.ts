// dtrain start's configuration: one schema for the config file, DTRAIN_* variables and flags,
// flags over environment over file over defaults; errors name the field, the value and the fix.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/cli/config-files.js'
import { envName, resolveNodeConfig } from '../../src/cli/node-config.js'
import { addStartOptions } from '../../src/cli/start-command.js'
import { tempDir } from '../fixtures/temp.js'

const dir = tempDir('config')
const file = (name: string, content: unknown) => {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify(content))
  return path
}
const parse = (args: string[]) => {
  const command = addStartOptions(new Command('start')).exitOverride()
  command.parse(args, { from: 'user' })
  return resolveNodeConfig(command)
}
const setEnv: string[] = []
const env = (name: string, value: string) => {
  process.env[name] = value
  setEnv.push(name)
}
afterEach(() => {
  for (const name of setEnv.splice(0)) delete process.env[name]
})

describe('node configuration', () => {
  it('takes defaults, then the config file, then the environment, then flags', async () => {
    const config = file('node.json', {
      genesis: 'run.json',
      rounds: 5,
      proofRetention: 7,
      api: '127.0.0.1:9000',
    })
    const fromFile = await parse(['--config', config])
    expect(fromFile).toMatchObject({
      genesis: join(dir, 'run.json'), // relative to the config file
      rounds: 5,
      proofRetention: 7,
      api: '127.0.0.1:9000',
      state: './dtrain-state', // default
      backend: 'auto',
      slowdown: 1,
    })
    env('DTRAIN_ROUNDS', '6')
    env('DTRAIN_BOOTSTRAP', '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWA,/ip4/127.0.0.1/tcp/2/p2p/12D3KooWB')
    const fromEnv = await parse(['--config', config])
    expect(fromEnv.rounds).toBe(6)
    expect(fromEnv.bootstrap).toHaveLength(2)
    expect(fromEnv.proofRetention).toBe(7)
    const fromFlags = await parse(['--config', config, '--rounds', '9', '--proof-retention', '2'])
    expect(fromFlags.rounds).toBe(9)
    expect(fromFlags.proofRetention).toBe(2)
    expect(envName('proofRetention')).toBe('DTRAIN_PROOF_RETENTION')
  })

  it('listens where --listen or DTRAIN_LISTEN says instead of the default, not in addition to it', async () => {
    expect((await parse(['--genesis', 'g.json'])).listen).toEqual(['/ip4/0.0.0.0/tcp/0'])
    const flags = await parse([
      '--genesis',
      'g.json',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--listen',
      '/ip6/::1/tcp/0',
    ])
    expect(flags.listen).toEqual(['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'])
    env('DTRAIN_LISTEN', '/ip4/127.0.0.1/tcp/4001,/ip4/127.0.0.1/tcp/4002')
    expect((await parse(['--genesis', 'g.json'])).listen).toEqual([
      '/ip4/127.0.0.1/tcp/4001',
      '/ip4/127.0.0.1/tcp/4002',
    ])
  })

  it('refuses unknown fields, bad values and a missing genesis, naming the field, the value and the fix', async () => {
    await expect(
      parse(['--config', file('unknown.json', { genesis: 'g.json', colour: 'red' })]),
    ).rejects.toThrow(/Unrecognized key: "colour"/)
    const bad = parse(['--config', file('bad.json', { genesis: 'g.json', proofRetention: 0 })])
    await expect(bad).rejects.toThrow(ConfigError)
    await expect(bad).rejects.toThrow(
      /proofRetention: .*>=1 \(got 0\) \(set it with --proof-retention, DTRAIN_PROOF_RETENTION/,
    )
    await expect(parse([])).rejects.toThrow(
      /genesis: required \(set it with --genesis, DTRAIN_GENESIS or "genesis"/,
    )
    await expect(parse(['--genesis', 'g.json', '--api', 'localhost'])).rejects.toThrow(
      /api: host:port, or off \(got "localhost"\)/,
    )
    await expect(parse(['--genesis', 'g.json', '--bootstrap', '/ip4/127.0.0.1/tcp/4001'])).rejects.toThrow(
      /bootstrap.0: a bootstrap address ends with \/p2p\/<peer id>/,
    )
    await expect(parse(['--genesis', 'g.json', '--allow', 'not-a-peer'])).rejects.toThrow(
      /allow.0: a peer id \(12D3KooW...\) \(got "not-a-peer"\)/,
    )
    env(
      'DTRAIN_ALLOW',
      '12D3KooWDgyBcLmhWEBESQ4Bz5Ryu8Ycg1ZVvzXg4AQZt7jmWkMf,12D3KooWDSck7B4FNU2QrZkrCpG9PUv8UqpdTW3ohr6nW9vKhPfX',
    )
    expect((await parse(['--genesis', 'g.json'])).allow).toHaveLength(2)
  })
})
