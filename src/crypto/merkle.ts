// Merkle trees over fixed-size chunks (SPEC.md 4.5), the tree of RFC 9162 (Certificate
// Transparency v2) section 2.1 with SHA-256:
//   leaf(d)    = SHA-256(0x00 || d)
//   node(l, r) = SHA-256(0x01 || l || r)
//   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two below n
// Built bottom-up: pair neighbours level by level and carry an unpaired last node up unchanged,
// which gives the same root as the recursive definition.
import { bytesEqual, sha256 } from './hash.js'

const LEAF = new Uint8Array([0])
const NODE = new Uint8Array([1])

export class InvalidProofError extends Error {
  override name = 'InvalidProofError'
}

export function leafHash(chunk: Uint8Array): Uint8Array {
  return sha256(LEAF, chunk)
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE, left, right)
}

export function chunkCount(size: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(size / chunkBytes))
}

/** Byte range of chunk `index` of a `size`-byte object. */
export function chunkRange(size: number, chunkBytes: number, index: number): { start: number; end: number } {
  const start = index * chunkBytes
  return { start, end: Math.min(start + chunkBytes, size) }
}

export class MerkleTree {
  /** levels[0] are the leaf hashes; the last level holds the root alone. */
  private constructor(private readonly levels: Uint8Array[][]) {}

  static fromLeaves(leaves: Uint8Array[]): MerkleTree {
    if (leaves.length === 0) throw new RangeError('a Merkle tree needs at least one leaf')
    const levels = [leaves]
    while (levels.at(-1)!.length > 1) {
      const below = levels.at(-1)!
      const above: Uint8Array[] = []
      for (let i = 0; i < below.length; i += 2)
        above.push(i + 1 < below.length ? nodeHash(below[i], below[i + 1]) : below[i])
      levels.push(above)
    }
    return new MerkleTree(levels)
  }

  /** The tree of `bytes` cut into chunks of `chunkBytes` (an empty object is one empty chunk). */
  static fromBytes(bytes: Pick<Uint8Array, 'length' | 'subarray'>, chunkBytes: number): MerkleTree {
    const leaves: Uint8Array[] = []
    for (let i = 0; i < chunkCount(bytes.length, chunkBytes); i++) {
      const { start, end } = chunkRange(bytes.length, chunkBytes, i)
      leaves.push(leafHash(bytes.subarray(start, end)))
    }
    return MerkleTree.fromLeaves(leaves)
  }

  get root(): Uint8Array {
    return this.levels.at(-1)![0]
  }

  get leafCount(): number {
    return this.levels[0].length
  }

  /** The hash of leaf `index`. */
  leaf(index: number): Uint8Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount)
      throw new RangeError(`no leaf ${index}`)
    return this.levels[0][index]
  }

  /** The audit path of leaf `index`: sibling hashes from the bottom up (RFC 9162 2.1.3.1). */
  proof(index: number): Uint8Array[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount)
      throw new RangeError(`no leaf ${index}`)
    const path: Uint8Array[] = []
    let i = index
    for (let level = 0; level < this.levels.length - 1; level++) {
      const nodes = this.levels[level]
      const sibling = i ^ 1
      if (sibling < nodes.length) path.push(nodes[sibling])
      i >>= 1
    }
    return path
  }
}

/**
 * Verifies that `leaf` is leaf `index` of a tree of `size` leaves with root `root`, given its
 * audit path (the verification algorithm of RFC 9162 2.1.3.2). Throws InvalidProofError.
 */
export function verifyProof(
  root: Uint8Array,
  size: number,
  index: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
): void {
  if (!Number.isInteger(index) || index < 0 || index >= size)
    throw new InvalidProofError(`leaf index ${index} outside [0, ${size})`)
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of path) {
    if (p.length !== 32) throw new InvalidProofError('a proof hash is not 32 bytes')
    if (sn === 0) throw new InvalidProofError('the proof is longer than the tree is deep')
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1
          sn >>= 1
        }
      }
    } else r = nodeHash(r, p)
    fn >>= 1
    sn >>= 1
  }
  if (sn !== 0) throw new InvalidProofError('the proof is shorter than the tree is deep')
  if (!bytesEqual(r, root)) throw new InvalidProofError('the chunk and its proof do not lead to the root')
}

/**
 * `bytes` read by range, each chunk a read touches checked against its leaf in `tree` first (an
 * object this node stored, read back from disk: issue 17). A chunk that differs throws the error
 * `mismatch` makes of its index (-1: `bytes` are not of the tree's size); nothing of it is returned.
 */
export function checkedByLeaves(
  bytes: Pick<Uint8Array, 'length' | 'subarray'>,
  tree: MerkleTree,
  chunkBytes: number,
  mismatch: (index: number) => Error,
): Pick<Uint8Array, 'length' | 'subarray'> {
  const { length } = bytes
  if (chunkCount(length, chunkBytes) !== tree.leafCount) throw mismatch(-1)
  return {
    length,
    subarray(start = 0, end = length): Uint8Array {
      if (start < 0 || end > length || start > end) throw new RangeError(`no bytes [${start}, ${end})`)
      if (start === end) return new Uint8Array(0)
      const first = Math.floor(start / chunkBytes)
      const last = Math.floor((end - 1) / chunkBytes)
      const from = first * chunkBytes
      const read = bytes.subarray(from, Math.min(length, (last + 1) * chunkBytes))
      for (let i = first; i <= last; i++) {
        const chunk = read.subarray(
          i * chunkBytes - from,
          Math.min(read.length, (i + 1 - first) * chunkBytes),
        )
        if (!bytesEqual(leafHash(chunk), tree.leaf(i))) throw mismatch(i)
      }
      return read.subarray(start - from, end - from)
    },
  }
}
