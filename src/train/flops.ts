// Model FLOPs and model FLOPs utilisation (MFU): the training FLOPs a model needs per sample,
// counted from its architecture, against the peak of the GPU it runs on. The count is of the
// matrix products the model computes (a forward pass is 2 FLOPs per multiply-add; a training step
// is 3 forward passes: forward, and the gradients of inputs and weights), as in Chowdhery et al.
// 2022 (PaLM, appendix B); element-wise work (norms, activations, softmax) is left out.
import { execFileSync } from 'node:child_process'
import type { ModelSpec } from '../wire/genesis.js'

/** Training FLOPs of one sample: a window of contextLength tokens, or one example. */
export function trainingFlopsPerSample(spec: ModelSpec): number {
  if (spec.kind === 'mlp-classifier') {
    const widths = [spec.inputSize, ...spec.hiddenSizes, spec.classes]
    let macs = 0
    for (let l = 0; l + 1 < widths.length; l++) macs += widths[l] * widths[l + 1]
    return 3 * 2 * macs
  }
  const { vocabSize: v, contextLength: t, dModel: d, layers, mlpHidden: m } = spec
  // per token: the char-transformer's one-hot embedding product (SPEC.md 7.2; a GPT looks its
  // embedding up, 7.8), per layer qkv, projection, the two MLP matrices and attention (scores and
  // the weighted sum, t positions each: the causal mask does not save work here), then the head
  const perLayer = d * 3 * d + d * d + 2 * d * m + 2 * t * d
  const embedding = spec.kind === 'gpt' ? 0 : v * d
  const macsPerToken = embedding + layers * perLayer + d * v
  return 3 * 2 * macsPerToken * t
}

/**
 * Dense peak TFLOPS of the arithmetic tfjs uses on a GPU: float32 matrix products, which
 * libtensorflow runs as TF32 on tensor cores from Ampere on (TensorFlow's default), and as plain
 * FP32 on older GPUs. Vendor data sheets; keyed by a substring of nvidia-smi's name, first match.
 */
export const GPU_PEAK_TFLOPS: ReadonlyArray<[string, number]> = [
  ['H200', 494.7],
  ['H100 PCIe', 378],
  ['H100', 494.7],
  ['A100', 156],
  ['L40S', 183],
  ['L4', 60],
  ['A10G', 35],
  ['A10', 62.5],
  ['RTX 4090', 82.6],
  ['RTX 4080', 48.7],
  ['RTX 4070', 29.1],
  ['RTX 3090', 35.6],
  ['RTX 3080', 29.8],
  ['RTX 3070', 20.3],
  ['RTX 3060', 12.7],
  ['V100', 15.7],
  ['T4', 8.1],
]

export function peakTflopsOf(gpuName: string): number | undefined {
  return GPU_PEAK_TFLOPS.find(([key]) => gpuName.includes(key))?.[1]
}

/** The first GPU's name from nvidia-smi, or undefined when there is none. */
export function gpuName(): string | undefined {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    return out.split('\n')[0].trim() || undefined
  } catch {
    return undefined
  }
}

/** MFU: achieved model FLOPs per second over the peak. */
export function modelFlopsUtilisation(
  samplesPerSecond: number,
  flopsPerSample: number,
  peakTflops: number,
): number {
  return (samplesPerSecond * flopsPerSample) / (peakTflops * 1e12)
}
