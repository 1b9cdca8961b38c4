// Byzantine-robust aggregation rules beyond median and trimmed mean (SPEC.md 8.4-8.9). Pure
// functions over block sets (blocks.ts): inputs arrive in canonical order (SPEC.md 8.0); distances,
// norms and weights are accumulated in binary64 in index order (deterministic IEEE arithmetic, no
// FMA in JavaScript), carried from block to block, and every output vector is rounded to binary32
// once per coordinate. Pre-steps (norm bound, NNM, bucketing) return block sets computed lazily
// block by block, so no stage ever holds n whole vectors.
import { DOMAINS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'
import {
  addSquaredDistances,
  asBlocks,
  type BlockSet,
  blockRanges,
  groupMeans,
  mapBlocks,
  meanOfBlocks,
  pairwiseSquaredDistances,
  squaredNorms,
  type VectorSource,
} from './blocks.js'

type Inputs = BlockSet | readonly VectorSource[]

/** Squared L2 distance of two whole vectors in binary64, summed in index order. */
export function squaredDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i]
    sum += d * d
  }
  return sum
}

/**
 * Krum scores (Blanchard et al. 2017) from the pairwise squared distances: for each input, the sum
 * of its squared distances to its n - f - 2 nearest other inputs.
 */
export function krumScores(distances: readonly Float64Array[], f: number): Float64Array {
  const n = distances.length
  const neighbours = n - f - 2
  const scores = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const others = [...distances[i]].filter((_, j) => j !== i).sort((a, b) => a - b)
    let score = 0
    for (let k = 0; k < neighbours; k++) score += others[k]
    scores[i] = score
  }
  return scores
}

/** Indices ordered by score, ties to the lower (canonical) index. */
function byScore(scores: Float64Array): number[] {
  return [...scores.keys()].sort((a, b) => scores[a] - scores[b] || a - b)
}

/**
 * Krum: the input with the lowest score (SPEC.md 8.4). `distances`: the inputs' pairwise squared
 * distances when known already (a shard of the coordinates is aggregated with the whole vectors'
 * distances, aggregate/shards.ts); computed from the inputs otherwise.
 */
export function krum(inputs: Inputs, f: number, distances?: readonly Float64Array[]): Float32Array {
  const set = asBlocks(inputs)
  const chosen = byScore(krumScores(distances ?? pairwiseSquaredDistances(set), f))[0]
  return mapBlocks(set, (xs, out) => out.set(xs[chosen]))
}

/** Multi-Krum: the binary64 mean of the m inputs with the lowest scores (SPEC.md 8.4). */
export function multiKrum(
  inputs: Inputs,
  f: number,
  m: number,
  distances?: readonly Float64Array[],
): Float32Array {
  const set = asBlocks(inputs)
  const chosen = byScore(krumScores(distances ?? pairwiseSquaredDistances(set), f))
    .slice(0, m)
    .sort((a, b) => a - b)
  return mapBlocks(set, (xs, out) => meanOfBlocks(xs, chosen, out))
}

export interface GeometricMedianOptions {
  iterations: number
  /** smoothing: distances below nu count as nu (Pillutla et al. 2022, RFA) */
  nu: number
  /** stop when the step is at most tolerance * (norm of the estimate) */
  tolerance: number
}

/**
 * Geometric median by Weiszfeld iterations from the mean (SPEC.md 8.5). One pass per iteration:
 * the pass that computes the next estimate also accumulates the inputs' distances to it, which the
 * following iteration's weights need. Holds two vectors (the estimate and the next one).
 */
export function geometricMedian(inputs: Inputs, options: GeometricMedianOptions): Float32Array {
  const set = asBlocks(inputs)
  const n = set.count
  const all = Array.from({ length: n }, (_, j) => j)
  let z = new Float32Array(set.length)
  let distances = new Float64Array(n)
  for (const [start, end] of blockRanges(set)) {
    const xs = set.read(start, end)
    addSquaredDistances(distances, xs, meanOfBlocks(xs, all, z.subarray(start, end)))
  }
  let next = new Float32Array(set.length)
  for (let t = 0; t < options.iterations; t++) {
    const weights = new Float64Array(n)
    let total = 0
    for (let j = 0; j < n; j++) {
      weights[j] = 1 / Math.max(options.nu, Math.sqrt(distances[j]))
      total += weights[j]
    }
    const toNext = new Float64Array(n)
    let step = 0
    let norm = 0
    for (const [start, end] of blockRanges(set)) {
      const xs = set.read(start, end)
      const acc = new Float64Array(end - start)
      for (let j = 0; j < n; j++) {
        const x = xs[j]
        const w = weights[j]
        for (let i = 0; i < acc.length; i++) acc[i] += w * x[i]
      }
      const nextBlock = next.subarray(start, end)
      const zBlock = z.subarray(start, end)
      for (let i = 0; i < acc.length; i++) {
        nextBlock[i] = acc[i] / total
        const d = nextBlock[i] - zBlock[i]
        step += d * d
        norm += nextBlock[i] * nextBlock[i]
      }
      addSquaredDistances(toNext, xs, nextBlock)
    }
    ;[z, next] = [next, z]
    distances = toNext
    if (Math.sqrt(step) <= options.tolerance * Math.sqrt(norm)) break
  }
  return z
}

