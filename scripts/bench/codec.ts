// Delta codec benchmark (issue: protocol to byte level). For a 10 M-parameter delta it prints,
// per encoding: encoded size, compression ratio against fp32, relative L2 reconstruction error,
// encode and decode throughput (MB/s of float32 input), and, in the same run, SHA-256 throughput of
// node:crypto beside @noble/hashes and the Merkle root (SHA-256 over 256 KiB chunks).
// Usage: npm run bench:codec [-- --params N] [-- --json]
import { decodeDelta, type EncodeOptions, encodeDelta } from '../../src/codec/delta.js'
import { topkCount } from '../../src/codec/topk.js'
import { LIMITS } from '../../src/constants.js'
import { sha256, sha256Portable } from '../../src/crypto/hash.js'
import { MerkleTree } from '../../src/crypto/merkle.js'
import { timeMedian, xorshift } from './measure.js'

const args = process.argv.slice(2)
const json = args.includes('--json')
const paramsIndex = args.indexOf('--params')
const count = paramsIndex >= 0 ? Number(args[paramsIndex + 1]) : 10_000_000
const repeats = 3

/** A delta shaped like a real one: roughly Gaussian, scale 1e-3, with some larger coordinates. */
function syntheticDelta(n: number): Float32Array {
  const next = xorshift(0x9e3779b9)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const gaussian = next() + next() + next() + next() - 2
    out[i] = gaussian * 1e-3 * (next() < 0.01 ? 10 : 1)
  }
  return out
}

const time = <T>(fn: () => T) => timeMedian(fn, repeats)

const delta = syntheticDelta(count)
const inputMB = (count * 4) / 1e6
let norm = 0
for (let i = 0; i < count; i++) norm += delta[i] * delta[i]
norm = Math.sqrt(norm)

const encodings: EncodeOptions[] = [
  { encoding: 'fp32' },
  { encoding: 'fp16' },
  { encoding: 'int8-block', blockSize: 256 },
  { encoding: 'int4-block', blockSize: 256 },
  { encoding: 'top-k', k: topkCount(count, 0.01) },
]
const rows: Array<Record<string, number | string>> = []
let fp32Size = 0
for (const options of encodings) {
  const encoded = time(() => encodeDelta(delta, options))
  const decoded = time(() => decodeDelta(encoded.value, count))
  let err = 0
  for (let i = 0; i < count; i++) err += (decoded.value.values[i] - delta[i]) ** 2
  if (options.encoding === 'fp32') fp32Size = encoded.value.length
  rows.push({
    encoding: options.encoding + (options.k ? ` (k = 1 %)` : ''),
    bytes: encoded.value.length,
    bytesPerParam: encoded.value.length / count,
    ratioVsFp32: fp32Size / encoded.value.length,
    relL2Error: Math.sqrt(err) / norm,
    encodeMBps: inputMB / encoded.seconds,
    decodeMBps: inputMB / decoded.seconds,
  })
}

const bytes = encodeDelta(delta, { encoding: 'fp32' })
const bytesMB = bytes.length / 1e6
const nativeHash = time(() => sha256(bytes))
const nobleHash = time(() => sha256Portable(bytes))
const merkle = time(() => MerkleTree.fromBytes(bytes, LIMITS.chunkBytes))
const hashing = {
  bytes: bytes.length,
  sha256NodeCryptoMBps: bytesMB / nativeHash.seconds,
  sha256NobleMBps: bytesMB / nobleHash.seconds,
  merkleRootMBps: bytesMB / merkle.seconds,
  nobleVsNative: nativeHash.seconds / nobleHash.seconds,
}

const f = (x: number, digits = 1) => x.toFixed(digits).padStart(10)
console.log(
  `delta codecs, ${count.toLocaleString('en')} parameters (${inputMB.toFixed(0)} MB as float32), median of ${repeats} runs`,
)
console.log(
  `${'encoding'.padEnd(16)}${'bytes'.padStart(12)}${'B/param'.padStart(10)}${'x fp32'.padStart(10)}${'rel L2 err'.padStart(12)}${'enc MB/s'.padStart(10)}${'dec MB/s'.padStart(10)}`,
)
for (const r of rows) {
  console.log(
    `${String(r.encoding).padEnd(16)}${String(r.bytes).padStart(12)}${f(r.bytesPerParam as number, 3)}${f(r.ratioVsFp32 as number, 2)}${(r.relL2Error as number).toExponential(2).padStart(12)}${f(r.encodeMBps as number)}${f(r.decodeMBps as number)}`,
  )
}
console.log(
  `hashing ${bytesMB.toFixed(0)} MB: SHA-256 node:crypto ${hashing.sha256NodeCryptoMBps.toFixed(0)} MB/s, @noble/hashes ${hashing.sha256NobleMBps.toFixed(0)} MB/s (${hashing.nobleVsNative.toFixed(2)}x native), Merkle root over 256 KiB chunks ${hashing.merkleRootMBps.toFixed(0)} MB/s`,
)
if (json) console.log(JSON.stringify({ params: count, encodings: rows, hashing }))
