import { describe, expect, it } from 'vitest'
import { materialize } from '../../src/aggregate/blocks.js'
import {
  bucketMeans,
  centeredClipping,
  clipNorm,
  geometricMedian,
  krum,
  multiKrum,
  nearestNeighbourMixing,
  squaredDistance,
} from '../../src/aggregate/robust.js'
import {
  AggregationInputError,
  type AggregationRule,
  aggregate,
  type Contribution,
  declaredFaults,
  mean,
} from '../../src/aggregate/rules.js'
import { HashStream } from '../../src/crypto/prng.js'
import { defaultGenesis, parseGenesis } from '../../src/wire/genesis.js'

function cluster(count: number, d: number, center: number, spread: number, seed: number): Float32Array[] {
  const s = new HashStream('robust-test', new Uint8Array([seed]))
  return Array.from({ length: count }, () =>
    Float32Array.from({ length: d }, () => center + spread * s.nextSymmetricUnit()),
  )
}
const norm = (x: Float32Array) => Math.sqrt(squaredDistance(x, new Float32Array(x.length)))
const contributions = (xs: Float32Array[]): Contribution[] =>
  xs.map((values, i) => ({ id: Uint8Array.from({ length: 32 }, (_, k) => (i * 37 + k * 11) % 256), values }))
const GM = { iterations: 50, nu: 1e-8, tolerance: 1e-7 }

describe('robust rules', () => {
  const honest = cluster(7, 50, 1, 0.1, 1)
  const byzantine = cluster(2, 50, -20, 0.1, 2)
  const all = [...honest, ...byzantine]
  const honestMean = mean(honest)

  it('Krum picks an honest input, exactly, when two of nine are far away', () => {
    const chosen = krum(all, 2)
    expect(honest.some((h) => Buffer.from(h.buffer).equals(Buffer.from(chosen.buffer)))).toBe(true)
  })

  it('multi-Krum averages only honest inputs', () => {
    const out = multiKrum(all, 2, 5)
    expect(Math.sqrt(squaredDistance(out, honestMean))).toBeLessThan(0.2 * Math.sqrt(50))
    expect(out.every((x) => x > 0.5)).toBe(true)
  })

  it('the geometric median of identical inputs is that input, and it resists two outliers', () => {
    const x = honest[0]
    const same = geometricMedian([x, x, x], GM)
    expect(Math.sqrt(squaredDistance(same, x))).toBeLessThan(1e-5)
    const gm = geometricMedian(all, GM)
    expect(Math.sqrt(squaredDistance(gm, honestMean))).toBeLessThan(
      0.1 * Math.sqrt(squaredDistance(mean(all), honestMean)),
    )
  })

  it('centered clipping with a huge tau and one iteration is the mean; a small tau bounds an outlier', () => {
    const cc = centeredClipping(all, 1e30, 1, new Float32Array(50))
    const m = mean(all)
    for (let i = 0; i < 50; i++) expect(Math.abs(cc[i] - m[i])).toBeLessThan(1e-5)
    const reference = honestMean
    const clipped = centeredClipping([...honest, cluster(1, 50, 1e6, 0, 3)[0]], 0.5, 3, reference)
    // The outlier moves the estimate by at most tau / n per iteration.
    expect(Math.sqrt(squaredDistance(clipped, reference))).toBeLessThan((3 * 0.5) / 8 + 0.5)
  })

  it('nearest-neighbour mixing with f = 0 replaces every input by the mean of all', () => {
    const mixed = materialize(nearestNeighbourMixing(honest, 0))
    for (const y of mixed) expect(Math.sqrt(squaredDistance(y, mixed[0]))).toBe(0)
    for (let i = 0; i < 50; i++) expect(Math.abs(mixed[0][i] - honestMean[i])).toBeLessThan(1e-6)
  })

  it('bucketing is a seeded partition: every input lands in exactly one bucket', () => {
    const seed = new Uint8Array([1, 2, 3])
    const buckets = (size: number, s: Uint8Array) => materialize(bucketMeans(all, size, s))
    const key = (x: Float32Array) => Buffer.from(x.buffer).toString('hex')
    expect(buckets(1, seed).map(key).sort()).toEqual(all.map(key).sort())
    expect(buckets(2, seed).map(key)).toEqual(buckets(2, seed).map(key))
    expect(buckets(2, seed).map(key)).not.toEqual(buckets(2, new Uint8Array([9])).map(key))
    expect(buckets(2, seed)).toHaveLength(5)
  })

  it('a norm bound scales long inputs to the bound and leaves short ones alone', () => {
    const long = Float32Array.from({ length: 4 }, () => 10)
    expect(norm(materialize(clipNorm([long], 1))[0])).toBeCloseTo(1, 5)
    const short = Float32Array.from([0.1, 0])
    const [kept] = clipNorm([short], 1).read(0, 2)
    expect(kept).toEqual(short)
  })
})

