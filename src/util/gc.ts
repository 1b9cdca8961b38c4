// A full garbage collection where a round lets go of its large vectors (issue 17). A round
// allocates tens of vectors of the model's size (4 d bytes each: trained weights, deltas,
// checkpoints, the aggregate, the outer step's results) and drops them within seconds; V8 frees
// an array's memory only when a collection finds it dead, and at 10^8 parameters the node entered
// its next round with about 1.5 GB of such arrays still resident (bench:model-scale, sampled from
// /proc), which raised its peak by as much. Node exposes gc() only behind --expose-gc; the flag is
// set here once, before the function is taken from a new context. Where that fails, nothing is
// collected early and V8's own heuristics apply.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { stateSize } from '../codec/state.js'

/**
 * Below this many bytes let go of, V8's own heuristics are left to it: a full collection of a
 * node's heap costs tens of milliseconds on a busy machine, and a small model's rounds are short
 * (a 4-node drill's rounds took about twice as long with a collection after each of its 200 KB
 * checkpoints, and the drill timed out).
 */
export const COLLECT_MIN_BYTES = 64 * 2 ** 20

/**
 * Whether a model of `count` parameters is large: its global state is COLLECT_MIN_BYTES or more. A
 * large model's node writes its checkpoints before it announces, steps in place, aggregates on a
 * thread of its own and parks on disk what it does not need for a while (issue 17).
 */
export function isLargeModel(count: number): boolean {
  return stateSize(count) >= COLLECT_MIN_BYTES
}

let gc: (() => void) | null | undefined

/**
 * Collects garbage now when `releasedBytes` (what the caller just let go of) is worth it: a full,
 * blocking collection.
 */
export function collectGarbage(releasedBytes: number): void {
  if (releasedBytes < COLLECT_MIN_BYTES) return
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc') as () => void
    } catch {
      gc = null
    }
  }
  gc?.()
}
