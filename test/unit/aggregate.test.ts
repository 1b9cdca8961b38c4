import { describe, expect, it } from 'vitest'
import {
  AggregationInputError,
  type AggregationRule,
  aggregate,
  type Contribution,
  coordinateMedian,
  mean,
  trimmedMean,
} from '../../src/aggregate/rules.js'
import { HashStream } from '../../src/crypto/prng.js'

const v = (...xs: number[]) => new Float32Array(xs)
const id = (n: number) => new Uint8Array(32).fill(n)

function randomContributions(
  n: number,
  d: number,
  seed: number,
): (Contribution & { values: Float32Array })[] {
  const s = new HashStream('aggregate-test', new Uint8Array([seed]))
  return Array.from({ length: n }, (_, i) => ({
    id: Uint8Array.from({ length: 32 }, () => s.nextBelow(256)),
    values: Float32Array.from({ length: d }, () => s.nextSymmetricUnit() * (i + 1)),
  }))
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const s = new HashStream('shuffle', new Uint8Array([seed]))
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = s.nextBelow(i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

const RULES: AggregationRule[] = [
  { rule: 'mean' },
  { rule: 'median' },
  { rule: 'trimmed-mean', trimFraction: 0.2 },
]

describe('aggregation rules on hand-computed cases', () => {
  const inputs = [v(1, 10, -3), v(2, 20, 100), v(4, -30, 0), v(3, 40, 1), v(1000, 50, 2)]

  it('mean', () => {
    expect([...mean([v(1, 2), v(2, 4), v(6, 0)])]).toEqual([3, 2])
  })

  it('coordinate median, odd and even n', () => {
    expect([...coordinateMedian(inputs)]).toEqual([3, 20, 1])
    expect([...coordinateMedian(inputs.slice(0, 4))]).toEqual([2.5, 15, 0.5])
  })

  it('trimmed mean drops floor(beta n) values at each end', () => {
    // n = 5, beta = 0.2: k = 1; the columns keep (2, 3, 4), (10, 20, 40) and (0, 1, 2).
    expect([...trimmedMean(inputs, 0.2)]).toEqual([3, Math.fround(70 / 3), 1])
    // beta = 0.4: k = 2, only the median is left.
    expect([...trimmedMean(inputs, 0.4)]).toEqual([3, 20, 1])
  })

  it('trimmed mean with beta = 0 is the mean (exact on integer-valued inputs)', () => {
    expect([...trimmedMean(inputs, 0)]).toEqual([...mean(inputs)])
    const random = randomContributions(7, 500, 1).map((c) => c.values)
    const a = trimmedMean(random, 0)
    const b = mean(random)
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-6)
  })

  it('median and trimmed mean of identical inputs are that input', () => {
    const x = randomContributions(1, 300, 2)[0].values
    const same = [x, x, x, x]
    expect(Buffer.from(coordinateMedian(same).buffer).equals(Buffer.from(x.buffer))).toBe(true)
    expect(Buffer.from(trimmedMean(same, 0.25).buffer).equals(Buffer.from(x.buffer))).toBe(true)
  })

  it('median ignores one arbitrarily large outlier', () => {
    const out = coordinateMedian([v(1), v(2), v(3e38)])
    expect(out[0]).toBe(2)
  })
})

describe('aggregate()', () => {
  it.each(RULES)('gives bit-identical output whatever the input order ($rule)', (rule) => {
    const contributions = randomContributions(9, 2000, 3)
    const reference = aggregate(rule, contributions)
    for (let seed = 0; seed < 5; seed++) {
      const out = aggregate(rule, shuffled(contributions, seed))
      expect(Buffer.from(out.buffer).equals(Buffer.from(reference.buffer))).toBe(true)
    }
  })

  it('sums the mean in canonical (hash) order', () => {
    // In float32, (1e8 + 1) + -1e8 = 0 but (1e8 + -1e8) + 1 = 1: the order is part of the result.
    const big = { id: id(2), values: v(1e8) }
    const one = { id: id(1), values: v(1) }
    const negBig = { id: id(3), values: v(-1e8) }
    expect(aggregate({ rule: 'mean' }, [negBig, big, one])[0]).toBe(
      Math.fround(Math.fround(Math.fround(1 + 1e8) - 1e8) / 3),
    )
  })

  it('refuses empty input, mixed lengths and an out-of-range trim fraction', () => {
    expect(() => aggregate({ rule: 'mean' }, [])).toThrow(AggregationInputError)
    expect(() =>
      aggregate({ rule: 'mean' }, [
        { id: id(1), values: v(1) },
        { id: id(2), values: v(1, 2) },
      ]),
    ).toThrow(AggregationInputError)
    expect(() =>
      aggregate({ rule: 'trimmed-mean', trimFraction: 0.5 }, [{ id: id(1), values: v(1) }]),
    ).toThrow(AggregationInputError)
  })
})

describe('sorting-network kernels', () => {
  const reference = (column: number[]) =>
    [...column].sort((a, b) =>
      a < b
        ? -1
        : a > b
          ? 1
          : Object.is(a, -0) && Object.is(b, 0)
            ? -1
            : Object.is(a, 0) && Object.is(b, -0)
              ? 1
              : 0,
    )

  it('sorts every column like a reference sort, for n = 1 to 40 (median and trimmed mean agree)', () => {
    const s = new HashStream('network-test', new Uint8Array(0))
    for (let n = 1; n <= 40; n++) {
      const d = 67 // 64 coordinates through the SIMD kernel, 3 through the JavaScript one
      // Few distinct values, so ties, -0 and +0 are common.
      const pool = [0, -0, 1, -1, 0.5, 2, -3, 1e-30]
      const inputs = Array.from({ length: n }, () =>
        Float32Array.from({ length: d }, () => pool[s.nextBelow(pool.length)]),
      )
      const median = coordinateMedian(inputs)
      const trimmed = trimmedMean(inputs, 0.25)
      const k = Math.floor(0.25 * n)
      for (let i = 0; i < d; i++) {
        const sorted = reference(inputs.map((x) => x[i]))
        const mid = n >> 1
        const expected =
          n % 2 === 1 ? sorted[mid] : Math.fround(Math.fround(sorted[mid - 1] + sorted[mid]) * 0.5)
        expect(Object.is(median[i], expected), `n = ${n}, i = ${i}`).toBe(true)
        let sum = 0
        for (let j = k; j < n - k; j++) sum = Math.fround(sum + sorted[j])
        expect(Object.is(trimmed[i], Math.fround(sum / (n - 2 * k))), `n = ${n}, i = ${i}`).toBe(true)
      }
    }
  })

  it('agrees with the column-sort path beyond the unrolled size (n = 70)', () => {
    const inputs = randomContributions(70, 50, 9).map((c) => c.values)
    const out = coordinateMedian(inputs)
    for (let i = 0; i < 50; i++) {
      const sorted = inputs.map((x) => x[i]).sort((a, b) => a - b)
      expect(out[i]).toBe(Math.fround(Math.fround(sorted[34] + sorted[35]) * 0.5))
    }
  })
})

describe('SIMD and JavaScript kernels', () => {
  it('give bit-identical medians and trimmed means on random data', async () => {
    const { medianKernel, trimmedMeanKernel } = await import('../../src/aggregate/sorting-network.js')
    const { simdColumns } = await import('../../src/aggregate/simd-kernel.js')
    for (const n of [3, 8, 16, 21]) {
      const inputs = randomContributions(n, 40_003, n).map((c) => c.values)
      const js = new Float32Array(40_003)
      const simd = new Float32Array(40_003)
      medianKernel(n)(inputs, js)
      expect(simdColumns(inputs, simd, { kind: 'median' })).toBe(40_000)
      expect(Buffer.from(simd.buffer, 0, 160_000).equals(Buffer.from(js.buffer, 0, 160_000))).toBe(true)
      const k = Math.floor(n / 4)
      trimmedMeanKernel(n, k)(inputs, js)
      simdColumns(inputs, simd, { kind: 'trimmed-mean', k })
      expect(Buffer.from(simd.buffer, 0, 160_000).equals(Buffer.from(js.buffer, 0, 160_000))).toBe(true)
    }
  })
})
