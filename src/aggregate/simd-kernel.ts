// WebAssembly SIMD versions of the sorting-network kernels (sorting-network.ts): the same
// comparators on four coordinates at once with f32x4.min / f32x4.max, which are branch-free and
// order -0 before +0 exactly like Math.min / Math.max, and the same binary32 additions,
// multiplications and divisions (f32x4 arithmetic rounds each lane once, as Math.fround does).
// The results are therefore bit-identical to the JavaScript kernels (test/unit/aggregate.test.ts).
// The module is generated here, byte by byte, for each (n, statistic): no toolchain, no binary blob.
import { oddEvenMergeNetwork } from './sorting-network.js'

// The few WebAssembly APIs used here (the project's TypeScript lib has no DOM / WebAssembly types).
interface WasmMemory {
  buffer: ArrayBuffer
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> }
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly

/** Coordinates per chunk copied into WebAssembly memory (a multiple of 4). */
const CHUNK = 16_384
const PAGE = 65_536

type Statistic = { kind: 'median' } | { kind: 'trimmed-mean'; k: number }

interface CompiledKernel {
  memory: WasmMemory
  view: Float32Array
  run: (byteCount: number) => void
  n: number
}

const cache = new Map<string, CompiledKernel | null>()

function uleb(value: number): number[] {
  const out: number[] = []
  let v = value >>> 0
  do {
    let byte = v & 0x7f
    v >>>= 7
    if (v !== 0) byte |= 0x80
    out.push(byte)
  } while (v !== 0)
  return out
}

const section = (id: number, bytes: number[]) => [id, ...uleb(bytes.length), ...bytes]
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()]
const name = (s: string) => [...uleb(s.length), ...Array.from(new TextEncoder().encode(s))]
const simd = (op: number) => [0xfd, ...uleb(op)]

const OP = {
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32Add: 0x6a,
  i32LtU: 0x49,
  loop: 0x03,
  brIf: 0x0d,
  end: 0x0b,
  v128Load: 0x00,
  v128Store: 0x0b,
  v128Const: 0x0c,
  f32x4Add: 0xe4,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
}

function f32x4Const(value: number): number[] {
  const bytes = new Uint8Array(16)
  const view = new DataView(bytes.buffer)
  for (let lane = 0; lane < 4; lane++) view.setFloat32(4 * lane, value, true)
  return [...simd(OP.v128Const), ...bytes]
}

/**
 * Module layout: input j's chunk at byte j * CHUNK * 4, the output chunk after the n inputs.
 * run(byteCount): for (i = 0; i < byteCount; i += 16) out[i] = statistic(column i).
 */
function buildModule(n: number, statistic: Statistic): Uint8Array {
  const stride = CHUNK * 4
  const pages = Math.ceil(((n + 1) * stride) / PAGE)
  // locals: 0 = byteCount (param), 1 = i (i32), 2.. = v0..v(n-1) (v128), n + 2 = t (v128)
  const i = 1
  const v = (j: number) => 2 + j
  const t = n + 2
  const body: number[] = []
  const memarg = (offset: number) => [4, ...uleb(offset)] // align 2^4 = 16 bytes
  body.push(OP.loop, 0x40)
  for (let j = 0; j < n; j++)
    body.push(OP.localGet, i, ...simd(OP.v128Load), ...memarg(j * stride), OP.localSet, v(j))
  for (const [a, b] of oddEvenMergeNetwork(n)) {
    body.push(OP.localGet, v(a), OP.localGet, v(b), ...simd(OP.f32x4Min), OP.localSet, t)
    body.push(OP.localGet, v(a), OP.localGet, v(b), ...simd(OP.f32x4Max), OP.localSet, v(b))
    body.push(OP.localGet, t, OP.localSet, v(a))
  }
  body.push(OP.localGet, i) // address for the store
  if (statistic.kind === 'median') {
    const mid = n >> 1
    if (n % 2 === 1) body.push(OP.localGet, v(mid))
    else
      body.push(
        OP.localGet,
        v(mid - 1),
        OP.localGet,
        v(mid),
        ...simd(OP.f32x4Add),
        ...f32x4Const(0.5),
        ...simd(OP.f32x4Mul),
      )
  } else {
    const { k } = statistic
    body.push(...f32x4Const(0))
    for (let j = k; j < n - k; j++) body.push(OP.localGet, v(j), ...simd(OP.f32x4Add))
    body.push(...f32x4Const(n - 2 * k), ...simd(OP.f32x4Div))
  }
  body.push(...simd(OP.v128Store), ...memarg(n * stride))
  body.push(OP.localGet, i, OP.i32Const, 16, OP.i32Add, OP.localSet, i)
  body.push(OP.localGet, i, OP.localGet, 0, OP.i32LtU, OP.brIf, 0, OP.end, OP.end)
  const locals = vec([
    [1, 0x7f],
    [...uleb(n + 1), 0x7b],
  ])
  const code = [...locals, ...body]
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([[0x60, ...vec([[0x7f]]), 0x00]])), // type 0: (i32) -> ()
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(pages)]])), // import memory
    ...section(3, vec([[0x00]])), // function 0 has type 0
    ...section(7, vec([[...name('run'), 0x00, 0x00]])), // export function 0 as "run"
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ])
}

function compiled(n: number, statistic: Statistic): CompiledKernel | null {
  const key = `${n}/${statistic.kind}/${statistic.kind === 'trimmed-mean' ? statistic.k : ''}`
  if (cache.has(key)) return cache.get(key)!
  let kernel: CompiledKernel | null = null
  try {
    if (wasm === undefined) throw new Error('no WebAssembly')
    const bytes = buildModule(n, statistic)
    const pages = Math.ceil(((n + 1) * CHUNK * 4) / PAGE)
    const memory = new wasm.Memory({ initial: pages, maximum: pages })
    const instance = new wasm.Instance(new wasm.Module(bytes), { env: { memory } })
    kernel = {
      memory,
      view: new Float32Array(memory.buffer),
      run: instance.exports.run as (byteCount: number) => void,
      n,
    }
  } catch {
    kernel = null // no WebAssembly SIMD here: the caller uses the JavaScript kernel
  }
  cache.set(key, kernel)
  return kernel
}

/**
 * Runs the SIMD kernel over every coordinate whose index is below a multiple of 4; returns that
 * count (the caller finishes the tail), or 0 when WebAssembly SIMD is not available.
 */
export function simdColumns(
  inputs: readonly Float32Array[],
  out: Float32Array,
  statistic: Statistic,
): number {
  const kernel = compiled(inputs.length, statistic)
  if (kernel === null) return 0
  const length = out.length - (out.length % 4)
  const { view, n } = kernel
  for (let start = 0; start < length; start += CHUNK) {
    const count = Math.min(CHUNK, length - start)
    for (let j = 0; j < n; j++) view.set(inputs[j].subarray(start, start + count), j * CHUNK)
    kernel.run(count * 4)
    out.set(view.subarray(n * CHUNK, n * CHUNK + count), start)
  }
  return length
}
