// A large model's aggregation on a worker thread (src/aggregate/off-thread.ts), over the deltas'
// files in a real object store: bit for bit what the node's own thread computes from the same
// store, for rules with and without pairwise distances and with the reference point; the median
// fallback's error comes back as the same class; a missing file is named. Runs the compiled
// worker (npm test builds first).
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { aggregateOffThread } from '../../src/aggregate/off-thread.js'
import { AggregationInputError, type AggregationRule, aggregate } from '../../src/aggregate/rules.js'
import { encodeDelta } from '../../src/codec/delta.js'
import { HashStream } from '../../src/crypto/prng.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { tempDir } from '../fixtures/temp.js'

const count = 70_001 // over one aggregation block (65,536 values)

function randomVector(seed: number): Float32Array {
  const s = new HashStream('off-thread-test', new Uint8Array([seed]))
  return Float32Array.from({ length: count }, () => s.nextSymmetricUnit() * 0.01)
}

async function storeOf(n: number) {
  const store = new DeltaStore({ dir: join(tempDir('off-thread'), 'objects') })
  const roots = Array.from({ length: n }, (_, i) =>
    store.put(0, encodeDelta(randomVector(i + 1), { encoding: 'int8-block', blockSize: 256 })),
  )
  const paths = await Promise.all(roots.map((r) => store.fileOf(r)))
  const inputs = roots.map((id, i) => ({ id, path: paths[i]! }))
  const contributions = roots.map((id) => ({ id, values: store.delta(id, count) }))
  return { store, inputs, contributions }
}

const bits = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)

describe('aggregation on a worker thread (issue 17)', () => {
  it('gives the aggregate of the node thread bit for bit, read from the store files', async () => {
    const { store, inputs, contributions } = await storeOf(7)
    expect(inputs.every((x) => x.path.startsWith('/'))).toBe(true)
    const seed = new Uint8Array(40).fill(3)
    const reference = randomVector(99)
    const rules: AggregationRule[] = [
      { rule: 'nnm-trimmed-mean', faultFraction: 0.2 },
      { rule: 'centered-clipping', tau: 'auto', iterations: 3 },
      { rule: 'krum', f: 2 },
      { rule: 'mean', bucketSize: 2 },
    ]
    for (const rule of rules) {
      const context = { seed, reference }
      const here = aggregate(rule, contributions, context)
      const there = await aggregateOffThread({ rule, inputs, count, context })
      expect(there.length, rule.rule).toBe(count)
      expect(bits(there).equals(bits(here)), rule.rule).toBe(true)
    }
    // the order the inputs come in does not matter there either (canonical order by id)
    const rule: AggregationRule = { rule: 'nnm-trimmed-mean', faultFraction: 0.2 }
    const reversed = await aggregateOffThread({
      rule,
      inputs: [...inputs].reverse(),
      count,
      context: { seed },
    })
    expect(bits(reversed).equals(bits(aggregate(rule, contributions, { seed })))).toBe(true)
    await store.close()
  })

  it("throws the rule's input error as the node thread does, names a missing file, and stops when told", async () => {
    const { store, inputs } = await storeOf(3)
    const seed = new Uint8Array(40)
    // Krum refuses n <= 2f + 2 (SPEC.md 8.10): the runner then falls back to the median
    await expect(
      aggregateOffThread({ rule: { rule: 'krum', f: 1 }, inputs, count, context: { seed } }),
    ).rejects.toThrow(AggregationInputError)
    const missing = [...inputs, { id: new Uint8Array(32).fill(9), path: '/nonexistent/object' }]
    await expect(
      aggregateOffThread({ rule: { rule: 'mean' }, inputs: missing, count, context: { seed } }),
    ).rejects.toThrow(
      /the aggregation thread failed \(Error\): the object \/nonexistent\/object is not on disk/,
    )
    // a node told to stop does not wait for its aggregation: the call rejects with the reason
    const stop = new AbortController()
    const pending = aggregateOffThread(
      { rule: { rule: 'median' }, inputs, count, context: { seed } },
      stop.signal,
    )
    stop.abort(new Error('the node is stopping'))
    await expect(pending).rejects.toThrow('the node is stopping')
    await expect(
      aggregateOffThread({ rule: { rule: 'median' }, inputs, count, context: { seed } }, stop.signal),
    ).rejects.toThrow('the node is stopping')
    await store.close()
  })
})
