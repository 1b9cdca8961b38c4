// Model FLOPs per training sample and the MFU figure (src/train/flops.ts).
import { describe, expect, it } from 'vitest'
import { positiveNumber } from '../../src/cli/parse.js'
import { modelFlopsUtilisation, peakTflopsOf, trainingFlopsPerSample } from '../../src/train/flops.js'
import { parameterLayout, sizeOf } from '../../src/train/parameters.js'
import { defaultGenesis, transformerOf } from '../../src/wire/genesis.js'

describe('model FLOPs', () => {
  it('an MLP trains with 6 FLOPs per weight per example', () => {
    const model = defaultGenesis({ preset: 'mlp' }).model
    expect(trainingFlopsPerSample(model)).toBe(6 * (784 * 256 + 256 * 256 + 256 * 10))
  })

  it('a transformer: 6 FLOPs per matrix weight per token, plus attention over the context', () => {
    const genesis = defaultGenesis({ preset: 'small' })
    const m = transformerOf(genesis, 'test')
    // every 2-D parameter except the position table is multiplied with each token (the token
    // table through the one-hot product)
    const matrixWeights = parameterLayout(m)
      .filter((p) => p.shape.length === 2 && p.name !== 'pos_embedding')
      .reduce((n, p) => n + sizeOf(p.shape), 0)
    const attention = 2 * m.layers * m.contextLength * m.dModel // scores and weighted sum, per token
    expect(trainingFlopsPerSample(m)).toBe(6 * (matrixWeights + attention) * m.contextLength)
  })

  it('MFU is achieved FLOPs over the peak of the GPU named by nvidia-smi', () => {
    expect(peakTflopsOf('NVIDIA H100 80GB HBM3')).toBe(494.7)
    expect(peakTflopsOf('NVIDIA H100 PCIe')).toBe(378)
    expect(peakTflopsOf('NVIDIA GeForce RTX 4090')).toBe(82.6)
    expect(peakTflopsOf('Tesla T4')).toBe(8.1)
    expect(peakTflopsOf('Some Future GPU')).toBeUndefined()
    // torch-cuda: FP32 on the CUDA cores (TF32 off), or bf16 on the tensor cores
    expect(peakTflopsOf('NVIDIA H100 80GB HBM3', 'fp32')).toBe(67)
    expect(peakTflopsOf('NVIDIA H200', 'bf16')).toBe(989.4)
    expect(peakTflopsOf('Tesla T4', 'bf16')).toBeUndefined()
    expect(modelFlopsUtilisation(1000, 2e9, 100)).toBeCloseTo(0.02, 12)
  })

  it('--gpu-peak-tflops takes a positive number and names itself when refused', () => {
    const parse = positiveNumber('--gpu-peak-tflops')
    expect(parse('82.6')).toBe(82.6)
    expect(() => parse('0')).toThrow('--gpu-peak-tflops must be a number > 0 (got 0)')
    expect(() => parse('fast')).toThrow(/got fast/)
  })
})
