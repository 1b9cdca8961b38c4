// The node's side of the PyTorch worker process (docs/torch-worker.md): starts
// src/train/torch/worker.py, frames requests and replies on its stdin and stdout, and turns every
// way the worker can fail into a named error. A worker that dies fails every pending and later
// request at once with its exit status and the last lines it wrote to stderr: never a hang.
import { type ChildProcess, spawn } from 'node:child_process'
import { workerScript } from './python.js'

/** Operation codes (docs/torch-worker.md). */
export const OP = {
  init: 1,
  setWeights: 2,
  getWeights: 3,
  setMoments: 4,
  getMoments: 5,
  step: 6,
  eval: 7,
  memory: 8,
  writeCheckpoint: 9,
  getMomentRange: 10,
  releaseWeights: 11,
} as const

/** The largest request or reply: a frame's length is a u32. */
export const MAX_FRAME_BYTES = 0xffff_ffff

export class TorchWorkerError extends Error {
  override name = 'TorchWorkerError'
  constructor(
    message: string,
    /** the worker's error kind (a Python exception name, OutOfMemory), or 'exited' */
    readonly kind = 'exited',
  ) {
    super(message)
  }
}

/** What the worker answers to init. */
export interface WorkerInfo {
  torch: string
  device: string
  deviceName: string
  threads: number
  sdpa: boolean
  parameters: number
  precision: string
}

const STDERR_LINES = 30
const live = new Set<ChildProcess>()
let exitHookInstalled = false

export class TorchWorker {
  private readonly pending: Array<{ resolve: (b: Uint8Array) => void; reject: (e: Error) => void }> = []
  /** the bytes of a reply header read so far */
  private chunks: Buffer[] = []
  private buffered = 0
  private readonly stderrTail: string[] = []
  private failure?: TorchWorkerError
  private readonly exited: Promise<void>

  private constructor(
    private readonly child: ChildProcess,
    private readonly onStderr?: (line: string) => void,
  ) {
    live.add(child)
    child.stdout!.on('data', (chunk: Buffer) => this.receive(chunk))
    let partial = ''
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) this.keepStderr(line)
    })
    // EPIPE after the worker died: the exit handler below reports it.
    child.stdin!.on('error', () => {})
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.fail(new TorchWorkerError(`the PyTorch worker could not start: ${err.message}`))
        resolve()
      })
      child.once('exit', (code, signal) => {
        live.delete(child)
        if (partial) this.keepStderr(partial)
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
        const tail = this.stderrTail.length ? `; its last output:\n${this.stderrTail.join('\n')}` : ''
        this.fail(new TorchWorkerError(`the PyTorch worker (pid ${child.pid}) ${how}${tail}`))
        resolve()
      })
    })
  }

  /** Starts a worker with `python` and sends init; resolves with what the worker reported. */
  static async start(options: {
    python: string
    init: unknown
    env?: Record<string, string>
    onStderr?: (line: string) => void
  }): Promise<{ worker: TorchWorker; info: WorkerInfo }> {
    if (!exitHookInstalled) {
      exitHookInstalled = true
      // A node that exits takes its workers with it (PR_SET_PDEATHSIG covers a crash on Linux).
      process.once('exit', () => {
        for (const child of live) child.kill('SIGKILL')
      })
    }
    const child = spawn(options.python, [workerScript()], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        // Threads that spin between steps steal the CPU the node needs to answer the step: with
        // them, a small model's steps took 70-260 ms instead of 15-25 ms one time in three.
        OMP_WAIT_POLICY: 'PASSIVE',
        ...process.env,
        PYTHONUNBUFFERED: '1',
        ...options.env,
      },
    })
    const worker = new TorchWorker(child, options.onStderr)
    const reply = await worker.request(OP.init, new TextEncoder().encode(JSON.stringify(options.init)))
    return { worker, info: JSON.parse(new TextDecoder().decode(reply)) as WorkerInfo }
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** Sends one request (its payload in parts, written in order) and resolves with the reply's payload. */
  request(op: number, ...parts: Uint8Array[]): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure)
    const length = parts.reduce((sum, p) => sum + p.byteLength, 0)
    if (length > MAX_FRAME_BYTES)
      return Promise.reject(
        new RangeError(`a request of ${length} bytes exceeds the worker protocol's frame`),
      )
    const header = Buffer.alloc(5)
    header.writeUInt32LE(length, 0)
    header.writeUInt8(op, 4)
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject })
      const stdin = this.child.stdin!
      stdin.write(header)
      for (const part of parts) stdin.write(part)
    })
  }

  /** Ends the worker: closes its stdin (it exits at once between requests), then kills it if it lingers. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin!.end()
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
      await this.exited
      clearTimeout(timer)
    }
    this.failure ??= new TorchWorkerError('the PyTorch worker was closed')
  }

  private keepStderr(line: string): void {
    this.stderrTail.push(line)
    if (this.stderrTail.length > STDERR_LINES) this.stderrTail.shift()
    this.onStderr?.(line)
  }

  private fail(error: TorchWorkerError): void {
    this.failure ??= error
    for (const p of this.pending.splice(0)) p.reject(this.failure)
  }

  /** The frame being read: its status and payload, filled chunk by chunk (one copy). */
  private frame?: { status: number; payload: Uint8Array; filled: number }

  private receive(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length) {
      if (!this.frame) {
        // the 5-byte header may straddle chunks
        const need = 5 - this.buffered
        const take = Math.min(need, chunk.length - at)
        this.chunks.push(chunk.subarray(at, at + take))
        this.buffered += take
        at += take
        if (this.buffered < 5) return
        const head = Buffer.concat(this.chunks)
        this.chunks = []
        this.buffered = 0
        this.frame = { status: head.readUInt8(4), payload: new Uint8Array(head.readUInt32LE(0)), filled: 0 }
      }
      const frame = this.frame
      const take = Math.min(frame.payload.length - frame.filled, chunk.length - at)
      frame.payload.set(chunk.subarray(at, at + take), frame.filled)
      frame.filled += take
      at += take
      if (frame.filled < frame.payload.length) return
      this.frame = undefined
      if (!this.deliver(frame.status, frame.payload)) return
    }
  }

  /** Hands a reply to the request it answers; false when the worker broke the protocol. */
  private deliver(status: number, payload: Uint8Array): boolean {
    const waiter = this.pending.shift()
    if (!waiter) {
      this.fail(new TorchWorkerError('the PyTorch worker sent a reply nobody asked for'))
      this.child.kill('SIGKILL')
      return false
    }
    if (status === 0) waiter.resolve(payload)
    else {
      let kind = 'error'
      let message = new TextDecoder().decode(payload)
      try {
        const parsed = JSON.parse(message) as { kind: string; message: string }
        kind = parsed.kind
        message = parsed.message
      } catch {}
      waiter.reject(new TorchWorkerError(`the PyTorch worker failed (${kind}): ${message}`, kind))
    }
    return true
  }
}
