import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { aggregate } from '../../src/aggregate/rules.js'
import { decodeDelta, encodeDelta } from '../../src/codec/delta.js'
import { piecesSource } from '../../src/codec/pieces.js'
import { encodeState, statePieces } from '../../src/codec/state.js'
import { LIMITS } from '../../src/constants.js'
import { toHex } from '../../src/crypto/hash.js'
import { HashStream } from '../../src/crypto/prng.js'
import { DeltaStore, deltaRoot } from '../../src/store/delta-store.js'
import { tempDir } from '../fixtures/temp.js'

// The store of served objects (issue 17): with a directory, every object is written there and
// leaves memory; chunks and aggregation blocks are read back by range, bit for bit.

function deltas(n: number, d: number) {
  const s = new HashStream('delta-store-test', new Uint8Array([n]))
  return Array.from({ length: n }, () =>
    encodeDelta(
      Float32Array.from({ length: d }, () => s.nextSymmetricUnit()),
      { encoding: 'int8-block', blockSize: 256 },
    ),
  )
}

describe('delta store on disk', () => {
  it('writes each object to its directory, frees its memory, and reads it back by range', async () => {
    const dir = join(tempDir('objects'), 'objects')
    const store = new DeltaStore({ dir })
    const encoded = deltas(4, 70_001)
    const roots = encoded.map((bytes) => store.put(0, bytes))
    expect(store.memoryBytes).toBe(encoded.reduce((sum, b) => sum + b.length, 0))
    await store.flush()
    expect(store.memoryBytes).toBe(0)
    expect(readdirSync(dir).sort()).toEqual(roots.map(toHex).sort())
    expect(readFileSync(join(dir, toHex(roots[2])))).toEqual(Buffer.from(encoded[2]))
    const held = store.get(roots[1])!
    expect(held.size).toBe(encoded[1].length)
    expect(held.bytes.subarray(1000, 60_000)).toEqual(encoded[1].subarray(1000, 60_000))
    expect(held.bytes.subarray(held.size - 5, held.size + 5)).toEqual(encoded[1].subarray(held.size - 5))
    // The aggregate of deltas read block by block from disk is the aggregate of the decoded deltas.
    const fromDisk = roots.map((id) => ({ id, values: store.delta(id, 70_001) }))
    const inMemory = roots.map((id, j) => ({ id, values: decodeDelta(encoded[j], 70_001).values }))
    const rule = { rule: 'nnm-trimmed-mean', faultFraction: 0.25 } as const
    expect(Buffer.from(aggregate(rule, fromDisk).buffer)).toEqual(
      Buffer.from(aggregate(rule, inMemory).buffer),
    )
    await store.close()
    expect(readdirSync(dir)).toEqual([])
  })

  it('drops the objects of rounds it no longer keeps, files included, and clears what a previous run left', async () => {
    const dir = join(tempDir('objects'), 'objects')
    new DeltaStore({ dir })
    writeFileSync(join(dir, 'left-by-a-crash'), 'stale')
    const store = new DeltaStore({ dir })
    expect(readdirSync(dir)).toEqual([])
    const [a, b] = deltas(2, 1000)
    const old = store.put(0, a)
    await store.flush()
    const kept = store.put(LIMITS.keptDeltaRounds, b)
    await store.flush()
    expect(store.get(old)).toBeUndefined()
    expect(existsSync(join(dir, toHex(old)))).toBe(false)
    expect(readdirSync(dir)).toEqual([toHex(kept)])
    expect(() => store.delta(old, 1000)).toThrow(/no object/)
    await store.close()
  })

  it('keeps an object in memory, and says so, when it cannot be written', async () => {
    const dir = join(tempDir('objects'), 'objects')
    const errors: string[] = []
    const store = new DeltaStore({ dir, onWriteError: (err) => errors.push(err.message) })
    const [a] = deltas(1, 1000)
    // A directory where the object's file would go: the write fails with EISDIR.
    mkdirSync(join(dir, toHex(deltaRoot(a).root)))
    const root = store.put(0, a)
    await store.flush()
    expect(errors).toHaveLength(1)
    expect(store.memoryBytes).toBe(a.length)
    expect(store.get(root)!.bytes.subarray(0, a.length)).toEqual(a)
    await store.close()
  })

  it('holds a state as its pieces, views of its vectors, never joined: same root, bytes and file', async () => {
    const d = 100_003 // chunks of the state straddle its pieces
    const s = new HashStream('delta-store-pieces', new Uint8Array([1]))
    const vector = () => Float32Array.from({ length: d }, () => s.nextSymmetricUnit())
    const state = { round: 7, weights: vector(), momentum: vector(), reference: vector() }
    const pieces = statePieces(state)
    const whole = encodeState(state)
    // The vectors' own memory: a piece is a view, not a copy.
    expect(pieces[1].buffer).toBe(state.weights.buffer)
    const source = piecesSource(pieces)
    for (const [start, end] of [
      [0, 16],
      [10, 30],
      [16 + 4 * d - 3, 16 + 4 * d + 9],
      [5, 16 + 8 * d + 100],
      [whole.length - 7, whole.length + 7],
    ])
      expect(toHex(source.subarray(start, end)), `[${start}, ${end})`).toBe(toHex(whole.subarray(start, end)))
    const dir = join(tempDir('objects'), 'objects')
    const store = new DeltaStore({ dir })
    const root = store.put(7, pieces)
    expect(toHex(root)).toBe(toHex(deltaRoot(whole).root))
    const held = store.get(root)!
    expect(held.size).toBe(whole.length)
    const chunk = (i: number) => held.bytes.subarray(i * LIMITS.chunkBytes, (i + 1) * LIMITS.chunkBytes)
    expect(toHex(chunk(1))).toBe(toHex(whole.subarray(LIMITS.chunkBytes, 2 * LIMITS.chunkBytes)))
    await store.flush()
    expect(store.memoryBytes).toBe(0)
    expect(toHex(readFileSync(join(dir, toHex(root))))).toBe(toHex(whole))
    expect(toHex(chunk(1))).toBe(toHex(whole.subarray(LIMITS.chunkBytes, 2 * LIMITS.chunkBytes)))
  })
})
