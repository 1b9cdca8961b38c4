// collectGarbage (src/util/gc.ts): a node lets go of vectors of the model's size every round, and
// their memory must be returned when it says so, not when V8's heuristics get to it.
import { describe, expect, it } from 'vitest'
import { COLLECT_MIN_BYTES, collectGarbage } from '../../src/util/gc.js'

describe('collectGarbage', () => {
  it('frees the memory of an array nothing references any more, when that is worth a collection', async () => {
    collectGarbage(COLLECT_MIN_BYTES)
    let vector: Float32Array | undefined = new Float32Array(50_000_000).fill(1) // 200 MB
    const held = process.memoryUsage().arrayBuffers
    expect(held).toBeGreaterThanOrEqual(200_000_000)
    expect(vector[49_999_999]).toBe(1)
    vector = undefined
    collectGarbage(200_000_000)
    // V8 sweeps dead array buffers on a background thread after the collection: on a busy machine
    // the count drops a moment later. Waited for at most 2 s, well before V8's own memory reducer
    // would collect an idle process (about 8 s), so without the collection this still fails.
    for (
      let waited = 0;
      waited < 2000 && process.memoryUsage().arrayBuffers >= held - 190_000_000;
      waited += 10
    )
      await new Promise((resolve) => setTimeout(resolve, 10))
    expect(process.memoryUsage().arrayBuffers).toBeLessThan(held - 190_000_000)
  })
})
