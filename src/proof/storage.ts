// What a node's proofs and state take on its disk per round (SPEC.md 17.1), for the disk
// preflight of `dtrain start` (store/state-dir.ts).

import { encodedDeltaSize } from '../codec/delta.js'
import { stateSize } from '../codec/state.js'
import { LIMITS } from '../constants.js'
import { parameterCount } from '../train/parameters.js'
import { isLargeModel } from '../util/gc.js'
import { encodeOptionsFor, type Genesis } from '../wire/genesis.js'
import { residualInUse } from './audit.js'
import { checkpointSteps } from './manifest.js'

/** What a node keeps in its state directory, by kind (bytes). */
export interface DiskUse {
  /** one round's proof (kept for --proof-retention rounds) */
  proof: number
  /** the state file (written beside the old one) */
  state: number
  /** the deltas and states it serves, kept for keptDeltaRounds rounds (store/delta-store.ts) */
  objects: number
  /** the residual a large model's node parks between rounds (GlobalState.parkResidual); 0: none */
  parked: number
}

/**
 * The bytes a node writes into its state directory: per round the proof (SPEC.md 17.1: (c + 1)
 * checkpoints of 16 + 12 d bytes, plus the residual with error feedback); its state file (the
 * global state and the optimizer moments, about 6 d floats); and the objects it serves, for
 * keptDeltaRounds rounds its global state (12.1) and the deltas of `expectedPeers` peers (6.7);
 * and the residual a large model's node parks in a file of its own (4 d bytes). An estimate for
 * the preflight; the retention keeps `retention` rounds of proofs.
 */
export function bytesPerRound(genesis: Genesis): DiskUse {
  const d = parameterCount(genesis.model)
  const checkpoints = checkpointSteps(genesis.inner.steps, genesis.proof.checkpointInterval).length
  const residual = residualInUse(genesis) ? 4 * d : 0
  const delta = encodedDeltaSize(d, encodeOptionsFor(genesis.delta, d))
  return {
    proof: checkpoints * (16 + 12 * d) + residual,
    state: 4 * 6 * d + 1024,
    objects: LIMITS.keptDeltaRounds * (stateSize(d) + genesis.round.expectedPeers * delta),
    parked: isLargeModel(d) ? residual : 0,
  }
}
