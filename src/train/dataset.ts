// What the trainer reads samples from (SPEC.md 7.4, 7.5, 7.7): a text corpus cut into windows of
// contextLength + 1 tokens, or a set of classification examples. A sample is named by its
// position: a window's first token, or an example's index; trainingOffsets and evalOffsets draw
// positions below length - span, so one function gives every node and every auditor the batches.
import type { Genesis } from '../wire/genesis.js'
import { sampleSpan, tokenizerOf } from '../wire/genesis.js'
import { type Batch, windowsAt } from './batches.js'
import { type Corpus, loadCorpus } from './corpus.js'
import { type Examples, mnistByClass, splitExamples, syntheticByClass } from './examples.js'

export interface Dataset {
  /** items in the training split: tokens or examples */
  readonly trainLength: number
  readonly heldOutLength: number
  /** sampleSpan(model): positions are drawn below length - span */
  readonly span: number
  /** the samples at these positions of one split, in order */
  batch(split: 'train' | 'heldOut', positions: readonly number[]): Batch
}

export function textDataset(corpus: Corpus, contextLength: number): Dataset {
  return {
    trainLength: corpus.train.length,
    heldOutLength: corpus.heldOut.length,
    span: contextLength,
    batch: (split, positions) => windowsAt(corpus[split], positions, contextLength),
  }
}

export function exampleDataset(split: { train: Examples; heldOut: Examples }): Dataset {
  return {
    trainLength: split.train.count,
    heldOutLength: split.heldOut.count,
    span: 0,
    batch: (which, positions) => {
      const set = split[which]
      const inputs = new Float32Array(positions.length * set.inputSize)
      const targets = new Int32Array(positions.length)
      positions.forEach((at, b) => {
        inputs.set(set.features.subarray(at * set.inputSize, (at + 1) * set.inputSize), b * set.inputSize)
        targets[b] = set.labels[at]
      })
      return { inputs, targets, offsets: [...positions] }
    },
  }
}

/** The dataset a genesis names; `dataPath` is the node's copy of a 'text' dataset. */
export function loadDataset(genesis: Genesis, dataPath?: string): Dataset {
  const { model, dataset } = genesis
  if (model.kind !== 'mlp-classifier')
    return textDataset(loadCorpus(dataset, dataPath, tokenizerOf(model)), sampleSpan(model))
  const byClass =
    dataset.source === 'mnist' ? mnistByClass() : syntheticByClass(model.inputSize, model.classes)
  return exampleDataset(splitExamples(byClass, dataset.heldOutFraction))
}

/** A text corpus as the dataset of a transformer genesis; a dataset as it is. */
export function asDataset(data: Dataset | Corpus, genesis: Genesis): Dataset {
  return 'batch' in data ? data : textDataset(data, sampleSpan(genesis.model))
}
