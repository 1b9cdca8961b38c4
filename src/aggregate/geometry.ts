// The inputs' geometry in a sharded exchange (SPEC.md 18.9): what the rules that read whole-vector
// quantities (norms, distances, distances to a moving point) need, derived from the summed partials
// every node holds (18.8) instead of from the whole vectors, which no aggregator has. A point the
// rules make (a mixed input, a bucket mean, a clipped input, a geometric median's estimate, a
// clipping iterate) is a combination of the inputs, `anchor + sum_j c_j (x_j - anchor)`; its
// squared distances follow from the Gram matrix of the inputs about the anchor, and its coordinates
// are computed, shard by shard, once its coefficients are known. The iterations of geometric median
// and centered clipping therefore run on coefficients (n numbers), and only the final combination
// touches coordinates. Pure functions; every sum is binary64 in index order.
import { type BlockSet, mapBlocks } from './blocks.js'
import { clippingScales, type GeometricMedianOptions } from './robust.js'

/**
 * Squared distances between the inputs (n x n, zero diagonal) and from each input to the anchor
 * (n): the sums of every shard's partials (18.8).
 */
export interface Geometry {
  distances: Float64Array[]
  anchor: Float64Array
}

/** The Gram matrix about the anchor: G_ij = (A_i + A_j - D_ij) / 2. */
export function gramOf(geometry: Geometry): Float64Array[] {
  const { distances, anchor } = geometry
  return distances.map((row, i) => Float64Array.from(row, (d, j) => (anchor[i] + anchor[j] - d) / 2))
}

/** (G u)_i = sum_j G_ij u_j, in index order. */
function times(gram: readonly Float64Array[], u: Float64Array): Float64Array {
  return Float64Array.from(gram, (row) => {
    let sum = 0
    for (let j = 0; j < row.length; j++) sum += row[j] * u[j]
    return sum
  })
}

/** u . v, in index order. */
function dot(u: Float64Array, v: Float64Array): number {
  let sum = 0
  for (let i = 0; i < u.length; i++) sum += u[i] * v[i]
  return sum
}

/** The squared length about the anchor of the combination with coefficients u: max(0, u . G u). */
export function squaredLength(gram: readonly Float64Array[], u: Float64Array): number {
  return Math.max(0, dot(u, times(gram, u)))
}

/**
 * The geometry of the points whose coefficients are `rows` (each over the inputs, about the
 * anchor): G' = R G R^T, A'_a = max(0, G'_aa), D'_ab = max(0, G'_aa + G'_bb - 2 G'_ab) off the
 * diagonal.
 */
export function combined(geometry: Geometry, rows: readonly Float64Array[]): Geometry {
  const gram = gramOf(geometry)
  const products = rows.map((row) => times(gram, row))
  const g = rows.map((row) => Float64Array.from(products, (p) => dot(row, p)))
  const anchor = Float64Array.from(g, (row, a) => Math.max(0, row[a]))
  const distances = g.map((row, a) =>
    Float64Array.from(row, (gab, b) => (a === b ? 0 : Math.max(0, g[a][a] + g[b][b] - 2 * gab))),
  )
  return { distances, anchor }
}

/** The coefficients of a mean of the inputs `members` (each 1 / its count). */
export function meanRow(n: number, members: readonly number[]): Float64Array {
  const row = new Float64Array(n)
  for (const j of members) row[j] = 1 / members.length
  return row
}

/** The coefficients of input j scaled by s. */
export function scaledRow(n: number, j: number, s: number): Float64Array {
  const row = new Float64Array(n)
  row[j] = s
  return row
}

/**
 * Weiszfeld's geometric median (SPEC.md 8.5) on coefficients, the anchor the origin: from the
 * mean (a_j = 1 / n); at most `iterations` times w_j = 1 / max(nu, ||z - x_j||), a'_j = w_j / sum
 * w, stopping after the iteration where ||z' - z|| <= tolerance ||z'||. The distances are those of
 * the combinations: ||z - x_j||^2 = max(0, a.Ga - 2 (Ga)_j + G_jj).
 */
export function geometricMedianCoefficients(
  geometry: Geometry,
  options: GeometricMedianOptions,
): Float64Array {
  const gram = gramOf(geometry)
  const n = gram.length
  let a = new Float64Array(n).fill(1 / n)
  for (let t = 0; t < options.iterations; t++) {
    const ga = times(gram, a)
    const q = dot(a, ga)
    const weights = Float64Array.from(
      ga,
      (gaj, j) => 1 / Math.max(options.nu, Math.sqrt(Math.max(0, q - 2 * gaj + gram[j][j]))),
    )
    let total = 0
    for (const w of weights) total += w
    const next = Float64Array.from(weights, (w) => w / total)
    const step = squaredLength(
      gram,
      Float64Array.from(next, (v, j) => v - a[j]),
    )
    const norm = squaredLength(gram, next)
    a = next
    if (Math.sqrt(step) <= options.tolerance * Math.sqrt(norm)) break
  }
  return a
}

/**
 * Centered clipping (SPEC.md 8.6) on coefficients, the anchor the reference v_0: v = v_0 +
 * sum_j c_j (x_j - v_0) from c = 0; `iterations` times, with d_j = ||x_j - v|| (d_j^2 = max(0,
 * G_jj - 2 (Gc)_j + c.Gc)), the radius tau (or the lower median of the d_j), s_j = radius / d_j
 * where d_j > radius and 1 otherwise, S = sum s_j: c'_j = c_j + (s_j - S c_j) / n.
 */
export function centeredClippingCoefficients(
  geometry: Geometry,
  tau: number | 'auto',
  iterations: number,
): Float64Array {
  const gram = gramOf(geometry)
  const n = gram.length
  let c = new Float64Array(n)
  for (let l = 0; l < iterations; l++) {
    const gc = times(gram, c)
    const q = dot(c, gc)
    const scales = clippingScales(
      Array.from(gc, (gcj, j) => Math.sqrt(Math.max(0, gram[j][j] - 2 * gcj + q))),
      tau,
    )
    let total = 0
    for (const s of scales) total += s
    c = Float64Array.from(c, (cj, j) => cj + (scales[j] - total * cj) / n)
  }
  return c
}

/**
 * The coordinates of a combination of the set's vectors: out_i = fl32(anchor_i + sum_j c_j
 * (x_ji - anchor_i)), the sum in binary64 in index order (the anchor zero: fl32(sum_j c_j x_ji)).
 * `anchor`: its coordinates over the set's, or undefined for the origin.
 */
export function combination(set: BlockSet, coefficients: Float64Array, anchor?: Float32Array): Float32Array {
  return mapBlocks(set, (xs, out, start) => {
    for (let i = 0; i < out.length; i++) {
      const v = anchor === undefined ? 0 : anchor[start + i]
      let sum = 0
      for (let j = 0; j < xs.length; j++) sum += coefficients[j] * (xs[j][i] - v)
      out[i] = v + sum
    }
  })
}
