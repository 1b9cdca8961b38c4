// Crash-safe file writes shared by the node's state file and its proof store: a file's bytes are
// fsynced before it is renamed into place, and the directory is fsynced after the rename, so a
// reader after a crash sees the old content or the new, never a mix.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { lstat, open, readFile } from 'node:fs/promises'
import type { ByteSource } from '../codec/delta.js'

/**
 * Writes `bytes` (or its pieces, one after another, made as they are written when they come from
 * an async iterable) to `path` (mode 0600) and fsyncs the file.
 */
export async function writeFileSynced(
  path: string,
  bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  const handle = await open(path, 'w', 0o600)
  try {
    for await (const piece of bytes instanceof Uint8Array ? [bytes] : bytes) await handle.writeFile(piece)
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

/** A file that is not what its reader expects: not a regular file, or too large. */
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

/** A file's bytes, or undefined when it does not exist. */
export async function readIfPresent(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/**
 * Bytes [start, end) of the open file `fd` (fewer at its end); `name` names it when the file is
 * shorter than `size`, the length its reader was promised.
 */
export function readRange(fd: number, start: number, end: number, size: number, name: string): Uint8Array {
  const out = new Uint8Array(Math.max(0, Math.min(end, size) - start))
  for (let done = 0; done < out.length; ) {
    const read = readSync(fd, out, done, out.length - done, start + done)
    if (read === 0) throw new Error(`${name} is shorter on disk than ${size} bytes`)
    done += read
  }
  return out
}

/**
 * A file read by range (a state file larger than a node would hold at once, issue 17), or
 * undefined when there is none. The caller closes it.
 */
export function openIfPresent(path: string): { source: ByteSource; close(): void } | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const size = fstatSync(fd).size
  return {
    source: { length: size, subarray: (start, end) => readRange(fd, start, end, size, path) },
    close: () => closeSync(fd),
  }
}
