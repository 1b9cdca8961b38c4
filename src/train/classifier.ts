// The MLP classifier in TensorFlow.js (SPEC.md 7.7): x -> relu(x W0 + b0) -> ... -> logits;
// mean softmax cross-entropy against the class labels.
import * as tf from '@tensorflow/tfjs'
import type { ClassifierSpec } from '../wire/genesis.js'
import { type BatchInputs, FlatModel } from './flat-model.js'

export class MlpClassifier extends FlatModel {
  constructor(override readonly spec: ClassifierSpec) {
    super(spec)
  }

  loss(inputs: BatchInputs, targets: Int32Array): tf.Scalar {
    return tf.tidy(() => {
      const labels = tf.oneHot(tf.tensor1d(targets, 'int32'), this.spec.classes)
      return tf.losses.softmaxCrossEntropy(labels, this.logits(inputs, targets.length)) as tf.Scalar
    })
  }

  /** How many samples of the batch the model classifies right (the largest logit, first on ties). */
  correct(inputs: BatchInputs, targets: Int32Array): number {
    const predicted = tf.tidy(() => tf.argMax(this.logits(inputs, targets.length), 1))
    const classes = predicted.dataSync()
    predicted.dispose()
    let right = 0
    for (let i = 0; i < targets.length; i++) if (classes[i] === targets[i]) right++
    return right
  }

  private logits(inputs: BatchInputs, batch: number): tf.Tensor2D {
    const layers = this.variables.length / 2
    let x = tf.tensor2d(
      inputs instanceof Float32Array ? inputs : Float32Array.from(inputs),
      [batch, this.spec.inputSize],
      'float32',
    )
    for (let l = 0; l < layers; l++) {
      x = tf.add(tf.matMul(x, this.variables[2 * l] as tf.Tensor2D), this.variables[2 * l + 1])
      if (l + 1 < layers) x = tf.relu(x)
    }
    return x
  }
}
