// Error feedback (SPEC.md 6.9; Seide et al. 2014, Karimireddy et al. 2019, as DiLoCo-family
// systems use with compressed deltas): what an encoding dropped this round is kept and added to
// the next round's delta, so compression errors do not accumulate. With a decay beta < 1 (genesis
// delta.feedbackDecay; SparseLoCo, Sarfi et al. 2025) the residual also stands in for the outer
// momentum of a top-k run and stays bounded.
//   v = delta + beta * residual;  bytes = encode(v);  sent = decode(bytes);  residual' = v - sent
import { decodeDelta, type EncodeOptions, encodeDelta } from './delta.js'

export interface Compressed {
  bytes: Uint8Array
  /** exactly what every receiver decodes */
  sent: Float32Array
  residual: Float32Array
}

export function compressWithFeedback(
  delta: Float32Array,
  residual: Float32Array | undefined,
  options: EncodeOptions,
  /** beta in (0, 1]; absent: 1. fl32(1 * e) = e, so beta = 1 is plain error feedback. */
  decay = 1,
): Compressed {
  const corrected = new Float32Array(delta.length)
  if (residual !== undefined) {
    if (residual.length !== delta.length) throw new RangeError('residual and delta differ in length')
    if (!(decay > 0 && decay <= 1)) throw new RangeError(`error feedback decay ${decay} is outside (0, 1]`)
    const beta = Math.fround(decay)
    for (let i = 0; i < delta.length; i++)
      corrected[i] = Math.fround(delta[i] + Math.fround(beta * residual[i]))
  } else corrected.set(delta)
  const bytes = encodeDelta(corrected, options)
  const sent = decodeDelta(bytes, delta.length).values
  const nextResidual = new Float32Array(delta.length)
  for (let i = 0; i < delta.length; i++) nextResidual[i] = Math.fround(corrected[i] - sent[i])
  return { bytes, sent, residual: nextResidual }
}
