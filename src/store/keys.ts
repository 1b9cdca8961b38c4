// Node identity on disk: the libp2p protobuf encoding of an Ed25519 private key, file mode 0600.
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export class KeyFileError extends Error {
  override name = 'KeyFileError'
}

export async function writeKeyFile(path: string, key: PrivateKey): Promise<void> {
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  await chmod(path, 0o600)
}

export async function createKeyFile(path: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  await writeKeyFile(path, key)
  return key
}

export async function readKeyFile(path: string): Promise<PrivateKey> {
  let bytes: Uint8Array
  try {
    const info = await stat(path)
    if (info.size > 4096)
      throw new KeyFileError(`key file ${path} is ${info.size} bytes; a key file is under 100 bytes`)
    // As ssh does with a private key: one others can read is refused, not used (issue 19).
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0)
      throw new KeyFileError(
        `key file ${path} is readable by others (mode 0${(info.mode & 0o777).toString(8)}): anyone who reads it can sign as this node; make it private with \`chmod 600 ${path}\``,
      )
    bytes = await readFile(path)
  } catch (err) {
    if (err instanceof KeyFileError) throw err
    throw new KeyFileError(
      `cannot read key file ${path}: ${(err as Error).message} (create one with \`dtrain keys --out ${path}\`)`,
    )
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new KeyFileError(`key file ${path} does not hold a libp2p private key: ${(err as Error).message}`)
  }
  if (key.type !== 'Ed25519')
    throw new KeyFileError(`key file ${path} holds a ${key.type} key; dtrain needs Ed25519`)
  return key
}
