// Adaptive collect deadline (SPEC.md 11.2): instead of one hand-tuned timeout, the collect phase
// waits for a high quantile of the times at which peers' deltas arrived in recent rounds, plus a
// margin, within the genesis's bounds. Arrival times are measured from the start of the round
// (when every node begins training from the same global weights), so they reflect each peer's
// training time and link, not the difference between two nodes' training times. Pure functions.

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
 * How long the collect phase waits, in ms, when it begins `elapsedMs` after the round began:
 * with no history, the maximum; otherwise clamp(1.5 * q90 + 1000 - elapsed, min, max), with q90
 * taken over the arrival times (since round start) of the last 5 rounds.
 */
export function collectDeadlineMs(
  history: readonly (readonly number[])[],
  minMs: number,
  maxMs: number,
  elapsedMs = 0,
): number {
  const arrivals = history.slice(-DEADLINE_HISTORY_ROUNDS).flat()
  if (arrivals.length === 0) return maxMs
  const adaptive = DEADLINE_FACTOR * quantile(arrivals, DEADLINE_QUANTILE) + DEADLINE_MARGIN_MS - elapsedMs
  return Math.round(Math.min(maxMs, Math.max(minMs, adaptive)))
}
