// Aggregation rules, SPEC.md section 8. Pure functions over vectors read block by block
// (blocks.ts, SPEC.md 8.13): the only aggregation path, whatever the model's size.
// Arithmetic is IEEE-754 binary32, one rounding per operation, in the order written here
// (Math.fround after each operation on float32 inputs gives exactly the binary32 result),
// so every implementation that follows the spec reaches bit-identical output.
import {
  AGGREGATION_BLOCK,
  AggregationInputError,
  asBlocks,
  type BlockSet,
  mapBlocks,
  sourceSet,
  type VectorSource,
} from './blocks.js'
import { compareBytes } from './order.js'
import {
  bucketMeans,
  centeredClipping,
  clipNorm,
  geometricMedian,
  krum,
  multiKrum,
  nearestNeighbourMixing,
} from './robust.js'
import { simdColumns } from './simd-kernel.js'
import { MAX_NETWORK_INPUTS, medianKernel, trimmedMeanKernel } from './sorting-network.js'

export type BaseRule =
  | { rule: 'mean' }
  | { rule: 'median' }
  | { rule: 'trimmed-mean'; trimFraction: number }
  | { rule: 'nnm-trimmed-mean'; faultFraction: number }
  | { rule: 'krum'; f: number }
  | { rule: 'multi-krum'; f: number; m: number }
  | { rule: 'geometric-median'; iterations: number; nu: number; tolerance: number }
  | { rule: 'centered-clipping'; tau: number | 'auto'; iterations: number }

/** A rule and its optional pre-steps, applied in this order: norm bound, NNM, bucketing (SPEC.md 8). */
export type AggregationRule = BaseRule & {
  /** clip every input to this L2 norm first (SPEC.md 8.9) */
  normBound?: number
  /** nearest-neighbour mixing with this declared number of Byzantine inputs (SPEC.md 8.7) */
  nnmF?: number
  /** bucketing with buckets of this size (SPEC.md 8.8) */
  bucketSize?: number
}

/**
 * The seed of a round's shared randomness, runId || u64le(round): the bucketing pre-step's shuffle
 * (SPEC.md 8.8) and a sharded exchange's aggregator draw (18.2).
 */
export function roundSeed(runId: Uint8Array, round: number): Uint8Array {
  const seed = new Uint8Array(runId.length + 8)
  seed.set(runId)
  new DataView(seed.buffer).setBigUint64(runId.length, BigInt(round), true)
  return seed
}

export interface AggregationContext {
  /** seed of the round's shared randomness (bucketing): roundSeed(runId, round) */
  seed: Uint8Array
  /** the previous round's aggregate (centered clipping's reference point); zeros in round 0 */
  reference?: Float32Array
}

export interface Contribution {
  /** Content id of the delta (its hash): defines the canonical order. */
  id: Uint8Array
  /** the decoded delta, read block by block: a Float32Array, or a delta decoded as it is read */
  values: VectorSource
}

export { AggregationInputError }

/** Whether a rule reads the context's reference (centered clipping's, SPEC.md 8.6). */
export const readsReference = (config: BaseRule): boolean => config.rule === 'centered-clipping'

/**
 * Aggregates contributions with a rule. Inputs are put in canonical order (ascending id bytes)
 * first, so the result does not depend on arrival order. Inputs must be validated deltas of one length.
 */
export function aggregate(
  config: AggregationRule,
  contributions: readonly Contribution[],
  context: AggregationContext = { seed: new Uint8Array(0) },
  blockSize = AGGREGATION_BLOCK,
): Float32Array {
  const ordered = [...contributions].sort((a, b) => compareBytes(a.id, b.id)).map((c) => c.values)
  let inputs = sourceSet(ordered, blockSize)
  checkTolerance(config, inputs.count)
  if (config.normBound !== undefined) inputs = clipNorm(inputs, config.normBound)
  if (config.nnmF !== undefined) inputs = nearestNeighbourMixing(inputs, config.nnmF)
  if (config.bucketSize !== undefined && config.bucketSize > 1)
    inputs = bucketMeans(inputs, config.bucketSize, context.seed)
  return applyRule(config, inputs, context)
}

