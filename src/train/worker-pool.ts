// A pool of training worker threads: each step's micro-batches (SPEC.md 7.5) are computed in
// parallel, one worker per micro-batch at a time, and averaged by the trainer in a fixed order, so
// the result is bit-identical to computing them one after the other (for the same backend). This is
// how a node uses more than one CPU core: tfjs's wasm backend runs single-threaded in Node.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { ModelSpec } from '../wire/genesis.js'
import type { BackendName } from './backend-names.js'
import type { Batch } from './batches.js'
import type { GradientRequest } from './gradient-worker.js'

type Reply = { id: number; loss: number; gradient: Float32Array } | { id: number; error: string }

/** The worker script: the compiled one next to this module (under vitest, the build's copy). */
function workerUrl(): URL {
  const here = new URL('./gradient-worker.js', import.meta.url)
  if (existsSync(fileURLToPath(here))) return here
  return new URL('../../dist/src/train/gradient-worker.js', import.meta.url)
}

export class GradientPool {
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (r: Reply) => void }>()

  private constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      worker.on('message', (reply: Reply) => {
        this.pending.get(reply.id)?.resolve(reply)
        this.pending.delete(reply.id)
      })
    }
  }

  /** Starts `size` workers with the model on `backend`; resolves once all are ready. */
  static async create(model: ModelSpec, backend: BackendName, size: number): Promise<GradientPool> {
    const workers = Array.from(
      { length: size },
      () => new Worker(workerUrl(), { workerData: { model, backend } }),
    )
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            worker.once('error', reject)
            worker.once('message', (m: { ready?: boolean }) =>
              m.ready ? resolve() : reject(new Error('worker failed')),
            )
          }),
      ),
    )
    return new GradientPool(workers)
  }

  get size(): number {
    return this.workers.length
  }

  /** Loss and gradient of each micro-batch at `weights`, in the order of `parts`. */
  async gradients(
    weights: Float32Array,
    parts: readonly Batch[],
  ): Promise<Array<{ loss: number; gradient: Float32Array }>> {
    const results: Array<{ loss: number; gradient: Float32Array }> = new Array(parts.length)
    // Worker w takes micro-batches w, w + size, ... one after the other.
    await Promise.all(
      this.workers.map(async (worker, w) => {
        for (let k = w; k < parts.length; k += this.workers.length) {
          const id = this.nextId++
          const reply = await new Promise<Reply>((resolve) => {
            this.pending.set(id, { resolve })
            const request: GradientRequest = {
              id,
              weights,
              inputs: parts[k].inputs,
              targets: parts[k].targets,
            }
            worker.postMessage(request)
          })
          if ('error' in reply) throw new Error(`training worker ${w}: ${reply.error}`)
          results[k] = { loss: reply.loss, gradient: reply.gradient }
        }
      }),
    )
    return results
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}
