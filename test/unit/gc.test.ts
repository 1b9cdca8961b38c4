// collectGarbage (src/util/gc.ts): a node lets go of vectors of the model's size every round, and
// their memory must be returned when it says so, not when V8's heuristics get to it.
import { describe, expect, it } from 'vitest'
import { COLLECT_MIN_BYTES, collectGarbage } from '../../src/util/gc.js'

describe('collectGarbage', () => {
  it('frees the memory of an array nothing references any more, when that is worth a collection', () => {
    collectGarbage(COLLECT_MIN_BYTES)
    let vector: Float32Array | undefined = new Float32Array(50_000_000).fill(1) // 200 MB
    const held = process.memoryUsage().arrayBuffers
    expect(held).toBeGreaterThanOrEqual(200_000_000)
    expect(vector[49_999_999]).toBe(1)
    vector = undefined
    collectGarbage(200_000_000)
    expect(process.memoryUsage().arrayBuffers).toBeLessThan(held - 190_000_000)
  })
})
