// `have` messages (SPEC.md 5.7) on both sides: who said they hold which delta (sources for the
// chunk protocol, 10.4), and this node's own haves, batched so that a burst of fetched deltas
// costs one signed message.
import { toHex } from '../crypto/hash.js'

/** round -> delta root (hex) -> peers that said they hold it, at most `maxPerDelta` each. */
export class HolderBook {
  private readonly byRound = new Map<number, Map<string, Set<string>>>()

  constructor(private readonly maxPerDelta: number) {}

  /** Records that `peer` holds `deltaHashes` of `round`. */
  add(round: number, peer: string, deltaHashes: Uint8Array[]): void {
    const byHash = this.byRound.get(round) ?? new Map<string, Set<string>>()
    this.byRound.set(round, byHash)
    for (const hash of deltaHashes) {
      const key = toHex(hash)
      const peers = byHash.get(key) ?? new Set<string>()
      if (peers.size < this.maxPerDelta) peers.add(peer)
      byHash.set(key, peers)
    }
  }

  /** The peers that said they hold the delta, in the order they said so. */
  of(round: number, deltaHash: Uint8Array): string[] {
    return [...(this.byRound.get(round)?.get(toHex(deltaHash)) ?? [])]
  }

  forget(round: number): void {
    this.byRound.delete(round)
  }
}

export interface HaveBatcherOptions {
  /** how long hashes gather before one `have` per round goes out */
  batchMs: number
  /** hashes per round and batch at most (a `have` lists at most this many, SPEC.md 5.7) */
  maxHashes: number
  /** sends one round's batch; errors are the caller's to log */
  send: (round: number, deltaHashes: Uint8Array[]) => void
}

/** Gathers the deltas this node fetched and verified and says so in one `have` per round and batch. */
export class HaveBatcher {
  private readonly pending = new Map<number, Uint8Array[]>()
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(private readonly options: HaveBatcherOptions) {}

  add(round: number, deltaHash: Uint8Array): void {
    if (this.stopped) return
    const pending = this.pending.get(round) ?? []
    if (pending.length >= this.options.maxHashes) return
    pending.push(deltaHash)
    this.pending.set(round, pending)
    if (this.timer) return
    this.timer = setTimeout(() => this.flush(), this.options.batchMs)
    this.timer.unref()
  }

  private flush(): void {
    this.timer = undefined
    const batches = [...this.pending.entries()]
    this.pending.clear()
    for (const [round, hashes] of batches) this.options.send(round, hashes)
  }

  /** Drops what is pending; nothing is sent after this. */
  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.pending.clear()
  }
}
