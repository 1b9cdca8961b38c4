// Block-wise streaming of aggregation inputs (SPEC.md 8.13). Every rule of SPEC.md 8 is computed
// over coordinate blocks: a coordinate-wise step (mean, median, trimmed mean, the means of NNM,
// bucketing and multi-Krum, a norm clip with a known scale) needs only the block at hand, and a
// step that needs whole-vector distances (norm bound, NNM, Krum, geometric median, centered
// clipping) accumulates them in one pass first. Every binary64 distance is one running sum per
// pair carried from block to block in index order, so the result is bit-identical to summing
// the whole vectors at once: the block size changes the memory used, never a bit of the output.
// The memory a rule needs is a few blocks per input plus its output, not n whole vectors.

/**
 * A vector read block by block: a Float32Array is one, and so is a delta decoded from its
 * encoded bytes one block at a time (codec/delta-source.ts), which never holds the whole vector.
 * `subarray` returns the values of [start, end); the aggregation only reads what it returns.
 */
export interface VectorSource {
  readonly length: number
  subarray(start: number, end: number): Float32Array
}

/** Coordinates per block: 256 KiB of binary32 per input and stage. */
export const AGGREGATION_BLOCK = 65_536

export class AggregationInputError extends Error {
  override name = 'AggregationInputError'
}

/** `count` vectors of `length` coordinates, read one block of all of them at a time. */
export interface BlockSet {
  readonly count: number
  readonly length: number
  readonly blockSize: number
  /** the `count` vectors' values in [start, end), in input order */
  read(start: number, end: number): Float32Array[]
}

/** The block ranges [start, end) of a set, in index order. */
export function* blockRanges(set: Pick<BlockSet, 'length' | 'blockSize'>): Generator<[number, number]> {
  for (let start = 0; start < set.length; start += set.blockSize)
    yield [start, Math.min(start + set.blockSize, set.length)]
}

/**
 * The inputs as a block set. Each block read is checked for NaN and infinities (SPEC.md 8.10), so
 * a source decoded from disk is checked again as it is used.
 */
export function sourceSet(sources: readonly VectorSource[], blockSize = AGGREGATION_BLOCK): BlockSet {
  if (sources.length === 0) throw new AggregationInputError('nothing to aggregate')
  if (!Number.isInteger(blockSize) || blockSize < 1)
    throw new RangeError(`blockSize must be a positive integer (got ${blockSize})`)
  const length = sources[0].length
  for (const s of sources) {
    if (s.length !== length)
      throw new AggregationInputError(`contributions differ in length (${s.length} != ${length})`)
  }
  return {
    count: sources.length,
    length,
    blockSize,
    read: (start, end) =>
      sources.map((source) => {
        const block = source.subarray(start, end)
        for (let i = 0; i < block.length; i++) {
          if (!Number.isFinite(block[i]))
            throw new AggregationInputError(`an input holds ${block[i]} at index ${start + i}`)
        }
        return block
      }),
  }
}

/** A block set as it is, or whole vectors (sources) as one. */
export function asBlocks(inputs: BlockSet | readonly VectorSource[]): BlockSet {
  return 'read' in inputs ? inputs : sourceSet(inputs)
}

/** The whole vectors of a set (tests and small inputs; a node never materializes its inputs). */
export function materialize(set: BlockSet): Float32Array[] {
  const out = Array.from({ length: set.count }, () => new Float32Array(set.length))
  for (const [start, end] of blockRanges(set)) {
    const blocks = set.read(start, end)
    for (let j = 0; j < blocks.length; j++) out[j].set(blocks[j], start)
  }
  return out
}

/**
 * Adds the squared distances of one block to running binary64 sums, in index order:
 * `sums[j] += sum_i (a_j[i] - b[i])^2` (b = zeros when absent).
 */
export function addSquaredDistances(
  sums: Float64Array,
  blocks: readonly Float32Array[],
  b?: Float32Array,
): void {
  for (let j = 0; j < blocks.length; j++) {
    const a = blocks[j]
    let sum = sums[j]
    if (b === undefined) for (let i = 0; i < a.length; i++) sum += a[i] * a[i]
    else
      for (let i = 0; i < a.length; i++) {
        const d = a[i] - b[i]
        sum += d * d
      }
    sums[j] = sum
  }
}

/** Squared L2 norms of the set's vectors, binary64, summed in index order (one pass). */
export function squaredNorms(set: BlockSet): Float64Array {
  const sums = new Float64Array(set.count)
  for (const [start, end] of blockRanges(set)) addSquaredDistances(sums, set.read(start, end))
  return sums
}

/**
 * The n x n squared L2 distances of the set's vectors, binary64, each pair summed in index order,
 * accumulated in one pass over the blocks (SPEC.md 8.4, 8.7).
 */
export function pairwiseSquaredDistances(set: BlockSet): Float64Array[] {
  const out = Array.from({ length: set.count }, () => new Float64Array(set.count))
  for (const [start, end] of blockRanges(set)) addPairwiseSquaredDistances(out, set.read(start, end))
  return mirrored(out)
}

/**
 * Adds one block's squared distances of every pair i < j to the running binary64 sums `out[i][j]`,
 * in index order (the upper triangle: `mirrored` fills the rest once every block is added).
 */
export function addPairwiseSquaredDistances(out: Float64Array[], xs: readonly Float32Array[]): void {
  const n = xs.length
  for (let i = 0; i < n; i++) {
    const a = xs[i]
    const row = out[i]
    for (let j = i + 1; j < n; j++) {
      const b = xs[j]
      let sum = row[j]
      for (let k = 0; k < a.length; k++) {
        const d = a[k] - b[k]
        sum += d * d
      }
      row[j] = sum
    }
  }
}

/** The square matrix with its upper triangle copied below the diagonal. */
export function mirrored(out: Float64Array[]): Float64Array[] {
  for (let i = 0; i < out.length; i++) for (let j = i + 1; j < out.length; j++) out[j][i] = out[i][j]
  return out
}

/** binary64 mean of the selected blocks (in the order given), rounded to binary32 (SPEC.md 8.11). */
export function meanOfBlocks(
  blocks: readonly Float32Array[],
  selected: readonly number[],
  out: Float32Array = new Float32Array(blocks[0].length),
): Float32Array {
  const acc = new Float64Array(out.length)
  for (const j of selected) {
    const x = blocks[j]
    for (let i = 0; i < acc.length; i++) acc[i] += x[i]
  }
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] / selected.length
  return out
}

/** A set whose vector j is the mean (SPEC.md 8.11) of the inner set's vectors `groups[j]`. */
export function groupMeans(inner: BlockSet, groups: readonly (readonly number[])[]): BlockSet {
  return {
    count: groups.length,
    length: inner.length,
    blockSize: inner.blockSize,
    read: (start, end) => {
      const xs = inner.read(start, end)
      return groups.map((group) => meanOfBlocks(xs, group))
    },
  }
}

/** Writes fn(blocks, start, end) into a fresh output vector, block by block. */
export function mapBlocks(
  set: BlockSet,
  fn: (blocks: Float32Array[], out: Float32Array, start: number) => void,
): Float32Array {
  const out = new Float32Array(set.length)
  for (const [start, end] of blockRanges(set)) fn(set.read(start, end), out.subarray(start, end), start)
  return out
}
