// Per-coordinate order statistics with an unrolled sorting network (Batcher's odd-even merge
// sort). For the small n of aggregation (a few to a few dozen peers) this is several times faster
// than sorting each column: the values stay in registers and there are no branches to mispredict.
// Compare-exchange uses Math.min / Math.max, whose order puts -0 before +0, so the sorted column is
// exactly the total order SPEC.md 8 prescribes. Kernels are generated once per (n, statistic).

/** Comparators of Batcher's odd-even merge sort for `n` wires (padded to a power of two). */
export function oddEvenMergeNetwork(n: number): Array<[number, number]> {
  let p = 1
  while (p < n) p *= 2
  const pairs: Array<[number, number]> = []
  for (let size = 1; size < p; size *= 2) {
    for (let k = size; k >= 1; k = Math.floor(k / 2)) {
      for (let j = k % size; j + k < p; j += 2 * k) {
        for (let i = 0; i < Math.min(k, p - j - k); i++) {
          const a = i + j
          const b = i + j + k
          if (Math.floor(a / (2 * size)) === Math.floor(b / (2 * size))) pairs.push([a, b])
        }
      }
    }
  }
  // Wires n..p-1 would hold +Infinity: a comparator touching them never moves a real value.
  return pairs.filter(([a, b]) => a < n && b < n)
}

type Kernel = (inputs: readonly Float32Array[], out: Float32Array) => void

const cache = new Map<string, Kernel>()

function compile(n: number, statistic: string, body: (v: (i: number) => string) => string): Kernel {
  const key = `${n}/${statistic}`
  const cached = cache.get(key)
  if (cached) return cached
  const lines: string[] = []
  for (let j = 0; j < n; j++) lines.push(`const x${j} = inputs[${j}];`)
  lines.push('const length = out.length;', 'const fround = Math.fround, min = Math.min, max = Math.max;')
  lines.push('for (let i = 0; i < length; i++) {')
  for (let j = 0; j < n; j++) lines.push(`let v${j} = x${j}[i];`)
  for (const [a, b] of oddEvenMergeNetwork(n))
    lines.push(`{ const t = min(v${a}, v${b}); v${b} = max(v${a}, v${b}); v${a} = t; }`)
  lines.push(
    body((i) => `v${i}`),
    '}',
  )
  // n, k and the statistic are integers and fixed strings chosen by this module, never input.
  const kernel = new Function('inputs', 'out', lines.join('\n')) as Kernel
  cache.set(key, kernel)
  return kernel
}

/** Sorting networks are unrolled up to this many inputs; beyond it the caller sorts columns. */
export const MAX_NETWORK_INPUTS = 64

/** Coordinate-wise median (SPEC.md 8.2). */
export function medianKernel(n: number): Kernel {
  const mid = n >> 1
  return compile(n, 'median', (v) =>
    n % 2 === 1 ? `out[i] = ${v(mid)};` : `out[i] = fround(fround(${v(mid - 1)} + ${v(mid)}) * 0.5);`,
  )
}

/** Trimmed mean dropping k values at each end (SPEC.md 8.3): ascending binary32 sum, then divide. */
export function trimmedMeanKernel(n: number, k: number): Kernel {
  return compile(n, `trim${k}`, (v) => {
    const terms: string[] = ['let s = 0;']
    for (let j = k; j < n - k; j++) terms.push(`s = fround(s + ${v(j)});`)
    terms.push(`out[i] = fround(s / ${n - 2 * k});`)
    return terms.join('\n')
  })
}
