// What the models have in common (SPEC.md 7.3): tfjs variables in a fixed parameter layout,
// exchanged with the rest of the node as one flat Float32Array, and a loss whose gradient the
// inner loop takes. The architectures subclass it (model.ts, classifier.ts).
import * as tf from '@tensorflow/tfjs'
import type { ModelSpec } from '../wire/genesis.js'
import { type ParameterSpec, parameterCount, parameterLayout, sizeOf } from './parameters.js'

/** A batch's inputs: token ids (the transformer) or feature values (the classifier). */
export type BatchInputs = Int32Array | Float32Array

export abstract class FlatModel {
  readonly layout: ParameterSpec[]
  readonly parameterCount: number
  readonly variables: tf.Variable[]

  constructor(readonly spec: ModelSpec) {
    this.layout = parameterLayout(spec)
    this.parameterCount = parameterCount(spec)
    this.variables = this.layout.map((p) => tf.variable(tf.zeros(p.shape), true))
  }

  /** Mean cross-entropy (nats) of a batch: inputs per sample, targets one class or token each. */
  abstract loss(inputs: BatchInputs, targets: Int32Array): tf.Scalar

  /** Loads a flat weight vector (layout order) into the variables. */
  setWeights(weights: Float32Array): void {
    if (weights.length !== this.parameterCount) {
      throw new RangeError(`weights have ${weights.length} values, the model ${this.parameterCount}`)
    }
    let offset = 0
    this.layout.forEach((p, i) => {
      const size = sizeOf(p.shape)
      tf.tidy(() =>
        this.variables[i].assign(tf.tensor(weights.subarray(offset, offset + size), p.shape, 'float32')),
      )
      offset += size
    })
  }

  /** Reads the variables into one flat weight vector (layout order). */
  getWeights(): Float32Array {
    const out = new Float32Array(this.parameterCount)
    let offset = 0
    for (const variable of this.variables) {
      const values = variable.dataSync() as Float32Array
      out.set(values, offset)
      offset += values.length
    }
    return out
  }

  /**
   * Loss and gradient of the current weights on a batch, the gradient flattened in the parameter
   * layout (SPEC.md 7.3), as a worker or the trainer computes each micro-batch's (SPEC.md 7.5).
   */
  lossAndGradient(inputs: BatchInputs, targets: Int32Array): { loss: number; gradient: Float32Array } {
    const gradient = new Float32Array(this.parameterCount)
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => this.loss(inputs, targets), this.variables)
      let offset = 0
      for (const v of this.variables) {
        const g = grads[v.name].dataSync() as Float32Array
        gradient.set(g, offset)
        offset += g.length
      }
      return value
    })
    const value = loss.dataSync()[0]
    loss.dispose()
    return { loss: value, gradient }
  }

  dispose(): void {
    for (const variable of this.variables) variable.dispose()
  }
}
