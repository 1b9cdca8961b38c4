// The global state's weights hash (src/round/global-state.ts): computed once per weight vector,
// and always the hash of the weights the state holds now.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { encodeState } from '../../src/codec/state.js'
import { toHex, weightsHash } from '../../src/crypto/hash.js'
import { CommitBook } from '../../src/round/commit-book.js'
import { GlobalState } from '../../src/round/global-state.js'
import { DeltaStore } from '../../src/store/delta-store.js'

describe('GlobalState', () => {
  it('hashes the weights it holds, after an outer step and after adopting a state', () => {
    const trainer = { optimizerState: async () => ({}) as never, setOptimizerState: async () => {} }
    const g = new GlobalState(
      {
        runId: new Uint8Array(32),
        store: new DeltaStore(),
        commits: new CommitBook({ self: 'me', expectedPeers: 1, faults: 0, maxTracked: 10 }),
        trainer,
        logger: pino({ level: 'silent' }),
      },
      { weights: Float32Array.from([1, 2, 3]) },
    )
    expect(g.weightsHashHex).toBe(toHex(weightsHash(Float32Array.from([1, 2, 3]))))
    expect(g.weightsHash).toBe(g.weightsHash) // one computation per weight vector
    g.state = { weights: Float32Array.from([4, 5, 6]), momentum: new Float32Array(3) }
    expect(g.weightsHashHex).toBe(toHex(weightsHash(Float32Array.from([4, 5, 6]))))
    const weights = Float32Array.from([7, 8, 9])
    const encoded = encodeState({
      round: 2,
      weights,
      momentum: new Float32Array(3),
      reference: new Float32Array(3),
    })
    g.adopt(encoded, { round: 2, weightsHash: toHex(weightsHash(weights)) })
    expect(g.weightsHashHex).toBe(toHex(weightsHash(weights)))
    expect(g.round).toBe(3)
  })
})
