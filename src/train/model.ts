// The character-level transformer in TensorFlow.js (SPEC.md 7.2 gives the architecture).
// Pre-norm GPT blocks: x + attn(ln1(x)), then x + mlp(ln2(x)); causal attention; GELU
// (sigmoid approximation x * sigmoid(1.702 x)); untied output head.
// The embedding is one-hot times the matrix, because the wasm backend lacks the gradient
// kernel of tf.gather (UnsortedSegmentSum).
import * as tf from '@tensorflow/tfjs'
import type { ModelSpec } from '../wire/genesis.js'
import { type ParameterSpec, parameterCount, parameterLayout, sizeOf } from './parameters.js'

export class CharTransformer {
  readonly layout: ParameterSpec[]
  readonly parameterCount: number
  readonly variables: tf.Variable[]
  private readonly causalMask: tf.Tensor2D

  constructor(readonly spec: ModelSpec) {
    this.layout = parameterLayout(spec)
    this.parameterCount = parameterCount(spec)
    this.variables = this.layout.map((p) => tf.variable(tf.zeros(p.shape), true))
    const t = spec.contextLength
    this.causalMask = tf.tidy(() => {
      const lower = tf.linalg.bandPart(tf.ones([t, t]), -1, 0)
      return tf.mul(tf.sub(1, lower), -1e9) as tf.Tensor2D
    })
  }

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
  lossAndGradient(inputs: Int32Array, targets: Int32Array): { loss: number; gradient: Float32Array } {
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

  /** Mean next-token cross-entropy (nats) of a batch; inputs and targets are [batch * context]. */
  loss(inputs: Int32Array, targets: Int32Array): tf.Scalar {
    const { contextLength: t, vocabSize: v } = this.spec
    const batch = inputs.length / t
    return tf.tidy(() => {
      const logits = this.logits(tf.tensor2d(inputs, [batch, t], 'int32'))
      const labels = tf.oneHot(tf.tensor1d(targets, 'int32'), v)
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar
    })
  }

  private logits(tokens: tf.Tensor2D): tf.Tensor2D {
    const { contextLength: t, dModel: d, heads, layers, vocabSize: v } = this.spec
    const batch = tokens.shape[0]
    const dh = d / heads
    const vars = this.variables
    let k = 0
    const next = (): tf.Variable => vars[k++]
    const tokEmbedding = next()
    const posEmbedding = next()
    const oneHot = tf.oneHot(tokens.reshape([batch * t]), v).toFloat()
    let x = tf.add(tf.matMul(oneHot, tokEmbedding).reshape([batch, t, d]), posEmbedding) as tf.Tensor3D
    for (let l = 0; l < layers; l++) {
      const [ln1g, ln1b, qkvW, projW, ln2g, ln2b, fcW, fcB, mlpW, mlpB] = [
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
      ]
      const h = layerNorm(x, ln1g, ln1b).reshape([batch * t, d])
      const qkv = tf.matMul(h, qkvW).reshape([batch, t, 3, heads, dh]).transpose([2, 0, 3, 1, 4])
      const [q, kk, vv] = tf.split(qkv, 3, 0).map((part) => part.reshape([batch * heads, t, dh]))
      const scores = tf.add(tf.mul(tf.matMul(q, kk, false, true), 1 / Math.sqrt(dh)), this.causalMask)
      const attended = tf
        .matMul(tf.softmax(scores), vv)
        .reshape([batch, heads, t, dh])
        .transpose([0, 2, 1, 3])
        .reshape([batch * t, d])
      x = tf.add(x, tf.matMul(attended, projW).reshape([batch, t, d])) as tf.Tensor3D
      const h2 = layerNorm(x, ln2g, ln2b).reshape([batch * t, d])
      const hidden = gelu(tf.add(tf.matMul(h2, fcW), fcB))
      x = tf.add(x, tf.add(tf.matMul(hidden, mlpW), mlpB).reshape([batch, t, d])) as tf.Tensor3D
    }
    const lnfG = next()
    const lnfB = next()
    const head = next()
    return tf.matMul(layerNorm(x, lnfG, lnfB).reshape([batch * t, d]), head)
  }

  dispose(): void {
    for (const variable of this.variables) variable.dispose()
    this.causalMask.dispose()
  }
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true)
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta)
}

function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)))
}
