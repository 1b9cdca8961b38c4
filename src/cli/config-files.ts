// Reading the files a command is pointed at, with errors that say which file and what to do.
import { readFile } from 'node:fs/promises'
import { type Genesis, parseGenesis } from '../wire/genesis.js'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const MAX_GENESIS_BYTES = 1 << 20

export async function readGenesisFile(path: string): Promise<Genesis> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.length > MAX_GENESIS_BYTES) throw new ConfigError(`genesis file ${path} is larger than 1 MiB`)
    text = bytes.toString('utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`cannot read genesis file ${path}: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`genesis file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  try {
    return parseGenesis(json, `genesis file ${path}`)
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
}

export async function readSwarmKeyFile(path: string): Promise<Uint8Array> {
  try {
    const bytes = await readFile(path)
    if (!bytes.toString('utf8').startsWith('/key/swarm/psk/1.0.0/')) {
      throw new ConfigError(`swarm key file ${path} does not start with /key/swarm/psk/1.0.0/`)
    }
    return new Uint8Array(bytes)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`cannot read swarm key file ${path}: ${(err as Error).message}`)
  }
}
