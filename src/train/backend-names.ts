// The training backends' names (backend.ts chooses among them), apart from the backends
// themselves: the CLI parses its options without loading TensorFlow.js.

export const BACKEND_NAMES = [
  'auto',
  'torch-cuda',
  'tensorflow-gpu',
  'torch-cpu',
  'tensorflow',
  'wasm',
  'cpu',
] as const
export type BackendName = (typeof BACKEND_NAMES)[number]

/** The --backend option's help. */
export const BACKEND_HELP =
  'training backend; auto tries torch-cuda, tensorflow-gpu, torch-cpu, tensorflow, wasm, cpu in that order'
export type ConcreteBackend = Exclude<BackendName, 'auto'>

/** The backends a node trains on, and a proof header may name (SPEC.md 17.2). */
export const TRAINING_BACKENDS = BACKEND_NAMES.filter((b): b is ConcreteBackend => b !== 'auto')

/**
 * The backends `dtrain init` admits in a new run's genesis (proof.backends, SPEC.md 17.6): those
 * whose replay tolerance is measured, and torch-cuda for the GPU owners. The TensorFlow.js native
 * backends are left out: nobody can install them any more, and a claim of one would buy the wide
 * unmeasured tolerance.
 */
export const DEFAULT_ADMITTED_BACKENDS: readonly ConcreteBackend[] = [
  'torch-cuda',
  'torch-cpu',
  'wasm',
  'cpu',
]
export type TorchBackend = 'torch-cuda' | 'torch-cpu'

export function isTorchBackend(backend: string): backend is TorchBackend {
  return backend === 'torch-cuda' || backend === 'torch-cpu'
}
