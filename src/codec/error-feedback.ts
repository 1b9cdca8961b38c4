// Error feedback (SPEC.md 6.9; Seide et al. 2014, Karimireddy et al. 2019, as DiLoCo-family
// systems use with compressed deltas): what an encoding dropped this round is kept and added to
// the next round's delta, so compression errors do not accumulate.
//   v = delta + residual;  bytes = encode(v);  sent = decode(bytes);  residual' = v - sent
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
): Compressed {
  const corrected = new Float32Array(delta.length)
  if (residual !== undefined) {
    if (residual.length !== delta.length) throw new RangeError('residual and delta differ in length')
    for (let i = 0; i < delta.length; i++) corrected[i] = Math.fround(delta[i] + residual[i])
  } else corrected.set(delta)
  const bytes = encodeDelta(corrected, options)
  const sent = decodeDelta(bytes, delta.length).values
  const nextResidual = new Float32Array(delta.length)
  for (let i = 0; i < delta.length; i++) nextResidual[i] = Math.fround(corrected[i] - sent[i])
  return { bytes, sent, residual: nextResidual }
}
