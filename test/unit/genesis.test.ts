import { describe, expect, it } from 'vitest'
import { toHex, weightsHash } from '../../src/crypto/hash.js'
import { bytesPerRound } from '../../src/proof/storage.js'
import { initialWeights, parameterCount, parameterLayout } from '../../src/train/parameters.js'
import { canonicalJson } from '../../src/wire/canonical-json.js'
import {
  DEFAULT_PROOF_BYTES_PER_ROUND,
  defaultCheckpointInterval,
  defaultGenesis,
  encodeOptionsFor,
  GenesisError,
  parseGenesis,
  runIdHex,
} from '../../src/wire/genesis.js'

describe('genesis', () => {
  it('has a run id that does not depend on key order or whitespace', () => {
    const genesis = defaultGenesis({ salt: 's' })
    const reverseKeys = (x: unknown): unknown =>
      x !== null && typeof x === 'object' && !Array.isArray(x)
        ? Object.fromEntries(
            Object.entries(x)
              .reverse()
              .map(([k, v]) => [k, reverseKeys(v)]),
          )
        : x
    const reordered = reverseKeys(genesis)
    expect(Object.keys(reordered as object)[0]).not.toBe(Object.keys(genesis)[0])
    const reparsed = parseGenesis(JSON.parse(JSON.stringify(reordered, null, 4)))
    expect(runIdHex(reparsed)).toBe(runIdHex(genesis))
    expect(runIdHex(defaultGenesis({ salt: 't' }))).not.toBe(runIdHex(genesis))
  })

  it('gives a top-k run the SparseLoCo recipe, and leaves feedbackDecay out of other runs', () => {
    const topk = defaultGenesis({ encoding: 'top-k' })
    expect(topk.outer.optimizer).toEqual({ kind: 'nesterov', lr: 1, momentum: 0 })
    expect(topk.delta.feedbackDecay).toBe(0.95)
    const int8 = defaultGenesis({ encoding: 'int8-block' })
    expect(int8.outer.optimizer).toEqual({ kind: 'nesterov', lr: 0.7, momentum: 0.9 })
    expect('feedbackDecay' in int8.delta).toBe(false)
    // absent means 1 and changes nothing in the canonical text, so older run ids stay valid
    expect(JSON.stringify(int8)).not.toContain('feedbackDecay')
    const bad = structuredClone(topk) as unknown as { delta: { feedbackDecay: number } }
    bad.delta.feedbackDecay = 1.5
    expect(() => parseGenesis(bad)).toThrow(/delta\.feedbackDecay/)
  })

  it('gives a sparse-2bit run the same recipe, with 128 of every 4096 coordinates (SPEC.md 6.10)', () => {
    const sparse = defaultGenesis({ encoding: 'sparse-2bit' })
    expect(sparse.outer.optimizer).toEqual({ kind: 'nesterov', lr: 1, momentum: 0 })
    expect(sparse.delta).toMatchObject({ blockSize: 4096, topkFraction: 0.03125, feedbackDecay: 0.95 })
    // k counts of each chunk, not of the whole model: 128 a chunk, where top-k at this fraction
    // would send 31,250 of a million coordinates
    expect(encodeOptionsFor(sparse.delta, 1_000_000)).toEqual({
      encoding: 'sparse-2bit',
      blockSize: 4096,
      k: 128,
    })
    expect(encodeOptionsFor({ ...sparse.delta, encoding: 'top-k' }, 1_000_000).k).toBe(31_250)
  })

  it('writes canonical JSON with sorted keys and no whitespace', () => {
    expect(canonicalJson({ b: [1, 0.5, 'x'], a: { d: null, c: true } })).toBe(
      '{"a":{"c":true,"d":null},"b":[1,0.5,"x"]}',
    )
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError)
  })

  it('names every bad field and refuses unknown fields', () => {
    const bad = structuredClone(defaultGenesis()) as unknown as Record<string, Record<string, unknown>>
    bad.inner.steps = -3
    bad.outer.extra = 1
    let message = ''
    try {
      parseGenesis(bad)
    } catch (err) {
      expect(err).toBeInstanceOf(GenesisError)
      message = (err as Error).message
    }
    expect(message).toContain('inner.steps')
    expect(message).toContain('extra')
  })

  it('refuses more expected peers than a commit can list (limits.maxCommitDeltaHashes), naming the field', () => {
    const withPeers = (expectedPeers: number) => {
      const g = defaultGenesis()
      return { ...g, round: { ...g.round, expectedPeers } }
    }
    expect(parseGenesis(withPeers(1024)).round.expectedPeers).toBe(1024)
    expect(() => parseGenesis(withPeers(1025))).toThrow(
      /round\.expectedPeers.*a commit lists at most 1024 deltas/,
    )
  })

  it('refuses Krum with too few expected peers even for f = 0 (SPEC.md 8.10: m > 2f + 2)', () => {
    const krum = (expectedPeers: number, bucketSize?: number) => {
      const g = defaultGenesis()
      return {
        ...g,
        round: { ...g.round, expectedPeers, minPeers: 1 },
        aggregation: { rule: 'krum', f: 0, ...(bucketSize ? { bucketSize } : {}) },
      }
    }
    expect(() => parseGenesis(krum(2))).toThrow(/krum needs more than 2f \+ 2 inputs \(n = 2, f = 0\)/)
    expect(() => parseGenesis(krum(4, 2))).toThrow(/in buckets of 2/)
    expect(parseGenesis(krum(3)).aggregation).toEqual({ rule: 'krum', f: 0 })
  })

  it('lists the training backends a run admits, or none (every one), and refuses unknown or repeated names', () => {
    const g = defaultGenesis({ proofBackends: ['wasm', 'torch-cpu'] })
    expect(parseGenesis(g).proof.backends).toEqual(['wasm', 'torch-cpu'])
    expect(defaultGenesis().proof.backends).toBeUndefined()
    // the list is part of the run: another list, another run id
    expect(runIdHex(g)).not.toBe(runIdHex(defaultGenesis()))
    const withBackends = (backends: unknown) => ({ ...g, proof: { ...g.proof, backends } })
    expect(() => parseGenesis(withBackends(['wasm', 'x']))).toThrow(/proof\.backends/)
    expect(() => parseGenesis(withBackends(['auto']))).toThrow(/proof\.backends/)
    expect(() => parseGenesis(withBackends([]))).toThrow(/proof\.backends/)
    expect(() => parseGenesis(withBackends(['wasm', 'wasm']))).toThrow(
      /proof\.backends.*lists a backend twice/,
    )
  })

  it('chooses the checkpoint interval by model size, so a round of proof stays within 12 GB (SPEC.md 17.1)', () => {
    // Small models keep about 25 segments, as before.
    expect(defaultGenesis({ preset: 'small', innerSteps: 100 }).proof.checkpointInterval).toBe(4)
    expect(defaultGenesis({ preset: 'tiny' }).proof.checkpointInterval).toBe(1)
    // GPT-2 small at H = 100: 7 checkpoints of 12 d bytes instead of 26 (about 39 GB).
    const gpt = defaultGenesis({ preset: 'gpt-124m', innerSteps: 100 })
    expect(gpt.proof.checkpointInterval).toBe(17)
    expect(bytesPerRound(gpt).proof).toBeLessThanOrEqual(DEFAULT_PROOF_BYTES_PER_ROUND)
    expect(bytesPerRound({ ...gpt, proof: { checkpointInterval: 4 } }).proof).toBeGreaterThan(3e10)
    // A large model's node parks its residual in a file of its own (4 d bytes), with error feedback
    const d = parameterCount(gpt.model)
    expect(bytesPerRound({ ...gpt, delta: { ...gpt.delta, encoding: 'int8-block' } }).parked).toBe(4 * d)
    expect(bytesPerRound(gpt).parked).toBe(0) // fp32 deltas: no residual
    expect(bytesPerRound(defaultGenesis({ preset: 'tiny', encoding: 'int8-block' })).parked).toBe(0) // small
    // 1 B parameters: 12 GB holds one checkpoint; the fewest possible is one segment.
    expect(defaultCheckpointInterval(100, 1e9)).toBe(100)
    expect(defaultCheckpointInterval(7, 5e8)).toBe(7)
  })

  it('refuses a model whose global state exceeds limits.maxObjectBytes, with the figures', () => {
    const g = defaultGenesis({ preset: 'tiny' }) as unknown as { model: Record<string, number> }
    Object.assign(g.model, { layers: 64, dModel: 4096, mlpHidden: 16384, heads: 32 })
    expect(() => parseGenesis(g)).toThrow(
      /model: the model has \d+ parameters: its global state .* is \d+ bytes, above limits.maxObjectBytes \(4294967296.*at most 357913940 parameters/,
    )
  })

  it('checks that heads divide the model width', () => {
    const bad = structuredClone(defaultGenesis({ preset: 'tiny' }))
    ;(bad.model as { heads: number }).heads = 3
    expect(() => parseGenesis(bad)).toThrow(/model\.heads/)
  })
})

