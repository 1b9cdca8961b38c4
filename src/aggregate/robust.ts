// Byzantine-robust aggregation rules beyond median and trimmed mean (SPEC.md 8.4-8.8). Pure
// functions over Float32Array. Inputs arrive in canonical order (SPEC.md 8.0); distances, norms
// and weights are accumulated in binary64 in index order (deterministic IEEE arithmetic, no FMA in
// JavaScript), and every output vector is rounded to binary32 once per coordinate.
import { DOMAINS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'

/** Squared L2 distance in binary64, summed in index order. */
export function squaredDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i]
    sum += d * d
  }
  return sum
}

function pairwiseSquaredDistances(inputs: readonly Float32Array[]): Float64Array[] {
  const n = inputs.length
  const out = Array.from({ length: n }, () => new Float64Array(n))
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = squaredDistance(inputs[i], inputs[j])
      out[i][j] = d
      out[j][i] = d
    }
  }
  return out
}

/** binary64 mean of selected inputs, rounded to binary32 per coordinate. */
function meanOf(inputs: readonly Float32Array[], selected: readonly number[]): Float32Array {
  const length = inputs[0].length
  const acc = new Float64Array(length)
  for (const j of selected) {
    const x = inputs[j]
    for (let i = 0; i < length; i++) acc[i] += x[i]
  }
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) out[i] = acc[i] / selected.length
  return out
}

/**
 * Krum scores (Blanchard et al. 2017): for each input, the sum of its squared distances to its
 * n - f - 2 nearest other inputs.
 */
export function krumScores(inputs: readonly Float32Array[], f: number): Float64Array {
  const n = inputs.length
  const distances = pairwiseSquaredDistances(inputs)
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

/** Krum: the input with the lowest score (SPEC.md 8.4). */
export function krum(inputs: readonly Float32Array[], f: number): Float32Array {
  return Float32Array.from(inputs[byScore(krumScores(inputs, f))[0]])
}

/** Multi-Krum: the binary64 mean of the m inputs with the lowest scores (SPEC.md 8.4). */
export function multiKrum(inputs: readonly Float32Array[], f: number, m: number): Float32Array {
  const chosen = byScore(krumScores(inputs, f))
    .slice(0, m)
    .sort((a, b) => a - b)
  return meanOf(inputs, chosen)
}

export interface GeometricMedianOptions {
  iterations: number
  /** smoothing: distances below nu count as nu (Pillutla et al. 2022, RFA) */
  nu: number
  /** stop when the step is at most tolerance * (norm of the estimate) */
  tolerance: number
}

/** Geometric median by Weiszfeld iterations from the mean (SPEC.md 8.5). */
export function geometricMedian(
  inputs: readonly Float32Array[],
  options: GeometricMedianOptions,
): Float32Array {
  const n = inputs.length
  let z = meanOf(
    inputs,
    inputs.map((_, j) => j),
  )
  for (let t = 0; t < options.iterations; t++) {
    const weights = new Float64Array(n)
    let total = 0
    for (let j = 0; j < n; j++) {
      weights[j] = 1 / Math.max(options.nu, Math.sqrt(squaredDistance(inputs[j], z)))
      total += weights[j]
    }
    const acc = new Float64Array(z.length)
    for (let j = 0; j < n; j++) {
      const x = inputs[j]
      const w = weights[j]
      for (let i = 0; i < acc.length; i++) acc[i] += w * x[i]
    }
    const next = new Float32Array(z.length)
    for (let i = 0; i < acc.length; i++) next[i] = acc[i] / total
    const step = Math.sqrt(squaredDistance(next, z))
    const norm = Math.sqrt(squaredDistance(next, new Float32Array(next.length)))
    z = next
    if (step <= options.tolerance * norm) break
  }
  return z
}

/**
 * Centered clipping (Karimireddy et al. 2021): from a reference point v (the previous round's
 * aggregate), `iterations` times v <- v + (1/n) sum_j clip_tau(x_j - v), with
 * clip_tau(u) = u * min(1, tau / ||u||) (SPEC.md 8.6).
 */
export function centeredClipping(
  inputs: readonly Float32Array[],
  tau: number | 'auto',
  iterations: number,
  reference: Float32Array,
): Float32Array {
  const n = inputs.length
  let v = Float32Array.from(reference)
  for (let l = 0; l < iterations; l++) {
    const acc = new Float64Array(v.length)
    const norms = inputs.map((x) => Math.sqrt(squaredDistance(x, v)))
    // 'auto': the lower median of the distances to v, so the closer half is never clipped and
    // inputs far from the rest weigh at most as much as a typical one.
    const radius = tau === 'auto' ? [...norms].sort((a, b) => a - b)[(n - 1) >> 1] : tau
    for (const [j, x] of inputs.entries()) {
      const norm = norms[j]
      const scale = norm > radius ? radius / norm : 1
      for (let i = 0; i < acc.length; i++) acc[i] += (x[i] - v[i]) * scale
    }
    const next = new Float32Array(v.length)
    for (let i = 0; i < next.length; i++) next[i] = v[i] + acc[i] / n
    v = next
  }
  return v
}

/**
 * Nearest-neighbour mixing (Allouah et al. 2023): each input is replaced by the binary64 mean of its
 * n - f nearest inputs, itself included; ties to the lower index (SPEC.md 8.7).
 */
export function nearestNeighbourMixing(inputs: readonly Float32Array[], f: number): Float32Array[] {
  const n = inputs.length
  const distances = pairwiseSquaredDistances(inputs)
  return inputs.map((_, i) => {
    const nearest = [...distances[i].keys()]
      .sort((a, b) => distances[i][a] - distances[i][b] || a - b)
      .slice(0, n - f)
      .sort((a, b) => a - b)
    return meanOf(inputs, nearest)
  })
}

/**
 * Bucketing (Karimireddy et al. 2022): a permutation from HashStream(domain bucketing, seed)
 * (Fisher-Yates from the last position down), then consecutive buckets of `size` inputs, each
 * replaced by its binary64 mean (SPEC.md 8.8). Returns the bucket means in bucket order.
 */
export function bucketMeans(inputs: readonly Float32Array[], size: number, seed: Uint8Array): Float32Array[] {
  const order = [...inputs.keys()]
  const stream = new HashStream(DOMAINS.bucketing, seed)
  for (let i = order.length - 1; i > 0; i--) {
    const j = stream.nextBelow(i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const buckets: Float32Array[] = []
  for (let start = 0; start < order.length; start += size) {
    buckets.push(
      meanOf(
        inputs,
        order.slice(start, start + size).sort((a, b) => a - b),
      ),
    )
  }
  return buckets
}

/** Scales an input down to L2 norm `bound` if it is longer (SPEC.md 8.9). */
export function clipNorm(x: Float32Array, bound: number): Float32Array {
  const norm = Math.sqrt(squaredDistance(x, new Float32Array(x.length)))
  if (norm <= bound) return x
  const scale = bound / norm
  return Float32Array.from(x, (v) => v * scale)
}
