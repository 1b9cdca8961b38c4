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

let gc: (() => void) | null | undefined

/** Collects garbage now (a full, blocking collection: milliseconds with a small JS heap). */
export function collectGarbage(): void {
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
