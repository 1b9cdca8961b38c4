// The node's state directory (dtrain start --state): made ready before anything is written to it,
// with a message that names the cause and the fix when it cannot be (issue 19 §3: a read-only or
// non-directory path gave a stack trace and a misleading ENOENT), and a disk preflight so that a
// node that would fill its disk within its proof retention says so at start rather than crash at
// every proof write.

import { mkdir, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { DiskUse } from '../proof/storage.js'

export class StateDirError extends Error {
  override name = 'StateDirError'
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is a file, not a directory',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
}

/** Creates the state directory if missing (mode 0700) and checks that the node can write to it. */
export async function prepareStateDir(dir: string): Promise<void> {
  const fix = 'give --state a directory this user can write to (it is created if missing)'
  const exists = await stat(dir).catch(() => undefined)
  if (exists && !exists.isDirectory())
    throw new StateDirError(`--state ${dir} is a file, not a directory: ${fix}`)
  const probe = join(dir, `.write-test-${process.pid}`)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await writeFile(probe, 'dtrain')
    await rm(probe, { force: true })
  } catch (err) {
    const code = await realCode(dir, err as NodeJS.ErrnoException)
    const reason = REASONS[code]
    if (reason === undefined) throw err
    throw new StateDirError(`cannot write to the state directory ${dir}: ${reason} (${code}); ${fix}`)
  }
}

/**
 * Refuses to start when the disk holding `dir` has less room than the proofs the node keeps
 * (`proof` bytes per round, proof/storage.ts, for `retention` rounds plus the one being written),
 * its state file (`state` bytes, twice: the new one is written beside the old), the residual a
 * large model's node parks (`parked`) and the objects it serves (diskNeeded), naming the figures
 * and the fix. What the directory holds already (a restart) counts as room.
 */
export async function checkDiskRoom(dir: string, use: DiskUse, retention: number): Promise<void> {
  const { proof, state, objects, parked } = use
  const needed = diskNeeded(use, retention)
  const fs = await statfs(dir)
  const free = fs.bavail * fs.bsize + (await bytesUnder(dir))
  if (free < needed)
    throw new StateDirError(
      `the disk holding ${dir} has ${mb(free)} free, and this run needs ${mb(needed)} there: ${mb(proof)} of proof per round for ${retention + 1} rounds (--proof-retention ${retention}, plus the round being written), ${mb(2 * state + parked)} of state and ${mb(objects)} of the deltas and states it serves; free space, give --state a larger disk, or keep fewer rounds with --proof-retention`,
    )
}

/**
 * The disk a node needs in its state directory: the proofs of `retention` rounds plus the one being
 * written, its state file twice (the new one is written beside the old) and the residual it parks,
 * and the objects it serves.
 */
export function diskNeeded({ proof, state, objects, parked }: DiskUse, retention: number): number {
  return (retention + 1) * proof + 2 * state + parked + objects
}

/**
 * Node's recursive mkdir answers ENOENT where a plain one would say why (a read-only file system,
 * no permission): retry the first missing component alone to learn the real cause.
 */
async function realCode(dir: string, err: NodeJS.ErrnoException): Promise<string> {
  if (err.code !== 'ENOENT' || err.syscall !== 'mkdir') return err.code ?? ''
  let missing = resolve(dir)
  while ((await stat(dirname(missing)).catch(() => undefined)) === undefined && dirname(missing) !== missing)
    missing = dirname(missing)
  try {
    await mkdir(missing, { mode: 0o700 })
    await rm(missing, { recursive: true, force: true })
    return err.code
  } catch (inner) {
    return (inner as NodeJS.ErrnoException).code ?? err.code
  }
}

/** The bytes of the regular files under `path`. */
export async function bytesUnder(path: string): Promise<number> {
  const entries = await readdir(path, { withFileTypes: true, recursive: true })
  let total = 0
  for (const entry of entries)
    if (entry.isFile())
      total += (await stat(join(entry.parentPath, entry.name)).catch(() => ({ size: 0 }))).size
  return total
}

/** A disk that filled up while the node wrote to it: the node stopped, its last state intact. */
export class DiskFullError extends StateDirError {
  override name = 'DiskFullError'
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`
