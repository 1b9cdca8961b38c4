// Shared benchmark helpers: repeated timing with the median, and a fast seeded generator for
// benchmark data (not for the protocol, which uses HashStream).
import { performance } from 'node:perf_hooks'

/** Runs `fn` `repeats` times and returns the median time in seconds and the last result. */
export function timeMedian<T>(fn: () => T, repeats: number): { seconds: number; value: T } {
  const times: number[] = []
  let value!: T
  for (let r = 0; r < repeats; r++) {
    const start = performance.now()
    value = fn()
    times.push((performance.now() - start) / 1000)
  }
  return { seconds: [...times].sort((a, b) => a - b)[times.length >> 1], value }
}

/** xorshift32: uniform numbers in [0, 1) from a non-zero seed. */
export function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 2 ** 32
  }
}
