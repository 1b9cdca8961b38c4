// Pre-shared keys of private networks (SPEC.md 2.3), in libp2p's /key/swarm/psk/1.0.0/ format.
import { writeFile } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'

const SWARM_KEY_LENGTH = 95 // "/key/swarm/psk/1.0.0/\n/base16/\n" + 64 hex digits

export function generateSwarmKey(): Uint8Array {
  const key = new Uint8Array(SWARM_KEY_LENGTH)
  generateKey(key)
  return key
}

export async function writeSwarmKeyFile(path: string): Promise<Uint8Array> {
  const key = generateSwarmKey()
  await writeFile(path, key, { mode: 0o600, flag: 'wx' })
  return key
}
