// In-memory store of encoded deltas this node serves, by content hash, kept for a bounded
// number of rounds (constants: keptDeltaRounds).
import { LIMITS } from '../constants.js'
import { toHex } from '../crypto/hash.js'
import type { DeltaSource } from '../net/transfer.js'

export class DeltaStore implements DeltaSource {
  private readonly byHash = new Map<string, { round: number; bytes: Uint8Array }>()

  put(round: number, hash: Uint8Array, bytes: Uint8Array): void {
    this.byHash.set(toHex(hash), { round, bytes })
    this.prune(round)
  }

  get(hash: Uint8Array): Uint8Array | undefined {
    return this.byHash.get(toHex(hash))?.bytes
  }

  get size(): number {
    return this.byHash.size
  }

  private prune(latestRound: number): void {
    for (const [key, entry] of this.byHash) {
      if (entry.round <= latestRound - LIMITS.keptDeltaRounds) this.byHash.delete(key)
    }
  }
}