describe('aggregate() with the robust rules', () => {
  const rules: AggregationRule[] = [
    { rule: 'krum', f: 2 },
    { rule: 'multi-krum', f: 2, m: 3 },
    { rule: 'geometric-median', ...GM },
    { rule: 'centered-clipping', tau: 1, iterations: 3 },
    { rule: 'trimmed-mean', trimFraction: 0.25, nnmF: 2 },
    { rule: 'centered-clipping', tau: 1, iterations: 3, bucketSize: 2 },
    { rule: 'median', normBound: 5 },
    { rule: 'nnm-trimmed-mean', faultFraction: 0.2 },
  ]
  const inputs = contributions([...cluster(7, 40, 0.5, 0.2, 4), ...cluster(2, 40, 9, 0.1, 5)])

  it.each(rules)('is bit-identical whatever the arrival order ($rule)', (rule) => {
    const context = { seed: new Uint8Array([7]), reference: new Float32Array(40) }
    const reference = aggregate(rule, inputs, context)
    const reversed = aggregate(rule, [...inputs].reverse(), context)
    expect(Buffer.from(reversed.buffer).equals(Buffer.from(reference.buffer))).toBe(true)
    // and it stays with the honest cluster (centre 0.5), far from the attackers (centre 9)
    expect(Math.max(...reference)).toBeLessThan(2)
  })

  it('refuses a declared f beyond what the rule tolerates, saying the limit', () => {
    expect(() => aggregate({ rule: 'krum', f: 4 }, inputs)).toThrow(/at most 3/)
    expect(() => aggregate({ rule: 'multi-krum', f: 1, m: 9 }, inputs)).toThrow(AggregationInputError)
    expect(() => aggregate({ rule: 'median', nnmF: 5 }, inputs)).toThrow(AggregationInputError)
  })

  it('nnm-trimmed-mean declares f = ceil(0.2 n), capped so the trimmed mean keeps a value', () => {
    expect([1, 2, 3, 4, 5, 9, 10, 16].map((n) => declaredFaults(0.2, n))).toEqual([0, 0, 1, 1, 1, 2, 2, 4])
    // n = 2: f = 0, so it is the plain mean of the two (binary64 NNM mean, then binary32 trimmed mean)
    const two = contributions([Float32Array.from([1, 2]), Float32Array.from([3, 6])])
    expect([...aggregate({ rule: 'nnm-trimmed-mean', faultFraction: 0.2 }, two)]).toEqual([2, 4])
  })

  it('rejects an input holding NaN before aggregating', () => {
    const bad = contributions([Float32Array.from([1, Number.NaN]), Float32Array.from([1, 2])])
    expect(() => aggregate({ rule: 'mean' }, bad)).toThrow(AggregationInputError)
  })

  it('a genesis whose rule cannot tolerate its f with the expected peers is refused, naming aggregation', () => {
    const g = structuredClone(defaultGenesis({ expectedPeers: 5 })) as unknown as Record<string, unknown>
    g.aggregation = { rule: 'krum', f: 2 }
    expect(() => parseGenesis(g)).toThrow(/aggregation: krum cannot tolerate f = 2/)
  })
})
