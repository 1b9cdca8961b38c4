// The node's own state file: round trip, a torn or corrupt file refused, another run's refused.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { encodeState, statePieces } from '../../src/codec/state.js'
import {
  decodeNodeState,
  encodeNodeState,
  loadNodeState,
  NODE_STATE_FILE,
  NodeStateError,
  saveNodeState,
} from '../../src/store/node-state.js'
import { tempDir } from '../fixtures/temp.js'

const d = 100
const vector = (k: number) => Float32Array.from({ length: d }, (_, i) => Math.sin(i * k))
const runId = new Uint8Array(32).fill(3)
const saved = {
  runId,
  global: encodeState({ round: 7, weights: vector(1), momentum: vector(2), reference: vector(3) }),
  optimizer: { firstMoment: vector(4), secondMoment: vector(5), step: 160 },
  residual: vector(6),
  lastProofRound: 7,
}

describe('node state file', () => {
  it('round-trips bit for bit, with and without a residual', () => {
    expect(decodeNodeState(encodeNodeState(saved))).toEqual(saved)
    const noResidual = { ...saved, residual: undefined, lastProofRound: null }
    expect(decodeNodeState(encodeNodeState(noResidual))).toEqual(noResidual)
    // The global state given as its pieces (views of its vectors) is saved byte for byte alike.
    const pieces = statePieces({ round: 7, weights: vector(1), momentum: vector(2), reference: vector(3) })
    expect(encodeNodeState({ ...saved, global: pieces })).toEqual(encodeNodeState(saved))
  })

  it('refuses a corrupt or truncated file and another run, and reads what a crash left consistent', async () => {
    const bytes = encodeNodeState(saved)
    const flipped = Uint8Array.from(bytes)
    flipped[200] ^= 1
    expect(() => decodeNodeState(flipped)).toThrow(/checksum/)
    expect(() => decodeNodeState(bytes.subarray(0, 500))).toThrow(NodeStateError)
    const dir = tempDir('node-state')
    expect(await loadNodeState(dir, runId)).toBeUndefined()
    await saveNodeState(dir, saved)
    // A crash after writing the temporary file but before the rename: the old state stands.
    writeFileSync(join(dir, `${NODE_STATE_FILE}.tmp`), 'half written')
    expect(await loadNodeState(dir, runId)).toEqual(saved)
    await expect(loadNodeState(dir, new Uint8Array(32))).rejects.toThrow(
      /belongs to run 0303.*use another --state/,
    )
    expect(readFileSync(join(dir, NODE_STATE_FILE)).length).toBe(bytes.length)
  })
})
