// The aggregation worker thread (off-thread.ts): aggregates deltas read from their files in the
// node's object store with the run's rule, and sends the result back. A large model's aggregation
// takes seconds to minutes; on this thread it leaves the node's event loop free to serve chunks,
// answer pings and relay gossip meanwhile (issue 17: a 4-node drill of 110 M parameters dropped
// connections while its nodes aggregated on their event loops).
import '../polyfill.js'
import { parentPort } from 'node:worker_threads'
import { openDelta } from '../codec/delta.js'
import { openIfPresent } from '../store/durable-file.js'
import type { AggregationRequest } from './off-thread.js'
import { aggregate } from './rules.js'

parentPort!.once('message', (request: AggregationRequest) => {
  const files: Array<{ close(): void }> = []
  try {
    const contributions = request.inputs.map(({ id, path }) => {
      const file = openIfPresent(path)
      if (file === undefined) throw new Error(`the object ${path} is not on disk`)
      files.push(file)
      return { id, values: openDelta(file.source, request.count) }
    })
    const values = aggregate(request.rule, contributions, request.context)
    parentPort!.postMessage({ values }, [values.buffer as ArrayBuffer])
  } catch (err) {
    const { name, message } = err instanceof Error ? err : { name: 'Error', message: String(err) }
    parentPort!.postMessage({ error: { name, message } })
  } finally {
    for (const file of files) file.close()
  }
})
