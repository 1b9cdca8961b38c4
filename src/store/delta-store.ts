// The content-addressed objects a node serves (SPEC.md 4.5, 10): its own and the fetched deltas,
// and the global states of recent rounds, by Merkle root, with their chunk trees, kept for
// LIMITS.keptDeltaRounds rounds. With a directory (a node's state directory), each object is
// written to DIR/<root hex> as it is put and its bytes leave memory once written: a node holds
// a chunk tree per object, not n deltas and 3 states of the model's size (issue 17). Reads are
// by range (a chunk to serve, a block to aggregate). Without a directory (tests, tools) the bytes
// stay in memory.
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { type ByteSource, type OpenedDelta, openDelta } from '../codec/delta.js'
import { asPieces, type Pieces, piecesSource } from '../codec/pieces.js'
import { LIMITS } from '../constants.js'
import { toHex } from '../crypto/hash.js'
import { MerkleTree } from '../crypto/merkle.js'
import type { DeltaSource } from '../net/transfer.js'
import { readRange } from './durable-file.js'

/** The content id of an encoded delta: the Merkle root over its chunks. */
export function deltaRoot(bytes: Uint8Array): { root: Uint8Array; tree: MerkleTree } {
  const tree = MerkleTree.fromBytes(bytes, LIMITS.chunkBytes)
  return { root: tree.root, tree }
}

/** An object the store holds: its size, chunk tree and bytes, read by range. */
export interface HeldObject {
  size: number
  tree: MerkleTree
  bytes: ByteSource
}

interface Entry extends HeldObject {
  round: number
  /** the bytes while they are in memory (always without a directory; until written with one) */
  memory?: ByteSource
  path?: string
  fd?: number
  written?: Promise<void>
}

export interface DeltaStoreInit {
  /** where objects are written (DIR/<root hex>); absent: they stay in memory */
  dir?: string
  /** an object that could not be written stays in memory; the node is told why */
  onWriteError?: (err: Error, root: string) => void
}

export class DeltaStore implements DeltaSource {
  private readonly byRoot = new Map<string, Entry>()

  constructor(private readonly init: DeltaStoreInit = {}) {
    // What a previous run of the node left is stale: a restarted node fetches what it needs again.
    if (init.dir !== undefined) {
      rmSync(init.dir, { recursive: true, force: true })
      mkdirSync(init.dir, { recursive: true, mode: 0o700 })
    }
  }

  /**
   * Keeps `bytes` (one buffer, or its pieces: a state is never joined, codec/pieces.ts) for serving
   * and returns their root; with a directory, writes them there. Pieces must not change while held
   * in memory.
   */
  put(round: number, bytes: Uint8Array | Pieces, tree?: MerkleTree): Uint8Array {
    const pieces = asPieces(bytes)
    const memory = pieces.length === 1 ? pieces[0] : piecesSource(pieces)
    const merkle = tree ?? MerkleTree.fromBytes(memory, LIMITS.chunkBytes)
    const key = toHex(merkle.root)
    const known = this.byRoot.get(key)
    if (known !== undefined) {
      known.round = Math.max(known.round, round)
      return merkle.root
    }
    const entry: Entry = { round, size: memory.length, tree: merkle, memory, bytes: this.reader(key) }
    this.byRoot.set(key, entry)
    if (this.init.dir !== undefined) {
      const path = join(this.init.dir, key)
      entry.written = writePieces(path, pieces).then(
        () => {
          if (this.byRoot.get(key) !== entry) return unlinkQuietly(path)
          entry.path = path
          entry.memory = undefined
        },
        (err: Error) => this.init.onWriteError?.(err, key),
      )
    }
    this.prune(round)
    return merkle.root
  }

  get(root: Uint8Array): HeldObject | undefined {
    return this.byRoot.get(toHex(root))
  }

  /** A held delta of `count` values, decoded block by block as the aggregation reads it (SPEC.md 8.13). */
  delta(root: Uint8Array, count: number): OpenedDelta {
    const entry = this.byRoot.get(toHex(root))
    if (entry === undefined) throw new Error(`no object ${toHex(root).slice(0, 16)} in the store`)
    return openDelta(entry.bytes, count)
  }

  /**
   * The object's file once its bytes are on disk and out of memory: written, and so no longer a
   * view of anything its putter holds (waits for a write under way). Undefined without a
   * directory, for an object whose write failed, and for one the store does not hold.
   */
  async fileOf(root: Uint8Array): Promise<string | undefined> {
    const key = toHex(root)
    const entry = this.byRoot.get(key)
    if (entry === undefined) return undefined
    await entry.written
    return this.byRoot.get(key) === entry && entry.memory === undefined ? entry.path : undefined
  }

  /** Whether the object is on disk and out of memory (fileOf). */
  async onDisk(root: Uint8Array): Promise<boolean> {
    return (await this.fileOf(root)) !== undefined
  }

  /** Bytes of objects held in memory (not yet written, or kept there without a directory). */
  get memoryBytes(): number {
    let total = 0
    for (const entry of this.byRoot.values()) total += entry.memory?.length ?? 0
    return total
  }

  /** Waits until every object put so far is written (or failed to be). */
  async flush(): Promise<void> {
    await Promise.all([...this.byRoot.values()].map((e) => e.written))
  }

  /** Forgets every object and closes their files. */
  async close(): Promise<void> {
    await this.flush()
    for (const key of [...this.byRoot.keys()]) this.drop(key)
  }

  /** The object's bytes by range: from memory while there, else from its file (kept open). */
  private reader(key: string): ByteSource {
    const entryOf = (): Entry => {
      const entry = this.byRoot.get(key)
      if (entry === undefined) throw new Error(`object ${key.slice(0, 16)} was dropped from the store`)
      return entry
    }
    return {
      get length(): number {
        return entryOf().size
      },
      subarray(start: number, end: number): Uint8Array {
        const entry = entryOf()
        if (entry.memory !== undefined) return entry.memory.subarray(start, end)
        entry.fd ??= openSync(entry.path!, 'r')
        return readRange(entry.fd, start, end, entry.size, `object ${key.slice(0, 16)}`)
      },
    }
  }

  private prune(latestRound: number): void {
    for (const [key, entry] of this.byRoot) {
      if (entry.round <= latestRound - LIMITS.keptDeltaRounds) this.drop(key)
    }
  }

  private drop(key: string): void {
    const entry = this.byRoot.get(key)
    if (entry === undefined) return
    this.byRoot.delete(key)
    if (entry.fd !== undefined) closeSync(entry.fd)
    if (entry.path !== undefined) unlinkQuietly(entry.path)
  }
}

/** Writes the pieces one after another to a new file (mode 0600). */
async function writePieces(path: string, pieces: Pieces): Promise<void> {
  const handle = await open(path, 'w', 0o600)
  try {
    for (const piece of pieces) await handle.writeFile(piece)
  } finally {
    await handle.close()
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // already gone: nothing to free
  }
}
