// Logs a rejection once per (peer, reason) per window, so a flooding peer cannot flood the log;
// the repeats are counted and reported with the next line that is logged for that pair.
// Metrics count every rejection; this only bounds the log.
import type { Logger } from 'pino'

const MAX_TRACKED = 10_000

export class RejectionLog {
  private readonly seen = new Map<string, { since: number; suppressed: number }>()

  constructor(
    private readonly log: Logger,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns true when the line was written, false when it was suppressed. */
  report(
    level: 'error' | 'warn' | 'info' | 'debug',
    peer: string | undefined,
    reason: string,
    fields: object,
    message: string,
  ): boolean {
    const key = `${peer ?? '?'}|${reason}`
    const now = this.now()
    const entry = this.seen.get(key)
    if (entry !== undefined && now - entry.since < this.windowMs) {
      entry.suppressed++
      return false
    }
    if (this.seen.size >= MAX_TRACKED) this.prune(now)
    this.seen.set(key, { since: now, suppressed: 0 })
    this.log[level]({ ...fields, remote: peer, reason, suppressedSinceLast: entry?.suppressed ?? 0 }, message)
    return true
  }

  private prune(now: number): void {
    for (const [key, entry] of this.seen) if (now - entry.since >= this.windowMs) this.seen.delete(key)
    // Still full: forget the oldest half rather than grow without bound.
    if (this.seen.size >= MAX_TRACKED) {
      let drop = this.seen.size / 2
      for (const key of this.seen.keys()) {
        if (drop-- <= 0) break
        this.seen.delete(key)
      }
    }
  }
}
