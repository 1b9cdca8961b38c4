// The GPU peak that a node's model FLOPs utilisation is reported against (RoundReport.mfu).

import type { Logger } from 'pino'
import type { BackendChoice } from '../train/backend.js'
import { gpuName, peakTflopsOf, trainingFlopsPerSample } from '../train/flops.js'
import type { NodeOptions } from './options.js'

/** The peak in TFLOPS, or null: no GPU backend, or a GPU whose peak is unknown (said in the log). */
export function gpuPeakFor(
  options: Pick<NodeOptions, 'gpuPeakTflops' | 'genesis'>,
  backend: BackendChoice,
  precision: 'fp32' | 'bf16',
  log: Logger,
): number | null {
  if (backend.backend !== 'tensorflow-gpu' && backend.backend !== 'torch-cuda') return null
  const gpu = backend.torch?.cudaName ?? gpuName()
  // the arithmetic the matrix products run in: TF32 (tfjs-node-gpu), FP32 or bf16 (torch-cuda)
  const arithmetic = backend.backend === 'tensorflow-gpu' ? 'tf32' : precision === 'bf16' ? 'bf16' : 'fp32'
  const peak = options.gpuPeakTflops ?? (gpu ? (peakTflopsOf(gpu, arithmetic) ?? null) : null)
  if (peak === null)
    log.warn(
      { gpu: gpu ?? 'unknown' },
      'model FLOPs utilisation not reported: the GPU peak is unknown; give it with --gpu-peak-tflops',
    )
  else
    log.info(
      {
        gpu: gpu ?? 'unknown',
        peakTflops: peak,
        flopsPerSample: trainingFlopsPerSample(options.genesis.model),
      },
      'reporting model FLOPs utilisation',
    )
  return peak
}
