// Training backend selection (SPEC.md does not constrain it: training is local). PyTorch in a
// worker process (torch-cuda, torch-cpu; src/train/python.ts) or TensorFlow.js in this process
// (tensorflow-gpu, tensorflow, wasm, cpu). auto tries torch-cuda, tensorflow-gpu, torch-cpu,
// tensorflow, wasm, then cpu, and reports why it skipped each one. tfjs backends are
// process-global, so a tfjs choice is made once per process; torch runs in its own process per
// trainer.
import * as tf from '@tensorflow/tfjs'
import {
  BACKEND_NAMES,
  type BackendName,
  type ConcreteBackend,
  isTorchBackend,
  type TorchBackend,
} from './backend-names.js'
import { findTorch, TORCH_INSTALL_HINT, type TorchProbe } from './python.js'

export interface BackendChoice {
  backend: ConcreteBackend
  /** tfjs's own backend name (tensorflow, wasm or cpu); undefined for torch */
  tfBackend?: string
  /** the Python and torch found, for torch-cuda and torch-cpu */
  torch?: TorchProbe
  skipped: Array<{ backend: ConcreteBackend; reason: string }>
}

export interface BackendOptions {
  /** the Python interpreter for torch (default: python3, then /usr/bin/python3) */
  python?: string
  /** auto among the tfjs backends only: for code that trains with InnerTrainer in this process */
  tfjsOnly?: boolean
  /**
   * the backends the run admits (genesis proof.backends): auto skips the others, and asking for
   * another is refused, since its proofs would fail every audit
   */
  admitted?: readonly ConcreteBackend[]
}

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError'
  constructor(
    message: string,
    /** the short reason, as `auto` reports a skipped backend */
    readonly reason?: string,
  ) {
    super(message)
  }
}

const INSTALL_HINT: Record<ConcreteBackend, string> = {
  'torch-cuda': `${TORCH_INSTALL_HINT}; torch-cuda also needs an NVIDIA GPU, its driver and a CUDA build of torch`,
  'torch-cpu': TORCH_INSTALL_HINT,
  'tensorflow-gpu':
    'install it with `npm install @tensorflow/tfjs-node-gpu` on a machine with internet access, CUDA and cuDNN (its install downloads libtensorflow)',
  tensorflow:
    'install it with `npm install @tensorflow/tfjs-node` on a machine with internet access (its install downloads libtensorflow)',
  wasm: 'reinstall dtrain (`npm ci`): @tensorflow/tfjs-backend-wasm is a regular dependency',
  cpu: 'reinstall dtrain (`npm ci`): @tensorflow/tfjs is a regular dependency',
}

const PACKAGE: Record<ConcreteBackend, string> = {
  'torch-cuda': 'PyTorch (CUDA)',
  'torch-cpu': 'PyTorch',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs',
}

async function load(backend: Exclude<ConcreteBackend, TorchBackend>): Promise<string> {
  switch (backend) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      // Dynamic specifier: these optional packages are absent on most machines.
      const specifier = PACKAGE[backend]
      await import(specifier)
      if (!(await tf.setBackend('tensorflow'))) throw new Error('the tensorflow backend did not initialise')
      return 'tensorflow'
    }
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm')
      if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise')
      return 'wasm'
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise')
      return 'cpu'
    }
  }
}

let chosen: Promise<BackendChoice> | undefined

/**
 * Chooses the training backend: `requested`, or under `auto` the first that loads in the
 * documented order. A tfjs backend is loaded once per process; torch is probed (cached per Python).
 */
export async function selectBackend(
  requested: BackendName = 'auto',
  options: BackendOptions = {},
): Promise<BackendChoice> {
  const order: ConcreteBackend[] =
    requested === 'auto'
      ? BACKEND_NAMES.filter(
          (b): b is ConcreteBackend => b !== 'auto' && !(options.tfjsOnly && isTorchBackend(b)),
        )
      : [requested]
  const skipped: BackendChoice['skipped'] = []
  for (const backend of order) {
    if (options.admitted && !options.admitted.includes(backend)) {
      const reason = `the run admits proofs trained on ${options.admitted.join(', ')} only (genesis proof.backends)`
      if (requested !== 'auto')
        throw new BackendUnavailableError(`backend ${backend} cannot be used: ${reason}`)
      skipped.push({ backend, reason })
      continue
    }
    if (isTorchBackend(backend)) {
      const reason = await torchUnavailable(backend, options)
      if (typeof reason !== 'string') return { backend, torch: reason, skipped }
      if (requested !== 'auto')
        throw new BackendUnavailableError(
          `backend ${backend} cannot be used (${reason}); ${INSTALL_HINT[backend]}`,
        )
      skipped.push({ backend, reason })
      continue
    }
    try {
      const choice = await selectTfjs(backend)
      return { ...choice, skipped: [...skipped, ...choice.skipped] }
    } catch (err) {
      if (requested !== 'auto') throw err
      skipped.push({ backend, reason: (err as BackendUnavailableError).reason ?? firstLine(err) })
    }
  }
  throw new BackendUnavailableError(
    `no training backend could be loaded: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`,
  )
}

/** The torch found for `backend`, or why there is none. */
async function torchUnavailable(
  backend: TorchBackend,
  options: BackendOptions,
): Promise<TorchProbe | string> {
  const search = await findTorch(options.python)
  if (!search.found) return search.tried.map((t) => t.reason).join('; ')
  if (backend === 'torch-cuda' && !search.found.cuda)
    return `no CUDA device: torch ${search.found.torch} at ${search.found.executable} sees none (torch.cuda.is_available() is False)`
  return search.found
}

/** Loads one tfjs backend (once per process: tfjs backends are global). */
function selectTfjs(requested: Exclude<ConcreteBackend, TorchBackend>): Promise<BackendChoice> {
  if (chosen !== undefined) {
    return chosen.then((c) => {
      if (c.backend !== requested)
        throw new BackendUnavailableError(
          `this process already uses the ${c.backend} backend; cannot switch to ${requested}`,
          'another tfjs backend is loaded in this process',
        )
      return c
    })
  }
  chosen = loadTfjs(requested)
  chosen.catch(() => {
    chosen = undefined
  })
  return chosen
}

async function loadTfjs(backend: Exclude<ConcreteBackend, TorchBackend>): Promise<BackendChoice> {
  try {
    const tfBackend = await load(backend)
    await tf.ready()
    return { backend, tfBackend, skipped: [] }
  } catch (err) {
    const reason = `${PACKAGE[backend]}: ${firstLine(err)}`
    throw new BackendUnavailableError(
      `backend ${backend} cannot be loaded (${reason}); ${INSTALL_HINT[backend]}`,
      reason,
    )
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0]
}
