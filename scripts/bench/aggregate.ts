// Aggregation benchmark (issue: Byzantine-robust aggregation). Times coordinate median and trimmed
// mean over n inputs of d parameters, and numpy's np.median(axis=0) and a numpy trimmed mean on the
// same bytes in the same run (python3 with numpy; reported as null when absent), with the ratios.
// Usage: npm run bench:aggregate [-- --n 16] [-- --d 10000000] [-- --json]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { coordinateMedian, trimCount, trimmedMean } from '../../src/aggregate/rules.js'
import { timeMedian, xorshift } from './measure.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const n = option('--n', 16)
const d = option('--d', 10_000_000)
const json = args.includes('--json')
const trimFraction = 0.2
const repeats = 3

const uniform = xorshift(0x2545f491)
const next = () => uniform() - 0.5
const inputs = Array.from({ length: n }, () =>
  Float32Array.from({ length: d }, () => (next() + next() + next()) * 1e-3),
)

const time = (fn: () => Float32Array) => {
  const { seconds, value } = timeMedian(fn, repeats)
  return { seconds, out: value }
}

const med = time(() => coordinateMedian(inputs))
const trim = time(() => trimmedMean(inputs, trimFraction))

// numpy on the same bytes: one file, rows = inputs.
let numpyMedianSeconds: number | null = null
let numpyTrimmedMeanSeconds: number | null = null
let maxAbsDiffMedian: number | null = null
const probe = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' })
if (probe.status === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-bench-'))
  try {
    const file = join(dir, 'inputs.f32')
    const all = new Float32Array(n * d)
    for (const [j, x] of inputs.entries()) all.set(x, j * d)
    writeFileSync(file, new Uint8Array(all.buffer))
    const k = trimCount(n, trimFraction)
    const script = `
import numpy as np, time, sys
x = np.fromfile(sys.argv[1], dtype=np.float32).reshape(${n}, ${d})
def best(f):
    ts = []
    for _ in range(${repeats}):
        t = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2], r
tm, m = best(lambda: np.median(x, axis=0))
tt, _ = best(lambda: np.sort(x, axis=0)[${k}:${n - k}].mean(axis=0, dtype=np.float32))
m.astype(np.float32).tofile(sys.argv[1] + '.median')
print(tm, tt)
`
    const run = spawnSync('python3', ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 20 })
    if (run.status === 0) {
      const [tm, tt] = run.stdout.trim().split(/\s+/).map(Number)
      numpyMedianSeconds = tm
      numpyTrimmedMeanSeconds = tt
      const { readFileSync } = await import('node:fs')
      const theirs = new Float32Array(new Uint8Array(readFileSync(`${file}.median`)).buffer)
      maxAbsDiffMedian = 0
      for (let i = 0; i < d; i++)
        maxAbsDiffMedian = Math.max(maxAbsDiffMedian, Math.abs(theirs[i] - med.out[i]))
    } else console.log(`numpy run failed: ${run.stderr.split('\n').slice(-3).join(' ')}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
} else console.log('numpy not available (python3 -c "import numpy" failed): numpy figures skipped')

console.log(
  `aggregation, n = ${n} inputs, d = ${d.toLocaleString('en')} parameters, median of ${repeats} runs`,
)
console.log(
  `coordinate median   dtrain ${med.seconds.toFixed(3)} s` +
    (numpyMedianSeconds === null
      ? ''
      : `   numpy ${numpyMedianSeconds.toFixed(3)} s   ratio ${(med.seconds / numpyMedianSeconds).toFixed(2)}x`),
)
console.log(
  `trimmed mean (0.2)  dtrain ${trim.seconds.toFixed(3)} s` +
    (numpyTrimmedMeanSeconds === null
      ? ''
      : `   numpy ${numpyTrimmedMeanSeconds.toFixed(3)} s   ratio ${(trim.seconds / numpyTrimmedMeanSeconds).toFixed(2)}x`),
)
if (maxAbsDiffMedian !== null) console.log(`largest |dtrain - numpy| median difference: ${maxAbsDiffMedian}`)
if (json) {
  console.log(
    JSON.stringify({
      medianSeconds: med.seconds,
      numpyMedianSeconds,
      trimmedMeanSeconds: trim.seconds,
      numpyTrimmedMeanSeconds,
      n,
      d,
      medianRatio: numpyMedianSeconds === null ? null : med.seconds / numpyMedianSeconds,
      maxAbsDiffMedian,
    }),
  )
}
