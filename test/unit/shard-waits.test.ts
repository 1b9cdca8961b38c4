// The wait for a shard none of whose aggregators publishes (round/shard-waits.ts, SPEC.md 18.5).
import { describe, expect, it } from 'vitest'
import { LIMITS } from '../../src/constants.js'
import { ShardWaits } from '../../src/round/shard-waits.js'

describe('shard waits', () => {
  it('gives up on a silent shard once the others are taken and as long again has passed', () => {
    const waits = new ShardWaits(1_000, 3)
    for (const s of [0, 1, 2]) waits.hears(s, true)
    expect(waits.givesUp(60_000)).toBe(false) // nothing taken yet: wait for the collect timeout
    waits.hears(0, false)
    waits.settle(0, true, 11_000) // taken 10 s after the waits began
    // shards 1 and 2 both silent: both give up 10 s after it
    expect(waits.givesUp(20_999)).toBe(false)
    expect(waits.givesUp(21_000)).toBe(true)
    waits.hears(1, false) // shard 1 heard from an aggregator: its wait goes on, and so does 2's
    expect(waits.givesUp(40_000)).toBe(false)
    waits.settle(1, true, 13_000)
    expect(waits.givesUp(13_000 + 11_999)).toBe(false)
    expect(waits.givesUp(13_000 + 12_000)).toBe(true)
  })

  it('waits at least reannounceMs, and not while another shard has heard from its aggregators', () => {
    const waits = new ShardWaits(0, 3)
    waits.settle(0, true, 100)
    waits.hears(1, false) // a result arrived, the wait for the second replica goes on
    waits.hears(2, true)
    expect(waits.givesUp(10_000)).toBe(false)
    waits.settle(1, true, 10_000)
    expect(waits.givesUp(10_000 + LIMITS.reannounceMs - 1)).toBe(false)
    // as long again as the last one took (10 s) is longer than reannounceMs
    expect(waits.givesUp(10_000 + 9_999)).toBe(false)
    expect(waits.givesUp(20_000)).toBe(true)
    const quick = new ShardWaits(0, 2)
    quick.hears(1, true)
    quick.settle(0, true, 10)
    expect(quick.givesUp(10 + LIMITS.reannounceMs - 1)).toBe(false)
    expect(quick.givesUp(10 + LIMITS.reannounceMs)).toBe(true)
  })

  it('does not give up on the strength of shards whose aggregators were not heard from', () => {
    const waits = new ShardWaits(0, 2)
    waits.hears(1, true)
    waits.settle(0, false, 50) // nothing from its aggregators either: computed at the timeout
    expect(waits.givesUp(1_000_000)).toBe(false)
  })
})
