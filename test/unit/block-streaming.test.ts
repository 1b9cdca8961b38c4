import { describe, expect, it } from 'vitest'
import {
  AGGREGATION_BLOCK,
  addSquaredDistances,
  blockRanges,
  pairwiseSquaredDistances,
  sourceSet,
  squaredNorms,
  type VectorSource,
} from '../../src/aggregate/blocks.js'
import { squaredDistance } from '../../src/aggregate/robust.js'
import { type AggregationRule, aggregate } from '../../src/aggregate/rules.js'
import { HashStream } from '../../src/crypto/prng.js'
import { aggregate as wholeVectorAggregate } from '../fixtures/whole-vector-aggregate.js'

// SPEC.md 8.13: aggregating block by block is bit-identical to aggregating whole vectors, for every
// rule and pre-step, every block size, and inputs with ties, signed zeros and large magnitudes.

function randomInputs(n: number, d: number, seed: number) {
  const s = new HashStream('block-streaming-test', new Uint8Array([seed, n, d & 0xff]))
  const pick = () => {
    const r = s.nextBelow(10)
    if (r === 0) return s.nextBelow(2) === 0 ? 0 : -0
    if (r === 1) return Math.fround(s.nextBelow(3) - 1) // ties
    if (r === 2) return Math.fround(s.nextSymmetricUnit() * 1e6)
    return Math.fround(s.nextSymmetricUnit() * (1 + (s.nextBelow(4) === 0 ? 5 : 0)))
  }
  return Array.from({ length: n }, (_, i) => ({
    id: Uint8Array.from({ length: 32 }, (_, k) => (i * 97 + k * 13 + seed) % 256),
    values: Float32Array.from({ length: d }, pick),
  }))
}

const RULES: AggregationRule[] = [
  { rule: 'mean' },
  { rule: 'median' },
  { rule: 'trimmed-mean', trimFraction: 0.2 },
  { rule: 'nnm-trimmed-mean', faultFraction: 0.25 },
  { rule: 'krum', f: 1 },
  { rule: 'multi-krum', f: 1, m: 3 },
  { rule: 'geometric-median', iterations: 6, nu: 1e-6, tolerance: 1e-12 },
  { rule: 'centered-clipping', tau: 'auto', iterations: 3 },
  { rule: 'centered-clipping', tau: 0.5, iterations: 2 },
  { rule: 'mean', normBound: 3 },
  { rule: 'median', nnmF: 1 },
  { rule: 'trimmed-mean', trimFraction: 0.25, bucketSize: 2 },
  { rule: 'geometric-median', iterations: 4, nu: 1e-6, tolerance: 1e-12, normBound: 2, nnmF: 1 },
  { rule: 'krum', f: 0, normBound: 5, nnmF: 1, bucketSize: 2 },
  { rule: 'centered-clipping', tau: 'auto', iterations: 2, bucketSize: 3, normBound: 10 },
]

const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength)

describe('block-wise aggregation (SPEC.md 8.13)', () => {
  for (const rule of RULES) {
    it(`${JSON.stringify(rule)} is bit-identical to the whole-vector result at every block size`, () => {
      for (const [n, d, seed] of [
        [7, 1001, 1],
        [8, 257, 2],
        [11, 130, 3],
      ]) {
        const inputs = randomInputs(n, d, seed)
        const s = new HashStream('reference', new Uint8Array([seed]))
        const context = {
          seed: new Uint8Array([seed, 9, 9]),
          reference: Float32Array.from({ length: d }, () => s.nextSymmetricUnit()),
        }
        const expected = wholeVectorAggregate(rule, inputs, context)
        for (const blockSize of [1, 3, 64, 1000, AGGREGATION_BLOCK]) {
          const got = aggregate(rule, inputs, context, blockSize)
          expect(bytes(got).equals(bytes(expected)), `n ${n}, d ${d}, block ${blockSize}`).toBe(true)
        }
      }
    })
  }

  it('beyond the sorting networks (n = 70), median and trimmed mean are bit-identical too', () => {
    const inputs = randomInputs(70, 300, 4)
    for (const rule of [
      { rule: 'median' },
      { rule: 'trimmed-mean', trimFraction: 0.1 },
    ] as AggregationRule[]) {
      const expected = wholeVectorAggregate(rule, inputs)
      for (const blockSize of [7, 128])
        expect(bytes(aggregate(rule, inputs, undefined, blockSize))).toEqual(bytes(expected))
    }
  })

  it('reads each input only block by block, never a range longer than the block size', () => {
    const inputs = randomInputs(5, 2500, 5)
    const longest: number[] = []
    const sources = inputs.map(({ id, values }, j) => {
      const source: VectorSource = {
        length: values.length,
        subarray: (start, end) => {
          longest[j] = Math.max(longest[j] ?? 0, end - start)
          return values.slice(start, end)
        },
      }
      return { id, values: source }
    })
    const rule: AggregationRule = { rule: 'geometric-median', iterations: 3, nu: 1e-6, tolerance: 0, nnmF: 1 }
    const out = aggregate(rule, sources, undefined, 256)
    expect(bytes(out)).toEqual(bytes(wholeVectorAggregate(rule, inputs)))
    expect(longest).toEqual([256, 256, 256, 256, 256])
  })

  it('refuses an input holding NaN, naming its global index, whatever block it falls in', () => {
    const inputs = randomInputs(3, 600, 6)
    inputs[1].values[517] = Number.NaN
    expect(() => aggregate({ rule: 'mean' }, inputs, undefined, 100)).toThrow(/holds NaN at index 517/)
  })
})

describe('block-wise distances (SPEC.md 8.13)', () => {
  it('every binary64 distance and norm equals the whole-vector sum exactly, at every block size', () => {
    const inputs = randomInputs(6, 3001, 7).map((c) => c.values)
    const zero = new Float32Array(3001)
    for (const blockSize of [1, 5, 512, 3000, AGGREGATION_BLOCK]) {
      const set = sourceSet(inputs, blockSize)
      const pairs = pairwiseSquaredDistances(set)
      const norms = squaredNorms(set)
      const toFirst = new Float64Array(6)
      for (const [start, end] of blockRanges(set))
        addSquaredDistances(toFirst, set.read(start, end), inputs[0].subarray(start, end))
      for (let i = 0; i < 6; i++) {
        expect(norms[i]).toBe(squaredDistance(inputs[i], zero))
        expect(toFirst[i]).toBe(squaredDistance(inputs[i], inputs[0]))
        for (let j = 0; j < 6; j++)
          expect(pairs[i][j]).toBe(i === j ? 0 : squaredDistance(inputs[i], inputs[j]))
      }
    }
  })
})
