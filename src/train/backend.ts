// TensorFlow.js backend selection (SPEC.md does not constrain it: training is local).
// auto tries the native GPU build, the native CPU build, WebAssembly, then pure JavaScript,
// and reports why each skipped one failed. tfjs backends are process-global, so the choice
// is made once per process.
import * as tf from '@tensorflow/tfjs'

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const
export type BackendName = (typeof BACKEND_NAMES)[number]
type ConcreteBackend = Exclude<BackendName, 'auto'>

export interface BackendChoice {
  backend: ConcreteBackend
  /** tfjs's own backend name (tensorflow, wasm or cpu) */
  tfBackend: string
  skipped: Array<{ backend: ConcreteBackend; reason: string }>
}

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError'
}

const INSTALL_HINT: Record<ConcreteBackend, string> = {
  'tensorflow-gpu':
    'install it with `npm install @tensorflow/tfjs-node-gpu` on a machine with internet access, CUDA and cuDNN (its install downloads libtensorflow)',
  tensorflow:
    'install it with `npm install @tensorflow/tfjs-node` on a machine with internet access (its install downloads libtensorflow)',
  wasm: 'reinstall dtrain (`npm ci`): @tensorflow/tfjs-backend-wasm is a regular dependency',
  cpu: 'reinstall dtrain (`npm ci`): @tensorflow/tfjs is a regular dependency',
}

const PACKAGE: Record<ConcreteBackend, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs',
}

async function load(backend: ConcreteBackend): Promise<string> {
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
let chosenFor: BackendName | undefined

/** Loads the requested backend (once per process); `auto` falls back in the documented order. */
export function selectBackend(requested: BackendName = 'auto'): Promise<BackendChoice> {
  if (chosen !== undefined) {
    if (requested !== 'auto' && chosenFor !== requested) {
      return chosen.then((c) => {
        if (c.backend !== requested) {
          throw new BackendUnavailableError(
            `this process already uses the ${c.backend} backend; cannot switch to ${requested}`,
          )
        }
        return c
      })
    }
    return chosen
  }
  chosenFor = requested
  chosen = choose(requested)
  chosen.catch(() => {
    chosen = undefined
    chosenFor = undefined
  })
  return chosen
}

async function choose(requested: BackendName): Promise<BackendChoice> {
  const order: ConcreteBackend[] =
    requested === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [requested]
  const skipped: BackendChoice['skipped'] = []
  for (const backend of order) {
    try {
      const tfBackend = await load(backend)
      await tf.ready()
      return { backend, tfBackend, skipped }
    } catch (err) {
      const reason = `${PACKAGE[backend]}: ${firstLine(err)}`
      if (requested !== 'auto') {
        throw new BackendUnavailableError(
          `backend ${backend} cannot be loaded (${reason}); ${INSTALL_HINT[backend]}`,
        )
      }
      skipped.push({ backend, reason })
    }
  }
  throw new BackendUnavailableError(
    `no tfjs backend could be loaded: ${skipped.map((s) => s.reason).join('; ')}`,
  )
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0]
}
