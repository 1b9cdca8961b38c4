// In-memory store of encoded deltas this node serves, by Merkle root (SPEC.md 4.5), with their
// chunk trees, kept for a bounded number of rounds (constants: keptDeltaRounds).
import { LIMITS } from '../constants.js'
import { toHex } from '../crypto/hash.js'
import { MerkleTree } from '../crypto/merkle.js'
import type { DeltaSource } from '../net/transfer.js'

/** The content id of an encoded delta: the Merkle root over its chunks. */
export function deltaRoot(bytes: Uint8Array): { root: Uint8Array; tree: MerkleTree } {
  const tree = MerkleTree.fromBytes(bytes, LIMITS.chunkBytes)
  return { root: tree.root, tree }
}

export class DeltaStore implements DeltaSource {
  private readonly byRoot = new Map<string, { round: number; bytes: Uint8Array; tree: MerkleTree }>()

  /** Keeps `bytes` for serving and returns their root. */
  put(
    round: number,
    bytes: Uint8Array,
    tree: MerkleTree = MerkleTree.fromBytes(bytes, LIMITS.chunkBytes),
  ): Uint8Array {
    this.byRoot.set(toHex(tree.root), { round, bytes, tree })
    this.prune(round)
    return tree.root
  }

  get(root: Uint8Array): { bytes: Uint8Array; tree: MerkleTree } | undefined {
    return this.byRoot.get(toHex(root))
  }

  private prune(latestRound: number): void {
    for (const [key, entry] of this.byRoot) {
      if (entry.round <= latestRound - LIMITS.keptDeltaRounds) this.byRoot.delete(key)
    }
  }
}
