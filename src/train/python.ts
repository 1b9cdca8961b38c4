// Finding a Python with PyTorch for the torch backends (issue 16). The probe runs the worker with
// --probe (src/train/torch/worker.py) and reads one JSON line: the Python, torch's version, whether
// torch is recent enough and whether it sees a CUDA device. Probes are cached per interpreter for
// the life of the process (a testnet in one process probes once).
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** What a Python with torch reported. */
export interface TorchProbe {
  /** the interpreter as it was started (a name on PATH or a path) */
  python: string
  /** its sys.executable */
  executable: string
  torch: string
  cuda: boolean
  cudaName?: string
  /** total bytes of CUDA device 0 */
  cudaMemory?: number
  /** bytes free on CUDA device 0 when probed */
  cudaFree?: number
  bf16?: boolean
  /** torch has scaled_dot_product_attention (2.0 and later) */
  sdpa: boolean
}

export interface TorchSearch {
  found?: TorchProbe
  /** every interpreter tried before the one found (or all of them), with why it was passed over */
  tried: Array<{ python: string; reason: string }>
}

/** The oldest torch the worker supports: Debian bookworm's python3-torch. */
export const MIN_TORCH_VERSION = '1.13'

export const TORCH_INSTALL_HINT =
  'install PyTorch: on Debian or Ubuntu `apt-get install python3-torch libopenblas0-pthread` (CPU), or `pip install torch` (CUDA builds: pytorch.org), or name a Python that has it with --python'

/** Interpreters tried when none is named: python3 on PATH, then the system's. */
const DEFAULT_PYTHONS = ['python3', '/usr/bin/python3']

/** The worker script: beside this module in src/, or src/ seen from the build in dist/. */
export function workerScript(): string {
  const beside = fileURLToPath(new URL('./torch/worker.py', import.meta.url))
  if (existsSync(beside)) return beside
  return fileURLToPath(new URL('../../../src/train/torch/worker.py', import.meta.url))
}

const probes = new Map<string, Promise<TorchProbe | { reason: string }>>()

function probeOne(python: string): Promise<TorchProbe | { reason: string }> {
  let cached = probes.get(python)
  if (!cached) {
    cached = new Promise((resolve) => {
      execFile(
        python,
        [workerScript(), '--probe'],
        { timeout: 120_000, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
            return resolve({ reason: `${python}: not found` })
          let report: Record<string, unknown>
          try {
            report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '')
          } catch {
            const why = (stderr || (err as Error | null)?.message || 'no output').trim().split('\n').at(-1)
            return resolve({ reason: `${python}: the torch probe failed (${why})` })
          }
          if (typeof report.error === 'string')
            return resolve({ reason: `${python} (${report.executable}): torch missing (${report.error})` })
          if (report.supported !== true)
            return resolve({
              reason: `${python}: torch ${report.torch} is older than the supported ${MIN_TORCH_VERSION}`,
            })
          resolve({
            python,
            executable: String(report.executable),
            torch: String(report.torch),
            cuda: report.cuda === true,
            cudaName: typeof report.cudaName === 'string' ? report.cudaName : undefined,
            cudaMemory: typeof report.cudaMemory === 'number' ? report.cudaMemory : undefined,
            cudaFree: typeof report.cudaFree === 'number' ? report.cudaFree : undefined,
            bf16: report.bf16 === true,
            sdpa: report.sdpa === true,
          })
        },
      )
    })
    probes.set(python, cached)
  }
  return cached
}

/** The first interpreter with a supported torch: `python` alone when given, else python3, /usr/bin/python3. */
export async function findTorch(python?: string): Promise<TorchSearch> {
  const tried: TorchSearch['tried'] = []
  for (const candidate of python ? [python] : DEFAULT_PYTHONS) {
    const result = await probeOne(candidate)
    if ('reason' in result) tried.push({ python: candidate, reason: result.reason })
    else return { found: result, tried }
  }
  return { tried }
}
