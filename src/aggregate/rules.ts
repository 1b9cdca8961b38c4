// Aggregation rules, SPEC.md section 8. Pure functions over Float32Array.
// Arithmetic is IEEE-754 binary32, one rounding per operation, in the order written here
// (Math.fround after each operation on float32 inputs gives exactly the binary32 result),
// so every implementation that follows the spec reaches bit-identical output.
import { compareBytes } from './order.js'
import { MAX_NETWORK_INPUTS, medianKernel, trimmedMeanKernel } from './sorting-network.js'

export type AggregationRule =
  | { rule: 'mean' }
  | { rule: 'median' }
  | { rule: 'trimmed-mean'; trimFraction: number }

export interface Contribution {
  /** Content id of the delta (its hash): defines the canonical order. */
  id: Uint8Array
  values: Float32Array
}

export class AggregationInputError extends Error {
  override name = 'AggregationInputError'
}

/**
 * Aggregates contributions with a rule. Inputs are put in canonical order (ascending id bytes)
 * first, so the result does not depend on arrival order. Inputs must be validated deltas of one length.
 */
export function aggregate(config: AggregationRule, contributions: readonly Contribution[]): Float32Array {
  if (contributions.length === 0) throw new AggregationInputError('nothing to aggregate')
  const length = contributions[0].values.length
  for (const c of contributions) {
    if (c.values.length !== length) {
      throw new AggregationInputError(`contributions differ in length (${c.values.length} != ${length})`)
    }
  }
  const ordered = [...contributions].sort((a, b) => compareBytes(a.id, b.id)).map((c) => c.values)
  switch (config.rule) {
    case 'mean':
      return mean(ordered)
    case 'median':
      return coordinateMedian(ordered)
    case 'trimmed-mean':
      return trimmedMean(ordered, config.trimFraction)
  }
}

/** Sum in the given order, then divide by n (SPEC.md 8.1). */
export function mean(inputs: readonly Float32Array[]): Float32Array {
  const n = inputs.length
  const length = inputs[0].length
  const out = new Float32Array(length)
  for (const input of inputs) {
    for (let i = 0; i < length; i++) out[i] = Math.fround(out[i] + input[i])
  }
  for (let i = 0; i < length; i++) out[i] = Math.fround(out[i] / n)
  return out
}

/** Coordinate-wise median; for even n the mean of the two middle values (SPEC.md 8.2). */
export function coordinateMedian(inputs: readonly Float32Array[]): Float32Array {
  const n = inputs.length
  const length = inputs[0].length
  const out = new Float32Array(length)
  if (n <= MAX_NETWORK_INPUTS) {
    medianKernel(n)(inputs, out)
    return out
  }
  const column = new Float32Array(n)
  const mid = n >> 1
  for (let i = 0; i < length; i++) {
    for (let j = 0; j < n; j++) column[j] = inputs[j][i]
    insertionSort(column)
    out[i] = n % 2 === 1 ? column[mid] : Math.fround(Math.fround(column[mid - 1] + column[mid]) * 0.5)
  }
  return out
}

/**
 * Trimmed mean (SPEC.md 8.3): per coordinate, sort, drop k = floor(trimFraction * n) values
 * at each end, sum the rest in ascending order and divide by n - 2k.
 */
export function trimmedMean(inputs: readonly Float32Array[], trimFraction: number): Float32Array {
  const n = inputs.length
  const k = trimCount(n, trimFraction)
  const kept = n - 2 * k
  const length = inputs[0].length
  const out = new Float32Array(length)
  if (n <= MAX_NETWORK_INPUTS) {
    trimmedMeanKernel(n, k)(inputs, out)
    return out
  }
  const column = new Float32Array(n)
  for (let i = 0; i < length; i++) {
    for (let j = 0; j < n; j++) column[j] = inputs[j][i]
    insertionSort(column)
    let sum = 0
    for (let j = k; j < n - k; j++) sum = Math.fround(sum + column[j])
    out[i] = Math.fround(sum / kept)
  }
  return out
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
