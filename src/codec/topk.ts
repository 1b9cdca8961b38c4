// Top-k selection (SPEC.md 6.6): the k coordinates of largest magnitude, ties broken by the lower
// index, returned in ascending index order. Deterministic, so every implementation picks the same set.

/** k for a delta of `count` parameters: max(1, floor(count * fraction)) (SPEC.md 6.6). */
export function topkCount(count: number, fraction: number): number {
  if (!(fraction > 0 && fraction <= 1))
    throw new RangeError(`topkFraction must be in (0, 1] (got ${fraction})`)
  return Math.min(count, Math.max(1, Math.floor(count * fraction)))
}

export function selectTopK(values: Float32Array, k: number): Uint32Array {
  const n = values.length
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i)
  const magnitudes = new Float32Array(n)
  for (let i = 0; i < n; i++) magnitudes[i] = Math.abs(values[i])
  const threshold = kthLargest(new Float32Array(magnitudes), k)
  const out = new Uint32Array(k)
  let above = 0
  for (let i = 0; i < n; i++) if (magnitudes[i] > threshold) above++
  let atThreshold = k - above
  let j = 0
  for (let i = 0; i < n && j < k; i++) {
    const m = magnitudes[i]
    if (m > threshold) out[j++] = i
    else if (m === threshold && atThreshold > 0) {
      out[j++] = i
      atThreshold--
    }
  }
  return out
}

/** The k-th largest value (1-based) by iterative quickselect; reorders `a`. */
function kthLargest(a: Float32Array, k: number): number {
  let left = 0
  let right = a.length - 1
  const target = k - 1
  while (left < right) {
    const pivot = a[(left + right) >>> 1]
    let i = left
    let j = right
    while (i <= j) {
      while (a[i] > pivot) i++
      while (a[j] < pivot) j--
      if (i <= j) {
        const t = a[i]
        a[i] = a[j]
        a[j] = t
        i++
        j--
      }
    }
    if (target <= j) right = j
    else if (target >= i) left = i
    else return a[target]
  }
  return a[target]
}