/**
 * Centered clipping (Karimireddy et al. 2021): from a reference point v (the previous round's
 * aggregate), `iterations` times v <- v + (1/n) sum_j clip_tau(x_j - v), with
 * clip_tau(u) = u * min(1, tau / ||u||) (SPEC.md 8.6). One pass per iteration, as geometricMedian.
 */
export function centeredClipping(
  inputs: Inputs,
  tau: number | 'auto',
  iterations: number,
  reference: Float32Array,
): Float32Array {
  const set = asBlocks(inputs)
  const n = set.count
  let v = Float32Array.from(reference)
  if (iterations === 0) return v
  let distances = new Float64Array(n)
  for (const [start, end] of blockRanges(set))
    addSquaredDistances(distances, set.read(start, end), v.subarray(start, end))
  let next = new Float32Array(set.length)
  for (let l = 0; l < iterations; l++) {
    const scales = clippingScales([...distances].map(Math.sqrt), tau)
    const toNext = new Float64Array(n)
    for (const [start, end] of blockRanges(set)) {
      const xs = set.read(start, end)
      const vBlock = v.subarray(start, end)
      const acc = new Float64Array(end - start)
      for (let j = 0; j < n; j++) {
        const x = xs[j]
        const scale = scales[j]
        for (let i = 0; i < acc.length; i++) acc[i] += (x[i] - vBlock[i]) * scale
      }
      const nextBlock = next.subarray(start, end)
      for (let i = 0; i < acc.length; i++) nextBlock[i] = vBlock[i] + acc[i] / n
      addSquaredDistances(toNext, xs, nextBlock)
    }
    ;[v, next] = [next, v]
    distances = toNext
  }
  return v
}

/**
 * Centered clipping's scale of each input from its distance to v (SPEC.md 8.6): radius / distance
 * where farther than the radius, else 1. The radius is tau, or with 'auto' the lower median of the
 * distances, so the closer half is never clipped and inputs far from the rest weigh at most as
 * much as a typical one.
 */
export function clippingScales(norms: readonly number[], tau: number | 'auto'): number[] {
  const radius = tau === 'auto' ? [...norms].sort((a, b) => a - b)[(norms.length - 1) >> 1] : tau
  return norms.map((norm) => (norm > radius ? radius / norm : 1))
}

/**
 * Nearest-neighbour mixing (Allouah et al. 2023): each input is replaced by the binary64 mean of its
 * n - f nearest inputs, itself included; ties to the lower index (SPEC.md 8.7). One distance pass;
 * the mixed vectors are computed block by block as they are read.
 */
export function nearestNeighbourMixing(
  inputs: Inputs,
  f: number,
  distances?: readonly Float64Array[],
): BlockSet {
  const set = asBlocks(inputs)
  return groupMeans(set, mixingGroups(distances ?? pairwiseSquaredDistances(set), f))
}

/** NNM's groups (SPEC.md 8.7): each input's n - f nearest by `distances`, ties to the lower index, ascending. */
export function mixingGroups(distances: readonly Float64Array[], f: number): number[][] {
  const n = distances.length
  return distances.map((row) =>
    [...row.keys()]
      .sort((a, b) => row[a] - row[b] || a - b)
      .slice(0, n - f)
      .sort((a, b) => a - b),
  )
}

/**
 * Bucketing (Karimireddy et al. 2022): a permutation from HashStream(domain bucketing, seed)
 * (Fisher-Yates from the last position down), then consecutive buckets of `size` inputs, each
 * replaced by its binary64 mean (SPEC.md 8.8). Returns the bucket means in bucket order.
 */
export function bucketMeans(inputs: Inputs, size: number, seed: Uint8Array): BlockSet {
  const set = asBlocks(inputs)
  return groupMeans(set, buckets(set.count, size, seed))
}

/** Bucketing's buckets of `count` inputs (SPEC.md 8.8), in bucket order, each ascending. */
export function buckets(count: number, size: number, seed: Uint8Array): number[][] {
  const order = Array.from({ length: count }, (_, j) => j)
  const stream = new HashStream(DOMAINS.bucketing, seed)
  for (let i = order.length - 1; i > 0; i--) {
    const j = stream.nextBelow(i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const out: number[][] = []
  for (let start = 0; start < order.length; start += size)
    out.push(order.slice(start, start + size).sort((a, b) => a - b))
  return out
}

/** Scales every input down to L2 norm `bound` if it is longer (SPEC.md 8.9): one norm pass. */
export function clipNorm(inputs: Inputs, bound: number): BlockSet {
  const set = asBlocks(inputs)
  return scaleInputs(set, clipScales(squaredNorms(set), bound))
}

/** The norm bound's scale of each input from its squared norm: bound / norm when longer, else none. */
export function clipScales(squaredNorms: Float64Array, bound: number): Array<number | undefined> {
  return [...squaredNorms].map((squared) => {
    const norm = Math.sqrt(squared)
    return norm <= bound ? undefined : bound / norm
  })
}

/** Each input j multiplied by scales[j] (rounded to binary32), or left as it is where none. */
export function scaleInputs(set: BlockSet, scales: ReadonlyArray<number | undefined>): BlockSet {
  return {
    ...set,
    read: (start, end) =>
      set.read(start, end).map((x, j) => {
        const scale = scales[j]
        return scale === undefined ? x : Float32Array.from(x, (v) => v * scale)
      }),
  }
}
