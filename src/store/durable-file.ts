// Crash-safe file writes shared by the node's state file and its proof store: a file's bytes are
// fsynced before it is renamed into place, and the directory is fsynced after the rename, so a
// reader after a crash sees the old content or the new, never a mix.
import { lstat, open, readFile } from 'node:fs/promises'

/** Writes `bytes` (or its pieces, one after another) to `path` (mode 0600) and fsyncs the file. */
export async function writeFileSynced(
  path: string,
  bytes: Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const handle = await open(path, 'w', 0o600)
  try {
    for (const piece of bytes instanceof Uint8Array ? [bytes] : bytes) await handle.writeFile(piece)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Fsyncs a file or a directory: a file another process wrote (the torch worker's checkpoints), or
 * the renames and creations in a directory.
 */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Fsyncs a directory, making the renames and creations in it durable. */
export const syncDirectory = syncPath

/** A file's bytes, or undefined when it does not exist. */
export class FileShapeError extends Error {
  override name = 'FileShapeError'
}

/**
 * A regular file's bytes, at most `maxBytes` of them, or undefined when there is none. Anything
 * else there (a directory, a FIFO, a device, a link) or a file over the bound is refused before a
 * byte is read: a link to /dev/zero or a FIFO would otherwise grow memory or hang the reader.
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<Uint8Array | undefined> {
  let info: Awaited<ReturnType<typeof lstat>>
  try {
    info = await lstat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if (!info.isFile()) throw new FileShapeError(`${path} is not a regular file`)
  if (info.size > maxBytes)
    throw new FileShapeError(`${path} is ${info.size} bytes, over the ${maxBytes} expected`)
  const bytes = await readFile(path)
  if (bytes.length > maxBytes) throw new FileShapeError(`${path} grew past ${maxBytes} bytes while read`)
  return bytes
}

export async function readIfPresent(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
