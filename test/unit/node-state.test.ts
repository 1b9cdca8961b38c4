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
const global = { round: 7, weights: vector(1), momentum: vector(2), reference: vector(3) }
const saved = {
  runId,
  global: encodeState(global),
  optimizer: { firstMoment: vector(4), secondMoment: vector(5), step: 160 },
  residual: vector(6),
  lastProofRound: 7,
}

describe('node state file', () => {
  it('round-trips bit for bit, with and without a residual', async () => {
    // the global state comes back decoded, read by range like the rest
    expect(decodeNodeState(await encodeNodeState(saved))).toEqual({ ...saved, global })
    const noResidual = { ...saved, residual: undefined, lastProofRound: null }
    expect(decodeNodeState(await encodeNodeState(noResidual))).toEqual({ ...noResidual, global })
    // The global state given as its pieces (views of its vectors) is saved byte for byte alike.
    const pieces = statePieces({ round: 7, weights: vector(1), momentum: vector(2), reference: vector(3) })
    expect(await encodeNodeState({ ...saved, global: pieces })).toEqual(await encodeNodeState(saved))
    // Moments read by range (the torch worker's) are saved byte for byte alike, in blocks of at
    // most 2^22 values; a reader that answers short is refused.
    const reads: Array<[number, number, number]> = []
    const reader = (short = false) => ({
      step: 160,
      length: d,
      read: async (moment: 0 | 1, start: number, end: number) => {
        reads.push([moment, start, end])
        return (moment === 0 ? vector(4) : vector(5)).subarray(start, short ? end - 1 : end)
      },
    })
    expect(await encodeNodeState({ ...saved, optimizer: reader() })).toEqual(await encodeNodeState(saved))
    expect(reads).toEqual([
      [0, 0, d],
      [1, 0, d],
    ])
    await expect(encodeNodeState({ ...saved, optimizer: reader(true) })).rejects.toThrow(
      /99 values of moment 0/,
    )
  })

  it('reads a large moment block by block', async () => {
    const count = (1 << 22) + 5
    const moment = (k: number) => Float32Array.from({ length: count }, (_, i) => (i % 1000) * k)
    const ranges: Array<[number, number, number]> = []
    const state = {
      runId,
      global: encodeState({
        round: 2,
        weights: new Float32Array(count),
        momentum: new Float32Array(count),
        reference: new Float32Array(count),
      }),
      optimizer: {
        step: 3,
        length: count,
        read: async (m: 0 | 1, start: number, end: number) => {
          ranges.push([m, start, end])
          return moment(m + 1).subarray(start, end)
        },
      },
      lastProofRound: null,
    }
    const decoded = decodeNodeState(await encodeNodeState(state))
    expect(ranges).toEqual([
      [0, 0, 1 << 22],
      [0, 1 << 22, count],
      [1, 0, 1 << 22],
      [1, 1 << 22, count],
    ])
    expect(Buffer.from(decoded.optimizer.firstMoment.buffer).equals(Buffer.from(moment(1).buffer))).toBe(true)
    expect(Buffer.from(decoded.optimizer.secondMoment.buffer).equals(Buffer.from(moment(2).buffer))).toBe(
      true,
    )
  })

  it('refuses a corrupt or truncated file and another run, and reads what a crash left consistent', async () => {
    const bytes = await encodeNodeState(saved)
    const flipped = Uint8Array.from(bytes)
    flipped[200] ^= 1
    expect(() => decodeNodeState(flipped)).toThrow(/checksum/)
    expect(() => decodeNodeState(bytes.subarray(0, 500))).toThrow(NodeStateError)
    const dir = tempDir('node-state')
    expect(await loadNodeState(dir, runId)).toBeUndefined()
    await saveNodeState(dir, saved)
    // A crash after writing the temporary file but before the rename: the old state stands.
    writeFileSync(join(dir, `${NODE_STATE_FILE}.tmp`), 'half written')
    expect(await loadNodeState(dir, runId)).toEqual({ ...saved, global })
    await expect(loadNodeState(dir, new Uint8Array(32))).rejects.toThrow(
      /belongs to run 0303.*use another --state/,
    )
    expect(readFileSync(join(dir, NODE_STATE_FILE)).length).toBe(bytes.length)
  })

  it('refuses a file whose checksum holds but whose global state is not one, naming it', async () => {
    const bad = encodeState(global)
    bad[0] = 9 // an unknown state format
    const dir = tempDir('node-state-bad')
    await saveNodeState(dir, { ...saved, global: bad })
    await expect(loadNodeState(dir, runId)).rejects.toThrow(
      /node-state.bin cannot be read: its global state cannot be decoded: unknown state format version.*restore the file from a backup/,
    )
  })
})
