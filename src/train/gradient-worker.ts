// A training worker thread (src/train/worker-pool.ts): holds a replica of the model on its own
// tfjs backend and computes the loss and gradient of the micro-batches it is sent, at the weights
// sent with them.
import '../polyfill.js'
import { parentPort, workerData } from 'node:worker_threads'
import type { ModelSpec } from '../wire/genesis.js'
import { selectBackend } from './backend.js'
import type { BackendName } from './backend-names.js'
import { createModel } from './model.js'

interface Init {
  model: ModelSpec
  backend: BackendName
}

export interface GradientRequest {
  id: number
  weights: Float32Array
  inputs: Int32Array | Float32Array
  targets: Int32Array
}

const init = workerData as Init
await selectBackend(init.backend)
const model = createModel(init.model)
parentPort!.on('message', (request: GradientRequest) => {
  try {
    model.setWeights(request.weights)
    const { loss, gradient } = model.lossAndGradient(request.inputs, request.targets)
    parentPort!.postMessage({ id: request.id, loss, gradient }, [gradient.buffer as ArrayBuffer])
  } catch (err) {
    parentPort!.postMessage({ id: request.id, error: (err as Error).message })
  }
})
parentPort!.postMessage({ ready: true })
