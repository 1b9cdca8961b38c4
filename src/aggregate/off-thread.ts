// A round's aggregation on a worker thread of its own (aggregate-worker.ts), over the deltas' files
// in the node's object store: the same function (rules.ts `aggregate`) on the same bytes, so the
// result is bit for bit the one the node's own thread would compute, while the node's event loop
// goes on serving chunks, answering pings and relaying gossip (issue 17: at 1.1 x 10^8 parameters
// and 4 deltas the aggregation took 17-55 s, during which the nodes of a 4-node drill dropped
// connections and relay reservations).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { AggregationInputError } from './blocks.js'
import { type AggregationContext, type AggregationRule, readsReference } from './rules.js'

export interface AggregationRequest {
  rule: AggregationRule
  /** the deltas: their content ids and the files holding their encoded bytes */
  inputs: Array<{ id: Uint8Array; path: string }>
  /** values in each delta (the model's parameter count) */
  count: number
  context: AggregationContext
}

type Reply = { values: Float32Array } | { error: { name: string; message: string } }

/** The worker script: the compiled one next to this module (under vitest, the build's copy). */
function workerUrl(): URL {
  const here = new URL('./aggregate-worker.js', import.meta.url)
  if (existsSync(fileURLToPath(here))) return here
  return new URL('../../dist/src/aggregate/aggregate-worker.js', import.meta.url)
}

/**
 * Aggregates on a new worker thread, which ends with the call (or when `signal` aborts: the call
 * then rejects with its reason at once). An input the rule cannot take
 * (SPEC.md 8.10) throws AggregationInputError, as on the node's own thread; any other failure, or
 * a thread that dies, throws an Error naming it. The context's reference is copied to the thread
 * only for the rule that reads it (centered clipping): 4 d bytes otherwise not allocated.
 */
export async function aggregateOffThread(
  request: AggregationRequest,
  signal?: AbortSignal,
): Promise<Float32Array> {
  signal?.throwIfAborted()
  const needsReference = readsReference(request.rule)
  const context = {
    seed: request.context.seed,
    ...(needsReference ? { reference: request.context.reference } : {}),
  }
  const worker = new Worker(workerUrl())
  try {
    const reply = await new Promise<Reply>((resolve, reject) => {
      // a node told to stop does not wait for its aggregation (the thread is ended below)
      const stop = () => reject(signal!.reason)
      signal?.addEventListener('abort', stop, { once: true })
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          signal?.removeEventListener('abort', stop)
          fn(value)
        }
      worker.once('message', settle(resolve))
      worker.once('error', settle(reject))
      worker.once(
        'exit',
        settle((code: number) =>
          reject(new Error(`the aggregation thread exited (code ${code}) before it answered`)),
        ),
      )
      worker.postMessage({ ...request, context } satisfies AggregationRequest)
    })
    if ('values' in reply) return reply.values
    const { name, message } = reply.error
    if (name === 'AggregationInputError') throw new AggregationInputError(message)
    throw new Error(`the aggregation thread failed (${name}): ${message}`)
  } finally {
    await worker.terminate()
  }
}
