// IEEE-754 binary16 conversion (SPEC.md 6.4). float32 -> binary16 rounds to nearest, ties to
// even; values beyond the largest finite half (65504) saturate to +-65504 (a delta that large
// is already absurd; error feedback carries the rest).
const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

export const FP16_MAX = 65504

export function float32ToHalfBits(value: number): number {
  f32[0] = value
  const x = u32[0]
  const sign = (x >>> 16) & 0x8000
  const exponent = (x >>> 23) & 0xff
  let mantissa = x & 0x7fffff
  if (exponent === 0xff) return mantissa !== 0 ? sign | 0x7e00 : sign | 0x7bff // NaN stays NaN; Inf saturates
  const halfExponent = exponent - 127 + 15
  if (halfExponent >= 0x1f) return sign | 0x7bff
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign // underflows to a signed zero
    mantissa |= 0x800000
    const shift = 14 - halfExponent
    const half = mantissa >>> shift
    const remainder = mantissa & ((1 << shift) - 1)
    const midpoint = 1 << (shift - 1)
    const rounded = remainder > midpoint || (remainder === midpoint && (half & 1) === 1) ? half + 1 : half
    return sign | rounded
  }
  const half = (halfExponent << 10) | (mantissa >>> 13)
  const remainder = mantissa & 0x1fff
  const rounded = remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1) ? half + 1 : half
  // A carry out of the mantissa correctly bumps the exponent; past the largest finite, saturate.
  return (rounded & 0x7fff) >= 0x7c00 ? sign | 0x7bff : sign | rounded
}

let table: Float32Array | undefined

/** binary16 bits to their value, through a 64k-entry table built on first use (decoding is hot). */
export function halfBitsToFloat32(bits: number): number {
  if (table === undefined) {
    table = new Float32Array(0x10000)
    for (let b = 0; b < 0x10000; b++) table[b] = halfBitsToFloat32Slow(b)
  }
  return table[bits & 0xffff]
}

function halfBitsToFloat32Slow(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >>> 10) & 0x1f
  const mantissa = bits & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}
