// The time a node's parts read and wait on (STYLE.md habit 19). The node is given one clock and
// passes it to every part, so that a test can run a round's timeline on a fake clock
// (test/fixtures/clock.ts) in milliseconds instead of seconds.

export interface Clock {
  /** milliseconds since the epoch */
  now(): number
  /** resolves after `ms` milliseconds, or at once when `signal` aborts (it never rejects) */
  wait(ms: number, signal?: AbortSignal): Promise<void>
}

/** The machine's clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  wait: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve()
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      signal?.addEventListener('abort', done, { once: true })
    }),
}

/**
 * "Something the round waits on may have changed": a delta arrived or failed, a commit or
 * evidence was recorded, the node stops. The round's loops re-read what they decide on after each
 * change, or at the latest after the time they were willing to wait.
 */
export class Changes {
  private waiters = new Set<AbortController>()

  constructor(private readonly clock: Clock) {}

  notify(): void {
    const waiters = this.waiters
    this.waiters = new Set()
    for (const waiter of waiters) waiter.abort()
  }

  /** Resolves at the next notify(), or after `timeoutMs`. */
  async changed(timeoutMs: number): Promise<void> {
    const waiter = new AbortController()
    this.waiters.add(waiter)
    try {
      await this.clock.wait(timeoutMs, waiter.signal)
    } finally {
      this.waiters.delete(waiter)
    }
  }
}
