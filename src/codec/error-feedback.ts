// Error feedback (SPEC.md 6.9; Seide et al. 2014, Karimireddy et al. 2019, as DiLoCo-family
// systems use with compressed deltas): what an encoding dropped this round is kept and added to
// the next round's delta, so compression errors do not accumulate. With a decay beta < 1 (genesis
// delta.feedbackDecay; SparseLoCo, Sarfi et al. 2025) the residual also stands in for the outer
// momentum of a top-k run and stays bounded.
//   v = delta + beta * residual;  bytes = encode(v);  sent = decode(bytes);  residual' = v - sent
import { decodeDelta, type EncodeOptions, encodeDelta, openDelta } from './delta.js'

export interface Compressed {
  bytes: Uint8Array
  /** exactly what every receiver decodes (decoded when first read) */
  readonly sent: Float32Array
  residual: Float32Array
}

/** Values decoded at a time for the residual: a block, not a decoded copy of the whole delta. */
const RESIDUAL_BLOCK = 1 << 20

export function compressWithFeedback(
  delta: Float32Array,
  residual: Float32Array | undefined,
  options: EncodeOptions,
  /** beta in (0, 1]; absent: 1. fl32(1 * e) = e, so beta = 1 is plain error feedback. */
  decay = 1,
  /**
   * `delta` is the caller's to give up: v, then the new residual, are computed in its place instead
   * of in a new vector (a node's own delta, 4 d bytes fewer at the end of its training, issue 17)
   */
  reuseDelta = false,
): Compressed {
  const count = delta.length
  const corrected = reuseDelta ? delta : new Float32Array(count)
  if (residual !== undefined) {
    if (residual.length !== count) throw new RangeError('residual and delta differ in length')
    if (!(decay > 0 && decay <= 1)) throw new RangeError(`error feedback decay ${decay} is outside (0, 1]`)
    const beta = Math.fround(decay)
    for (let i = 0; i < count; i++) corrected[i] = Math.fround(delta[i] + Math.fround(beta * residual[i]))
  } else if (corrected !== delta) corrected.set(delta)
  const bytes = encodeDelta(corrected, options)
  const opened = openDelta(bytes, count)
  // v is needed no more once encoded: the residual takes its place, each value read before it is
  // written (4 d bytes fewer while a node announces, issue 17)
  const nextResidual = corrected
  for (let start = 0; start < count; start += RESIDUAL_BLOCK) {
    const end = Math.min(count, start + RESIDUAL_BLOCK)
    const sent = opened.subarray(start, end)
    for (let i = start; i < end; i++) nextResidual[i] = Math.fround(corrected[i] - sent[i - start])
  }
  let sent: Float32Array | undefined
  return {
    bytes,
    get sent() {
      sent ??= decodeDelta(bytes, count).values
      return sent
    },
    residual: nextResidual,
  }
}
