// `dtrain keys`: creates or shows a node identity (an Ed25519 key file, mode 0600).
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createKeyFile, readKeyFile } from '../store/keys.js'

export async function runKeys(options: { key: string; json: boolean }): Promise<number> {
  const existed = existsSync(options.key)
  if (!existed) await mkdir(dirname(options.key), { recursive: true, mode: 0o700 })
  const key = existed ? await readKeyFile(options.key) : await createKeyFile(options.key)
  const peerId = peerIdFromPrivateKey(key).toString()
  if (options.json)
    process.stdout.write(`${JSON.stringify({ peerId, key: options.key, created: !existed })}\n`)
  else
    process.stdout.write(
      `${existed ? 'key' : 'created key'} ${options.key} (mode 0600)\npeer id ${peerId}\n` +
        'peers reach this node at /ip4/<its address>/tcp/<its port>/p2p/' +
        `${peerId}\n`,
    )
  return 0
}
