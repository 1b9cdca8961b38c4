// What a node's proofs and state take on its disk per round (SPEC.md 17.1), for the disk
// preflight of `dtrain start` (store/state-dir.ts).

import { parameterCount } from '../train/parameters.js'
import type { Genesis } from '../wire/genesis.js'
import { residualInUse } from './audit.js'
import { checkpointSteps } from './manifest.js'

/**
 * The bytes a node writes per round into its state directory: the proof (SPEC.md 17.1:
 * (c + 1) checkpoints of 16 + 12 d bytes, plus the residual with error feedback) and its state
 * file (the global state and the optimizer moments, about 5 d floats). An estimate for the
 * preflight; the retention keeps `retention` rounds of proofs.
 */
export function bytesPerRound(genesis: Genesis): { proof: number; state: number } {
  const d = parameterCount(genesis.model)
  const checkpoints = checkpointSteps(genesis.inner.steps, genesis.proof.checkpointInterval).length
  const residual = residualInUse(genesis) ? 4 * d : 0
  return { proof: checkpoints * (16 + 12 * d) + residual, state: 4 * 6 * d + 1024 }
}