describe('initial weights', () => {
  it('are bit-identical for the same genesis, and differ for another seed', () => {
    const genesis = defaultGenesis({ preset: 'tiny', salt: 'a' })
    const a = initialWeights(genesis.model)
    const b = initialWeights(structuredClone(genesis).model)
    expect(toHex(weightsHash(a))).toBe(toHex(weightsHash(b)))
    const other = initialWeights(defaultGenesis({ preset: 'tiny', salt: 'b' }).model)
    expect(toHex(weightsHash(other))).not.toBe(toHex(weightsHash(a)))
  })

  it('follow the layout: gains are one, biases zero, matrices uniform within initStd * sqrt(3)', () => {
    const spec = defaultGenesis({ preset: 'tiny' }).model
    const weights = initialWeights(spec)
    expect(weights.length).toBe(parameterCount(spec))
    const bound = Math.fround(spec.initStd * Math.sqrt(3))
    let offset = 0
    for (const p of parameterLayout(spec)) {
      const size = p.shape.reduce((x, y) => x * y, 1)
      const slice = weights.subarray(offset, offset + size)
      if (p.init === 'ones') expect(slice.every((x) => x === 1)).toBe(true)
      if (p.init === 'zeros') expect(slice.every((x) => x === 0)).toBe(true)
      if (p.init === 'uniform') {
        expect(slice.every((x) => Math.abs(x) < bound)).toBe(true)
        const std = Math.sqrt(slice.reduce((s, x) => s + x * x, 0) / size)
        expect(std).toBeGreaterThan(spec.initStd * 0.8)
        expect(std).toBeLessThan(spec.initStd * 1.2)
      }
      offset += size
    }
  })
})
