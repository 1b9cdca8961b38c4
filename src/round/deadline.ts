// Adaptive collect deadline (SPEC.md 11.2): instead of one hand-tuned timeout, the collect phase
// waits for a high quantile of the delays at which peers' deltas arrived in recent rounds, plus a
// margin, within the genesis's bounds. Pure functions.

export const DEADLINE_HISTORY_ROUNDS = 5
export const DEADLINE_QUANTILE = 0.9
export const DEADLINE_FACTOR = 1.5
export const DEADLINE_MARGIN_MS = 1000

/** The q-quantile (nearest rank, 0 < q <= 1) of a non-empty list. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/**
 * Collect deadline in ms: with no history, the maximum; otherwise
 * clamp(1.5 * q90(delays of the last 5 rounds) + 1000, min, max).
 */
export function collectDeadlineMs(
  history: readonly (readonly number[])[],
  minMs: number,
  maxMs: number,
): number {
  const delays = history.slice(-DEADLINE_HISTORY_ROUNDS).flat()
  if (delays.length === 0) return maxMs
  const adaptive = DEADLINE_FACTOR * quantile(delays, DEADLINE_QUANTILE) + DEADLINE_MARGIN_MS
  return Math.round(Math.min(maxMs, Math.max(minMs, adaptive)))
}
