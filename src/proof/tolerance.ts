// Replay tolerances (SPEC.md 17.4): how far an honest replay may land from the committed
// checkpoint. Calibrated per pair of backends from measured reproduction errors (SPEC.md 17.6),
// never one absolute bound for all: the same backend on the same code reproduces bit for bit;
// wasm and cpu differ in float rounding; tensorflow and tensorflow-gpu (not measurable on the
// machines this was built on) get a wide margin.
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
  same: 1e-4, // measured: 0 (bit-identical) on wasm and on cpu
  measuredPair: 1e-3, // wasm <-> cpu, measured worst 7.2e-5 (small model, npm run bench:audit; SPEC.md 17.6)
  unmeasured: 2e-2, // any pair with tensorflow or tensorflow-gpu: not measured here
}
const MEASURED = new Set(['wasm', 'cpu'])

export function toleranceFor(
  trained: string,
  replay: string,
  requested: 'auto' | number,
  genesis: Genesis,
): Tolerance {
  let relative: number
  let source: string
  if (requested !== 'auto') {
    relative = requested
    source = 'given'
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
