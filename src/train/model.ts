// The character-level transformer in TensorFlow.js (SPEC.md 7.2 gives the architecture).
// Pre-norm GPT blocks: x + attn(ln1(x)), then x + mlp(ln2(x)); causal attention; GELU
// (sigmoid approximation x * sigmoid(1.702 x)); untied output head.
// The embedding is one-hot times the matrix, because the wasm backend lacks the gradient
// kernel of tf.gather (UnsortedSegmentSum).
import * as tf from '@tensorflow/tfjs'
import type { ModelSpec, TransformerSpec } from '../wire/genesis.js'
import { MlpClassifier } from './classifier.js'
import { type BatchInputs, FlatModel } from './flat-model.js'

export class CharTransformer extends FlatModel {
  private readonly causalMask: tf.Tensor2D

  constructor(override readonly spec: TransformerSpec) {
    super(spec)
    const t = spec.contextLength
    this.causalMask = tf.tidy(() => {
      const lower = tf.linalg.bandPart(tf.ones([t, t]), -1, 0)
      return tf.mul(tf.sub(1, lower), -1e9) as tf.Tensor2D
    })
  }

  /** Mean next-token cross-entropy (nats) of a batch; inputs and targets are [batch * context]. */
  loss(inputs: BatchInputs, targets: Int32Array): tf.Scalar {
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

  override dispose(): void {
    super.dispose()
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

/** The model a genesis names (SPEC.md 7.2, 7.7). */
export function createModel(spec: ModelSpec): CharTransformer | MlpClassifier {
  return spec.kind === 'char-transformer' ? new CharTransformer(spec) : new MlpClassifier(spec)
}
