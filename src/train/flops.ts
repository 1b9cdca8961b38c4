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

/** The arithmetic a trainer's matrix products run in, which picks the GPU peak MFU is against. */
export type Arithmetic = 'tf32' | 'fp32' | 'bf16'

/**
 * Dense peak TFLOPS by arithmetic, from the vendors' data sheets (without sparsity). tf32: what
 * tfjs-node-gpu runs float32 matrix products as (libtensorflow's default, tensor cores from Ampere
 * on; plain FP32 before). fp32: the CUDA cores, what torch-cuda runs float32 in (dtrain turns TF32
 * off, so that float32 means float32). bf16: tensor cores with float32 accumulation, torch-cuda
 * under bf16 autocast. Keyed by a substring of nvidia-smi's name, first match.
 */
export const GPU_PEAK_TFLOPS: ReadonlyArray<[string, Record<Arithmetic, number | undefined>]> = [
  ['H200', { tf32: 494.7, fp32: 67, bf16: 989.4 }],
  ['H100 PCIe', { tf32: 378, fp32: 51.2, bf16: 756 }],
  ['H100', { tf32: 494.7, fp32: 67, bf16: 989.4 }],
  ['A100', { tf32: 156, fp32: 19.5, bf16: 312 }],
  ['L40S', { tf32: 183, fp32: 91.6, bf16: 362 }],
  ['L4', { tf32: 60, fp32: 30.3, bf16: 121 }],
  ['A10G', { tf32: 35, fp32: 31.2, bf16: 70 }],
  ['A10', { tf32: 62.5, fp32: 31.2, bf16: 125 }],
  ['RTX 4090', { tf32: 82.6, fp32: 82.6, bf16: 165.2 }],
  ['RTX 4080', { tf32: 48.7, fp32: 48.7, bf16: 97.5 }],
  ['RTX 4070', { tf32: 29.1, fp32: 29.1, bf16: 58.3 }],
  ['RTX 3090', { tf32: 35.6, fp32: 35.6, bf16: 71 }],
  ['RTX 3080', { tf32: 29.8, fp32: 29.8, bf16: 59.5 }],
  ['RTX 3070', { tf32: 20.3, fp32: 20.3, bf16: 40.6 }],
  ['RTX 3060', { tf32: 12.7, fp32: 12.7, bf16: 25.4 }],
  ['V100', { tf32: 15.7, fp32: 15.7, bf16: undefined }],
  ['T4', { tf32: 8.1, fp32: 8.1, bf16: undefined }],
]

export function peakTflopsOf(gpuName: string, arithmetic: Arithmetic = 'tf32'): number | undefined {
  return GPU_PEAK_TFLOPS.find(([key]) => gpuName.includes(key))?.[1][arithmetic]
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