/**
 * The base rule over inputs the pre-steps produced. `distances`: the inputs' pairwise squared
 * distances when known already (a shard aggregated with the whole vectors' distances,
 * aggregate/shards.ts); NNM, Krum and multi-Krum compute them from the inputs otherwise.
 */
export function applyRule(
  config: BaseRule,
  inputs: BlockSet,
  context: AggregationContext,
  distances?: readonly Float64Array[],
): Float32Array {
  switch (config.rule) {
    case 'mean':
      return mean(inputs)
    case 'median':
      return coordinateMedian(inputs)
    case 'trimmed-mean':
      return trimmedMean(inputs, config.trimFraction)
    case 'nnm-trimmed-mean': {
      const f = declaredFaults(config.faultFraction, inputs.count)
      return trimmedMeanOf(nearestNeighbourMixing(inputs, f, distances), f)
    }
    case 'krum':
      return krum(inputs, config.f, distances)
    case 'multi-krum':
      return multiKrum(inputs, config.f, config.m, distances)
    case 'geometric-median':
      return geometricMedian(inputs, config)
    case 'centered-clipping':
      return centeredClipping(
        inputs,
        config.tau,
        config.iterations,
        context.reference ?? new Float32Array(inputs.length),
      )
  }
}

/**
 * The largest number of Byzantine inputs each rule is built to tolerate among n (SPEC.md 8.10).
 * With bucketing the rule sees ceil(n / bucketSize) bucket means, of which up to f can be tainted.
 */
export function toleratedFaults(config: AggregationRule, n: number): number {
  const m = config.bucketSize && config.bucketSize > 1 ? Math.ceil(n / config.bucketSize) : n
  switch (config.rule) {
    case 'mean':
      return 0
    case 'median':
    case 'geometric-median':
    case 'centered-clipping':
      return Math.ceil(m / 2) - 1 // f < m / 2
    case 'trimmed-mean':
      return Math.floor(config.trimFraction * m) // the values trimmed at each end
    case 'nnm-trimmed-mean':
      return declaredFaults(config.faultFraction, m)
    case 'krum':
    case 'multi-krum':
      // m > 2f + 2; with m <= 2 not even f = 0 holds (-1: the rule refuses every input set)
      return Math.ceil((m - 2) / 2) - 1
  }
}

/**
 * The f of nnm-trimmed-mean (SPEC.md 8.12): ceil(faultFraction * n), capped at floor((n - 1) / 2)
 * so that the trimmed mean always keeps at least one value.
 */
export function declaredFaults(faultFraction: number, n: number): number {
  return Math.min(Math.ceil(faultFraction * n), Math.floor((n - 1) / 2))
}

/** Refuses a configuration its inputs cannot satisfy, saying what is needed (SPEC.md 8.10). */
export function checkTolerance(config: AggregationRule, n: number): void {
  const declared = 'f' in config ? config.f : config.nnmF
  const tolerated = toleratedFaults(config, n)
  const buckets = config.bucketSize ? ` in buckets of ${config.bucketSize}` : ''
  if (declared !== undefined && declared > tolerated) {
    throw new AggregationInputError(
      tolerated < 0
        ? `${config.rule} needs more than 2f + 2 inputs${buckets} (n = ${n}, f = ${declared})`
        : `${config.rule} cannot tolerate f = ${declared} Byzantine inputs among ${n}${buckets} (at most ${tolerated})`,
    )
  }
  if (config.rule === 'multi-krum' && (config.m < 1 || config.m > n - config.f)) {
    throw new AggregationInputError(
      `multi-krum needs 1 <= m <= n - f (m = ${config.m}, n = ${n}, f = ${config.f})`,
    )
  }
  if (config.nnmF !== undefined && config.nnmF >= n) {
    throw new AggregationInputError(`nearest-neighbour mixing needs f < n (f = ${config.nnmF}, n = ${n})`)
  }
}

