// Memory soak (issue 19 §3: resident memory per node grew from 522 to 645 MB over 10 rounds of
// the default preset, with no plateau in sight). Runs N real nodes in this process for R rounds
// and, after every round, collects garbage twice and records the process's resident memory, the
// JS heap in use, memory outside the heap (external, ArrayBuffers) and the bytes tfjs tensors
// hold. A leak of JavaScript objects shows as a heap that grows round after round after a full
// collection; a resident size that grows while those stay flat is the allocator (or the wasm
// backend's linear memory, which never shrinks) and not an object the node keeps.
//
// Usage: npm run bench:memory [-- --nodes 2] [-- --rounds 40] [-- --preset small] [-- --json]
//        [-- --heap]  (heap snapshots at the middle and the end: what grew in between)
//        [-- --relay-client auto|always|off]  (as dtrain start's option)
// (the script runs under node --expose-gc). Prints a table every 10 rounds, then per quantity
// the growth per round over the second half of the run (least squares) and, with --json, a last
// line of JSON.
import '../../src/polyfill.js'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeHeapSnapshot } from 'node:v8'
import { generateKeyPair } from '@libp2p/crypto/keys'
import * as tf from '@tensorflow/tfjs'
import { pino } from 'pino'
import { DtrainNode } from '../../src/node/node.js'
import { defaultGenesis, type ModelPreset } from '../../src/wire/genesis.js'

const args = process.argv.slice(2)
const value = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const NODES = Number(value('--nodes') ?? 2)
const ROUNDS = Number(value('--rounds') ?? 40)
const PRESET = (value('--preset') ?? 'small') as ModelPreset
const json = args.includes('--json')
const relayClient = (value('--relay-client') ?? 'auto') as 'auto' | 'always' | 'off'
/** --heap: write heap snapshots at the middle and the end of the run and print what grew between */
const heap = args.includes('--heap')
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run under node --expose-gc (npm run bench:memory does)')

const genesis = defaultGenesis({ preset: PRESET, expectedPeers: NODES, salt: 'memory-soak' })
// Each node with a state directory, as `dtrain start` runs it: proofs and state on disk.
const root = mkdtempSync(join(tmpdir(), 'dtrain-memory-'))
const logger = pino({ level: 'warn' })
const nodes: DtrainNode[] = []
for (let i = 0; i < NODES; i++)
  nodes.push(
    await DtrainNode.create({
      genesis,
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: i === 0 ? [] : nodes[0].addresses(),
      logger,
      backend: 'wasm',
      trainThreads: 1,
      stateDir: join(root, `node-${i}`),
      relayClient,
    }),
  )
while (nodes.some((n) => n.host.getPeers().length < NODES - 1)) await new Promise((r) => setTimeout(r, 100))

interface Sample {
  round: number
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  tensors: number
  /** streams open on this process's connections: a stream never closed keeps its objects */
  streams: number
}
const MB = 1024 * 1024
const samples: Sample[] = []
const snapshots: Array<{ round: number; counts: Map<string, { count: number; bytes: number }> }> = []

/** Objects of a V8 heap snapshot counted by type and name (constructor), with their self sizes. */
function heapCounts(file: string): Map<string, { count: number; bytes: number }> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8'))
  rmSync(file)
  const fields: string[] = snapshot.snapshot.meta.node_fields
  const types: string[] = snapshot.snapshot.meta.node_types[0]
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f))
  const counts = new Map<string, { count: number; bytes: number }>()
  const nodes: number[] = snapshot.nodes
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + typeAt]]
    const name =
      type === 'string' || type === 'number' ? '' : String(snapshot.strings[nodes[i + nameAt]]).slice(0, 40)
    const key = `${type} ${name}`
    const entry = counts.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += nodes[i + sizeAt]
    counts.set(key, entry)
  }
  return counts
}
const line = (s: Sample) =>
  `${String(s.round).padStart(5)} ${(s.rss / MB).toFixed(0).padStart(7)} ${(s.heapUsed / MB).toFixed(1).padStart(9)} ${(s.external / MB).toFixed(1).padStart(9)} ${(s.arrayBuffers / MB).toFixed(1).padStart(13)} ${(s.tensors / MB).toFixed(1).padStart(11)} ${String(s.streams).padStart(7)}`
process.stdout.write(
  `memory soak: ${NODES} nodes of preset ${PRESET} in one process, wasm, ${ROUNDS} rounds (MB, after two full collections)\nround     rss heap used  external  arraybuffers tfjs tensors streams\n`,
)
for (let round = 0; round < ROUNDS; round++) {
  await Promise.all(nodes.map((n) => n.runRound()))
  gc()
  await new Promise((r) => setImmediate(r))
  gc()
  const m = process.memoryUsage()
  const s = {
    round,
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    tensors: tf.memory().numBytes,
    streams: nodes.reduce(
      (sum, n) => sum + n.host.getConnections().reduce((k, c) => k + c.streams.length, 0),
      0,
    ),
  }
  samples.push(s)
  if (round % 10 === 9 || round === ROUNDS - 1 || round < 3) process.stdout.write(`${line(s)}\n`)
  if (heap && (round === Math.floor(ROUNDS / 2) || round === ROUNDS - 1))
    snapshots.push({
      round,
      counts: heapCounts(writeHeapSnapshot(join(root, `round-${round}.heapsnapshot`))),
    })
}
if (snapshots.length === 2) {
  const [a, b] = snapshots
  const grown = [...b.counts]
    .map(([key, after]) => {
      const before = a.counts.get(key) ?? { count: 0, bytes: 0 }
      return { key, count: after.count - before.count, bytes: after.bytes - before.bytes }
    })
    .filter((g) => g.count > 0)
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, 25)
  process.stdout.write(
    `heap objects that grew from round ${a.round} to round ${b.round} (by constructor or type; count, self bytes):\n${grown
      .map((g) => `  ${g.key.padEnd(50)} +${g.count}  +${(g.bytes / 1024).toFixed(1)} KiB`)
      .join('\n')}\n`,
  )
}
await Promise.all(nodes.map((n) => n.stop()))
rmSync(root, { recursive: true, force: true })

/** Least-squares slope of `pick` over the second half of the run, in MB per round. */
const slope = (pick: (s: Sample) => number): number => {
  const half = samples.slice(Math.floor(samples.length / 2))
  const xs = half.map((s) => s.round)
  const ys = half.map((s) => pick(s) / MB)
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = ys.reduce((a, b) => a + b, 0) / ys.length
  let num = 0
  let den = 0
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i] - mx) * (ys[i] - my)
    den += (xs[i] - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}
const slopes = {
  rss: slope((s) => s.rss),
  heapUsed: slope((s) => s.heapUsed),
  external: slope((s) => s.external),
  arrayBuffers: slope((s) => s.arrayBuffers),
  tensors: slope((s) => s.tensors),
}
process.stdout.write(
  `growth per round over rounds ${Math.floor(samples.length / 2)}-${ROUNDS - 1} (MB/round, least squares): ${Object.entries(
    slopes,
  )
    .map(([k, v]) => `${k} ${v >= 0 ? '+' : ''}${v.toFixed(3)}`)
    .join(', ')}\n`,
)
if (json)
  console.log(
    JSON.stringify({
      nodes: NODES,
      preset: PRESET,
      rounds: ROUNDS,
      first: samples[0],
      last: samples.at(-1),
      slopesMBPerRound: slopes,
    }),
  )
process.exit(0)
