// Crash-safe file writes shared by the node's state file and its proof store: a file's bytes are
// fsynced before it is renamed into place, and the directory is fsynced after the rename, so a
// reader after a crash sees the old content or the new, never a mix.
import { open, readFile } from 'node:fs/promises'

/** Writes `bytes` to `path` (mode 0600) and fsyncs the file. */
export async function writeFileSynced(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'w', 0o600)
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Fsyncs a directory, making the renames and creations in it durable. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** A file's bytes, or undefined when it does not exist. */
export async function readIfPresent(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