/** Sum in the given order, then divide by n (SPEC.md 8.1). */
export function mean(inputs: BlockSet | readonly VectorSource[]): Float32Array {
  const set = asBlocks(inputs)
  const n = set.count
  return mapBlocks(set, (xs, out) => {
    for (const x of xs) for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] + x[i])
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] / n)
  })
}

/** Coordinate-wise median; for even n the mean of the two middle values (SPEC.md 8.2). */
export function coordinateMedian(inputs: BlockSet | readonly VectorSource[]): Float32Array {
  const set = asBlocks(inputs)
  const n = set.count
  if (n <= MAX_NETWORK_INPUTS) {
    const kernel = medianKernel(n)
    return mapBlocks(set, (xs, out) => {
      const done = simdColumns(xs, out, { kind: 'median' })
      kernel(
        xs.map((x) => x.subarray(done)),
        out.subarray(done),
      )
    })
  }
  const column = new Float32Array(n)
  const mid = n >> 1
  return mapBlocks(set, (xs, out) => {
    for (let i = 0; i < out.length; i++) {
      for (let j = 0; j < n; j++) column[j] = xs[j][i]
      insertionSort(column)
      out[i] = n % 2 === 1 ? column[mid] : Math.fround(Math.fround(column[mid - 1] + column[mid]) * 0.5)
    }
  })
}

/**
 * Trimmed mean (SPEC.md 8.3): per coordinate, sort, drop k = floor(trimFraction * n) values
 * at each end, sum the rest in ascending order and divide by n - 2k.
 */
export function trimmedMean(inputs: BlockSet | readonly VectorSource[], trimFraction: number): Float32Array {
  const set = asBlocks(inputs)
  return trimmedMeanOf(set, trimCount(set.count, trimFraction))
}

/** Trimmed mean dropping exactly k values at each end (SPEC.md 8.3). */
export function trimmedMeanOf(inputs: BlockSet | readonly VectorSource[], k: number): Float32Array {
  const set = asBlocks(inputs)
  const n = set.count
  if (!Number.isInteger(k) || k < 0 || 2 * k >= n)
    throw new AggregationInputError(`cannot trim ${k} of ${n} values at each end`)
  const kept = n - 2 * k
  if (n <= MAX_NETWORK_INPUTS) {
    const kernel = trimmedMeanKernel(n, k)
    return mapBlocks(set, (xs, out) => {
      const done = simdColumns(xs, out, { kind: 'trimmed-mean', k })
      kernel(
        xs.map((x) => x.subarray(done)),
        out.subarray(done),
      )
    })
  }
  const column = new Float32Array(n)
  return mapBlocks(set, (xs, out) => {
    for (let i = 0; i < out.length; i++) {
      for (let j = 0; j < n; j++) column[j] = xs[j][i]
      insertionSort(column)
      let sum = 0
      for (let j = k; j < n - k; j++) sum = Math.fround(sum + column[j])
      out[i] = Math.fround(sum / kept)
    }
  })
}

export function trimCount(n: number, trimFraction: number): number {
  if (!(trimFraction >= 0 && trimFraction < 0.5)) {
    throw new AggregationInputError(`trimFraction must be in [0, 0.5) (got ${trimFraction})`)
  }
  return Math.floor(trimFraction * n)
}

// Columns of more than MAX_NETWORK_INPUTS values (rare: that many peers in one round) are sorted
// by insertion sort, in the same total order as the networks: numeric, -0 before +0 (SPEC.md 8).
function insertionSort(column: Float32Array): void {
  for (let i = 1; i < column.length; i++) {
    const value = column[i]
    let j = i - 1
    while (j >= 0 && lessThan(value, column[j])) {
      column[j + 1] = column[j]
      j--
    }
    column[j + 1] = value
  }
}

function lessThan(a: number, b: number): boolean {
  return a < b || (a === 0 && b === 0 && Object.is(a, -0) && Object.is(b, 0))
}
