// What lossless compression would save on proof checkpoints (issue 17: "store checkpoints
// compactly where that is lossless; measure what it saves"). Reads one checkpoint file (SPEC.md
// 17.1: u64 step, u64 t, then weights, m and v as float32) and, for a sample of each of the three
// vectors, reports the share deflate (level 1, node:zlib) keeps of the plain bytes and of the bytes
// regrouped into four byte planes (all first bytes of the floats, then all second bytes, ...),
// with the rate, beside the rate this machine writes a file at.
//
// Usage: npm run bench:checkpoint-compression -- PATH/proofs/round-R/checkpoint-I [--sample-mb 64]
//        (a checkpoint of bench:model-scale with --keep, or of any node's state directory)
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateRawSync } from 'node:zlib'

const args = process.argv.slice(2)
const path = args.find((a) => !a.startsWith('--'))
if (!path) throw new Error('give the path of a checkpoint file')
const sampleIndex = args.indexOf('--sample-mb')
const sample = Number(sampleIndex >= 0 ? args[sampleIndex + 1] : 64) * 2 ** 20
const bytes = readFileSync(path)
const d = (bytes.length - 16) / 12
if (!Number.isInteger(d)) throw new Error(`${path} is not a checkpoint: ${bytes.length} bytes`)

const planes = (b: Uint8Array): Uint8Array => {
  const n = b.length / 4
  const out = new Uint8Array(b.length)
  for (let i = 0; i < n; i++) for (let k = 0; k < 4; k++) out[k * n + i] = b[4 * i + k]
  return out
}
const rate = (fn: () => number, size: number): { kept: number; mbPerSecond: number } => {
  const started = performance.now()
  const out = fn()
  return { kept: out / size, mbPerSecond: size / 1e6 / ((performance.now() - started) / 1000) }
}

const rows: Array<{ part: string; layout: string; kept: number; mbPerSecond: number }> = []
for (const [part, index] of [
  ['weights', 0],
  ['m', 1],
  ['v', 2],
] as const) {
  const start = 16 + 4 * d * index
  const piece = bytes.subarray(start, start + Math.min(sample, 4 * d))
  rows.push({
    part,
    layout: 'plain',
    ...rate(() => deflateRawSync(piece, { level: 1 }).length, piece.length),
  })
  rows.push({
    part,
    layout: 'byte planes',
    ...rate(() => deflateRawSync(planes(piece), { level: 1 }).length, piece.length),
  })
}
const probe = join(tmpdir(), `dtrain-write-probe-${process.pid}`)
const written = bytes.subarray(0, Math.min(bytes.length, 256 * 2 ** 20))
const started = performance.now()
writeFileSync(probe, written, { flush: true })
const writeMBps = written.length / 1e6 / ((performance.now() - started) / 1000)
rmSync(probe, { force: true })

for (const r of rows)
  process.stdout.write(
    `${r.part.padEnd(8)} ${r.layout.padEnd(12)} deflate level 1 keeps ${(100 * r.kept).toFixed(1)} % at ${r.mbPerSecond.toFixed(0)} MB/s\n`,
  )
process.stdout.write(`writing the file (fsynced): ${writeMBps.toFixed(0)} MB/s\n`)
process.stdout.write(`${JSON.stringify({ parameters: d, sampleBytes: sample, rows, writeMBps })}\n`)
