// Outer optimizer: SGD with Nesterov momentum over the aggregated pseudo-gradient (SPEC.md 9),
// as in DiLoCo (Douillard et al. 2023: lr 0.7, momentum 0.9). Binary32 arithmetic, one rounding
// per operation, in this order (the PyTorch SGD nesterov formulation):
//   m' = mu * m + g
//   w' = w - lr * (g + mu * m')
export interface OuterConfig {
  lr: number
  momentum: number
}

export interface OuterState {
  weights: Float32Array
  momentum: Float32Array
}

/**
 * One outer step. `inPlace`: the new weights and momentum are written over `state`'s own vectors
 * (each coordinate is read before it is written, so the result is the same bit for bit), and the
 * returned state holds those vectors: the caller gives the old state up (8 d bytes fewer, issue 17).
 */
export function nesterovStep(
  state: OuterState,
  pseudoGradient: Float32Array,
  config: OuterConfig,
  inPlace = false,
): OuterState {
  const { weights, momentum } = state
  if (weights.length !== pseudoGradient.length || momentum.length !== weights.length) {
    throw new RangeError('outer step: weights, momentum and pseudo-gradient differ in length')
  }
  const lr = Math.fround(config.lr)
  const mu = Math.fround(config.momentum)
  const nextWeights = inPlace ? weights : new Float32Array(weights.length)
  const nextMomentum = inPlace ? momentum : new Float32Array(weights.length)
  for (let i = 0; i < weights.length; i++) {
    const g = pseudoGradient[i]
    const m = Math.fround(Math.fround(mu * momentum[i]) + g)
    nextMomentum[i] = m
    const update = Math.fround(g + Math.fround(mu * m))
    nextWeights[i] = Math.fround(weights[i] - Math.fround(lr * update))
  }
  return { weights: nextWeights, momentum: nextMomentum }
}

/**
 * pseudo-gradient = global weights at round start - local weights after the inner steps (SPEC.md
 * 6.1). `into`: where to write it (it may be `localWeights` itself, which the caller gives up);
 * default a new vector.
 */
export function pseudoGradient(
  globalWeights: Float32Array,
  localWeights: Float32Array,
  into?: Float32Array,
): Float32Array {
  if (globalWeights.length !== localWeights.length) throw new RangeError('weights differ in length')
  if (into !== undefined && into.length !== globalWeights.length)
    throw new RangeError('output differs in length')
  const out = into ?? new Float32Array(globalWeights.length)
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(globalWeights[i] - localWeights[i])
  return out
}

/**
 * The outer step of a round (SPEC.md 9), or none: an aggregate holding a non-finite value (which
 * no rule of SPEC.md 8 produces from contributions within 6.8's bound, but a node checks) is never
 * applied; the state stays as it was, and every honest node holding the same set does the same.
 */
export function outerStepOrHold(
  state: OuterState,
  aggregate: Float32Array,
  config: OuterConfig,
  inPlace = false,
): { state: OuterState; applied: boolean } {
  for (let i = 0; i < aggregate.length; i++)
    if (!Number.isFinite(aggregate[i])) return { state, applied: false }
  return { state: nesterovStep(state, aggregate, config, inPlace), applied: true }
}
