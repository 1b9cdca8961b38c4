// Which AdamW states honest training can reach (SPEC.md 17.4, step 4a; issue 19): a forger that
// inflates the moments (|m| ~ 1e9, v ~ 1e30) makes beta1 m + (1 - beta1) g round to beta1 m in
// binary32, so every step replays bit for bit as a step without a gradient while the weights
// move where the forger chose. Honest moments are bounded, because they start at zero (SPEC.md
// 17.4 step 3) and every gradient is clipped to a global norm of at most C = gradClipNorm (7.5):
//   m_t = sum_i (1 - b1) b1^(t - i) g_i        so ||m_t|| <= (1 - b1^t) C
//   v_t = sum_i (1 - b2) b2^(t - i) g_i^2      so sum_j v_t[j] <= (1 - b2^t) C^2
// and, coordinate by coordinate (Cauchy-Schwarz over i, when b1^2 < b2),
//   |m_t[j]| <= (1 - b1) / sqrt((1 - b2) (1 - b1^2 / b2)) * sqrt(v_t[j]).
// A margin covers binary32 rounding (measured on honest proofs: test/adversarial/proof-spoofs.test.ts).
import type { OptimizerState } from '../train/trainer.js'

/** Relative slack on each bound for binary32 rounding. Honest proofs come within 3.3e-7 below the
 * bounds (tight at step 1, where m = (1 - b1) g with g clipped to a norm of C), never above. */
export const REACHABLE_MARGIN = 1e-3

export interface Optimizer {
  beta1: number
  beta2: number
  gradClipNorm: number
}

/** How close an optimizer state comes to each bound (1 = on it); undefined fields: not finite. */
export interface Reach {
  /** ||m|| / ((1 - b1^t) C) */
  firstMoment: number
  /** sum(v) / ((1 - b2^t) C^2) */
  secondMoment: number
  /** max_j |m_j| / (K sqrt(v_j)), or 0 when b1^2 >= b2 (no such bound) */
  perCoordinate: number
}

/** Why the state is out of reach, or undefined when honest training can reach it. */
export function unreachable(state: OptimizerState, optimizer: Optimizer): string | undefined {
  const { firstMoment: m, secondMoment: v, step: t } = state
  if (!Number.isSafeInteger(t) || t < 0) return `step counter ${t} is not a count of steps`
  for (let j = 0; j < m.length; j++) {
    if (!Number.isFinite(m[j]) || !Number.isFinite(v[j])) return `a moment is not finite at coordinate ${j}`
    if (v[j] < 0) return `the second moment is negative at coordinate ${j}`
  }
  const reach = reachOf(state, optimizer)
  const limit = 1 + REACHABLE_MARGIN
  if (t === 0 && (reach.firstMoment > 0 || reach.secondMoment > 0))
    return 'moments are not zero before the first step'
  if (reach.firstMoment > limit)
    return `the first moment's norm is ${reach.firstMoment.toPrecision(3)} times what ${t} clipped gradients can give`
  if (reach.secondMoment > limit)
    return `the second moment's sum is ${reach.secondMoment.toPrecision(3)} times what ${t} clipped gradients can give`
  if (reach.perCoordinate > limit)
    return `a first moment is ${reach.perCoordinate.toPrecision(3)} times what its second moment allows`
  return undefined
}

/** The state's distance to each bound (see unreachable); assumes finite moments. */
export function reachOf(state: OptimizerState, optimizer: Optimizer): Reach {
  const { firstMoment: m, secondMoment: v, step: t } = state
  const { beta1: b1, beta2: b2, gradClipNorm: c } = optimizer
  let m2 = 0
  let vSum = 0
  for (let j = 0; j < m.length; j++) {
    m2 += m[j] * m[j]
    vSum += v[j]
  }
  const ratio = (value: number, bound: number) =>
    value === 0 ? 0 : bound > 0 ? value / bound : Number.POSITIVE_INFINITY
  let perCoordinate = 0
  if (b1 * b1 < b2 && t > 0) {
    const k = (1 - b1) / Math.sqrt((1 - b2) * (1 - (b1 * b1) / b2))
    for (let j = 0; j < m.length; j++) {
      if (m[j] === 0) continue
      perCoordinate = Math.max(perCoordinate, ratio(Math.abs(m[j]), k * Math.sqrt(v[j])))
    }
  }
  return {
    firstMoment: ratio(Math.sqrt(m2), (1 - b1 ** t) * c),
    secondMoment: ratio(vSum, (1 - b2 ** t) * c * c),
    perCoordinate,
  }
}
