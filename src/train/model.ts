// The language models in TensorFlow.js: the character-level transformer (SPEC.md 7.2) and the
// GPT (7.8). Pre-norm GPT blocks: x + attn(ln1(x)), then x + mlp(ln2(x)); causal attention; GELU
// (the char-transformer's sigmoid approximation x * sigmoid(1.702 x), the GPT's tanh
// approximation); an untied output head, or (GPT) the embedding transposed.
// The embedding is one-hot times the matrix, because the wasm backend lacks the gradient
// kernel of tf.gather (UnsortedSegmentSum).
import * as tf from '@tensorflow/tfjs'
import type { LanguageModelSpec, ModelSpec } from '../wire/genesis.js'
import { MlpClassifier } from './classifier.js'
import { type BatchInputs, FlatModel } from './flat-model.js'

export class CharTransformer extends FlatModel {
  private readonly causalMask: tf.Tensor2D

  constructor(override readonly spec: LanguageModelSpec) {
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
      const preActivation = tf.add(tf.matMul(h2, fcW), fcB)
      const hidden = this.spec.kind === 'gpt' ? geluTanh(preActivation) : gelu(preActivation)
      x = tf.add(x, tf.add(tf.matMul(hidden, mlpW), mlpB).reshape([batch, t, d])) as tf.Tensor3D
    }
    const lnfG = next()
    const lnfB = next()
    const normed = layerNorm(x, lnfG, lnfB).reshape([batch * t, d]) as tf.Tensor2D
    // a GPT's head is its embedding transposed (SPEC.md 7.8)
    if (this.spec.kind === 'gpt') return tf.matMul(normed, tokEmbedding, false, true)
    return tf.matMul(normed, next())
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

/** GPT-2's GELU: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), as torch's approximate='tanh'. */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1))
}

/** The model a genesis names (SPEC.md 7.2, 7.7, 7.8). */
export function createModel(spec: ModelSpec): CharTransformer | MlpClassifier {
  return spec.kind === 'mlp-classifier' ? new MlpClassifier(spec) : new CharTransformer(spec)
}
