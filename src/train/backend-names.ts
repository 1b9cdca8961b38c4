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
export type TorchBackend = 'torch-cuda' | 'torch-cpu'

export function isTorchBackend(backend: string): backend is TorchBackend {
  return backend === 'torch-cuda' || backend === 'torch-cpu'
}
