// Parameter layout and initial weights of the models (SPEC.md 7.2, 7.3, 7.7, 7.8).
// The flat weight vector is the concatenation of these tensors, row-major, in this order;
// deltas, hashes and the outer step all work on that vector.
import { DOMAINS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'
import type { ClassifierSpec, ModelSpec } from '../wire/genesis.js'

export type ParameterInit = 'uniform' | 'ones' | 'zeros'

export interface ParameterSpec {
  name: string
  shape: number[]
  init: ParameterInit
  /** Decoupled weight decay applies to matrices only, never to gains, biases or embeddings. */
  decay: boolean
}

export function parameterLayout(spec: ModelSpec): ParameterSpec[] {
  if (spec.kind === 'mlp-classifier') return classifierLayout(spec)
  const { vocabSize: v, contextLength: t, dModel: d, layers, mlpHidden: m } = spec
  const layout: ParameterSpec[] = [
    { name: 'tok_embedding', shape: [v, d], init: 'uniform', decay: false },
    { name: 'pos_embedding', shape: [t, d], init: 'uniform', decay: false },
  ]
  for (let l = 0; l < layers; l++) {
    layout.push(
      { name: `layer${l}.ln1.gamma`, shape: [d], init: 'ones', decay: false },
      { name: `layer${l}.ln1.beta`, shape: [d], init: 'zeros', decay: false },
      { name: `layer${l}.attn.qkv`, shape: [d, 3 * d], init: 'uniform', decay: true },
      { name: `layer${l}.attn.proj`, shape: [d, d], init: 'uniform', decay: true },
      { name: `layer${l}.ln2.gamma`, shape: [d], init: 'ones', decay: false },
      { name: `layer${l}.ln2.beta`, shape: [d], init: 'zeros', decay: false },
      { name: `layer${l}.mlp.fc`, shape: [d, m], init: 'uniform', decay: true },
      { name: `layer${l}.mlp.fc_bias`, shape: [m], init: 'zeros', decay: false },
      { name: `layer${l}.mlp.proj`, shape: [m, d], init: 'uniform', decay: true },
      { name: `layer${l}.mlp.proj_bias`, shape: [d], init: 'zeros', decay: false },
    )
  }
  layout.push(
    { name: 'ln_f.gamma', shape: [d], init: 'ones', decay: false },
    { name: 'ln_f.beta', shape: [d], init: 'zeros', decay: false },
  )
  // a GPT ties its output head to tok_embedding (SPEC.md 7.8)
  if (spec.kind === 'char-transformer')
    layout.push({ name: 'head', shape: [d, v], init: 'uniform', decay: true })
  return layout
}

/** The MLP (SPEC.md 7.7): per layer, its [in, out] weight matrix then its bias. */
function classifierLayout(spec: ClassifierSpec): ParameterSpec[] {
  const widths = [spec.inputSize, ...spec.hiddenSizes, spec.classes]
  const layout: ParameterSpec[] = []
  for (let l = 0; l + 1 < widths.length; l++) {
    layout.push(
      { name: `fc${l}.weight`, shape: [widths[l], widths[l + 1]], init: 'uniform', decay: true },
      { name: `fc${l}.bias`, shape: [widths[l + 1]], init: 'zeros', decay: false },
    )
  }
  return layout
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

export function parameterCount(spec: ModelSpec): number {
  return parameterLayout(spec).reduce((sum, p) => sum + sizeOf(p.shape), 0)
}

/**
 * Initial weights (SPEC.md 7.3): one HashStream (domain init, seed = UTF-8 of model.initSeed)
 * read in layout order; every 'uniform' value is a * u with u = nextSymmetricUnit() and
 * a = float32(initStd * sqrt(3)) (a uniform distribution with standard deviation initStd).
 * Exact in binary32, so every node and every implementation gets the same bits.
 */
export function initialWeights(spec: ModelSpec): Float32Array {
  const layout = parameterLayout(spec)
  const out = new Float32Array(parameterCount(spec))
  const stream = new HashStream(DOMAINS.init, new TextEncoder().encode(spec.initSeed))
  const amplitude = Math.fround(spec.initStd * Math.sqrt(3))
  let offset = 0
  for (const p of layout) {
    const size = sizeOf(p.shape)
    if (p.init === 'ones') out.fill(1, offset, offset + size)
    if (p.init === 'uniform') {
      for (let i = offset; i < offset + size; i++)
        out[i] = Math.fround(amplitude * stream.nextSymmetricUnit())
    }
    offset += size
  }
  return out
}
