import { describe, expect, it } from 'vitest'
import { collectDeadlineMs, quantile } from '../../src/round/deadline.js'

describe('adaptive collect deadline', () => {
  it('uses the maximum until there is history', () => {
    expect(collectDeadlineMs([], 2000, 60_000)).toBe(60_000)
    expect(collectDeadlineMs([[], []], 2000, 60_000)).toBe(60_000)
  })

  it('follows 1.5 x the 90th percentile of recent arrival delays plus 1 s, within the bounds', () => {
    const history = [[100, 200, 300, 400, 500, 600, 700, 800, 900, 10_000]]
    expect(quantile(history[0], 0.9)).toBe(900)
    expect(collectDeadlineMs(history, 500, 60_000)).toBe(1.5 * 900 + 1000)
    expect(collectDeadlineMs([[10]], 2000, 60_000)).toBe(2000)
    expect(collectDeadlineMs([[100_000]], 2000, 60_000)).toBe(60_000)
  })

  it('counts from the start of the round: time already spent training is subtracted', () => {
    expect(collectDeadlineMs([[10_000]], 500, 60_000, 12_000)).toBe(1.5 * 10_000 + 1000 - 12_000)
    expect(collectDeadlineMs([[10_000]], 500, 60_000, 20_000)).toBe(500)
  })

  it('forgets rounds older than the last five', () => {
    const old = [[50_000], [50_000]]
    const recent = [[1000], [1000], [1000], [1000], [1000]]
    expect(collectDeadlineMs([...old, ...recent], 0, 100_000)).toBe(2500)
  })
})
