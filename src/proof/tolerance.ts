// Replay tolerances (SPEC.md 17.4): how far an honest replay may land from the committed
// checkpoint. Calibrated per pair of backends from measured reproduction errors (SPEC.md 17.6),
// never one absolute bound for all: the same backend with the same threads reproduces bit for
// bit; wasm, cpu and torch-cpu differ from each other in float rounding; torch-cuda,
// tensorflow and tensorflow-gpu (not measurable on the machines this was built on) get a wide
// margin, and so does a replay at another precision than the proof's.
import type { Genesis } from '../wire/genesis.js'

export interface Tolerance {
  /** largest distance / the segment's own update norm (and largest relative moment distance) */
  relative: number
  /** largest distance / sqrt(parameters), per replayed step */
  rms: number
  /** where the figure came from */
  source: string
}

/** Relative tolerances by backend pair; the measured worst case is in the comment. */
const RELATIVE = {
  // measured: 0 on wasm and on cpu; torch-cpu 0 on the same thread count, 3.7e-7 from 1 to 2
  // threads (gpt-tiny, test/torch/audit.test.ts)
  same: 1e-4,
  // wasm <-> cpu worst 7.2e-5 (small model, npm run bench:audit); wasm <-> torch-cpu worst
  // 1.1e-5 (gpt-tiny) and 2.2e-6 (tiny), every segment of two rounds, four runs (test/torch/audit.test.ts)
  measuredPair: 1e-3,
  unmeasured: 2e-2, // any pair with torch-cuda, tensorflow or tensorflow-gpu: not measured here
}
const MEASURED = new Set(['wasm', 'cpu', 'torch-cpu'])

export function toleranceFor(
  trained: string,
  replay: string,
  requested: 'auto' | number,
  genesis: Genesis,
  precision: { trained: 'fp32' | 'bf16'; replay: 'fp32' | 'bf16' } = { trained: 'fp32', replay: 'fp32' },
): Tolerance {
  let relative: number
  let source: string
  const samePrecision = precision.trained === precision.replay
  if (requested !== 'auto') {
    relative = requested
    source = 'given'
  } else if (!samePrecision) {
    relative = RELATIVE.unmeasured
    source = `auto: ${trained} (${precision.trained}) replayed on ${replay} (${precision.replay}): unmeasured pair, wide margin`
  } else if (trained === replay && MEASURED.has(trained)) {
    relative = RELATIVE.same
    source = `auto: ${trained} replayed on ${replay}`
  } else if (MEASURED.has(trained) && MEASURED.has(replay)) {
    relative = RELATIVE.measuredPair
    source = `auto: ${trained} replayed on ${replay}`
  } else {
    relative = RELATIVE.unmeasured
    source = `auto: ${trained} replayed on ${replay} (unmeasured pair, wide margin)`
  }
  // An AdamW step moves a coordinate by about lr at most, so lr bounds a step's rms update.
  return { relative, rms: relative * genesis.inner.optimizer.lr, source }
}

/** Segments an audit replays at least (SPEC.md 17.4, step 5). */
export const MIN_SEGMENTS = 2
