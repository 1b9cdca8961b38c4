// Proof-of-learning pieces (SPEC.md 17): checkpoint bytes, segment choice, the crash-safe store,
// manifest bounds.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { float32FromLe } from '../../src/crypto/hash.js'
import { pickSegments } from '../../src/proof/audit.js'
import {
  CheckpointFormatError,
  checkpointFileDigests,
  checkpointPieces,
  checkpointSize,
  decodeCheckpoint,
  encodeCheckpoint,
  objectRoot,
  optimizerHash,
} from '../../src/proof/checkpoint.js'
import {
  checkpointSteps,
  decodeManifest,
  encodeManifest,
  ProofFormatError,
} from '../../src/proof/manifest.js'
import { ProofRecorder } from '../../src/proof/recorder.js'
import { ProofStore } from '../../src/proof/store.js'
import { defaultGenesis } from '../../src/wire/genesis.js'

const snapshot = (d: number, seed: number) => ({
  localStep: 3,
  weights: Float32Array.from({ length: d }, (_, i) => Math.sin(i + seed)),
  optimizer: {
    firstMoment: Float32Array.from({ length: d }, (_, i) => Math.cos(i + seed) / 100),
    secondMoment: Float32Array.from({ length: d }, (_, i) => (i + seed) / 1e6),
    step: 42,
  },
})

describe('checkpoints', () => {
  it('round-trip bit for bit, including from a Buffer that is a view of a shared pool', () => {
    const s = snapshot(1000, 1)
    const bytes = encodeCheckpoint(s)
    expect(bytes.length).toBe(checkpointSize(1000))
    // Node's small Buffers share one pool: decoding must not read the pool's other bytes.
    const pooled = Buffer.from(bytes)
    expect(decodeCheckpoint(pooled, 1000)).toEqual(s)
    const small = Buffer.from([0, 0, 128, 63, 0, 0, 0, 64]) // 1.0, 2.0 in a pooled Buffer
    expect([...float32FromLe(small)]).toEqual([1, 2])
  })

  it('refuses a wrong size or a non-finite value, and hashes the optimizer part only', () => {
    const s = snapshot(10, 2)
    const bytes = encodeCheckpoint(s)
    expect(() => decodeCheckpoint(bytes, 11)).toThrow(CheckpointFormatError)
    const bad = encodeCheckpoint({
      ...s,
      weights: Float32Array.from(s.weights, (x, i) => (i === 4 ? Number.NaN : x)),
    })
    expect(() => decodeCheckpoint(bad, 10)).toThrow(/NaN in part 0 at 4/)
    // Other weights, same optimizer state: same optimizer hash; other moments: another hash.
    const otherWeights = encodeCheckpoint({ ...s, weights: new Float32Array(10) })
    expect(optimizerHash(otherWeights)).toEqual(optimizerHash(bytes))
    const otherMoments = encodeCheckpoint({ ...s, optimizer: { ...s.optimizer, step: 43 } })
    expect(optimizerHash(otherMoments)).not.toEqual(optimizerHash(bytes))
  })

  it('are written and hashed from pieces that are views of the snapshot, as the joined bytes are', () => {
    const s = snapshot(70_001, 3) // chunks of 256 KiB straddle the pieces
    const pieces = checkpointPieces(s)
    expect(pieces[1].buffer).toBe(s.weights.buffer)
    expect(pieces[3].buffer).toBe(s.optimizer.secondMoment.buffer)
    const bytes = encodeCheckpoint(s)
    expect(objectRoot(pieces)).toEqual(objectRoot(bytes))
    expect(optimizerHash(pieces)).toEqual(optimizerHash(bytes))
  })

  it('are hashed from a file block by block as from their bytes, and a file of another size is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dtrain-checkpoint-'))
    try {
      // 1.5 M parameters: 18 MB, more than one block of 16 MiB, ending in a short chunk
      for (const d of [10, 1_500_001]) {
        const bytes = encodeCheckpoint(snapshot(d, 4))
        const path = join(dir, `checkpoint-${d}`)
        await writeFile(path, bytes)
        expect(await checkpointFileDigests(path, d)).toEqual({
          root: objectRoot(bytes),
          optimizer: optimizerHash(bytes),
        })
        await expect(checkpointFileDigests(path, d + 1)).rejects.toThrow(CheckpointFormatError)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('are kept after steps 0, k, 2k, ... and always after the last step', () => {
    expect(checkpointSteps(20, 1)).toHaveLength(21)
    expect(checkpointSteps(10, 4)).toEqual([0, 4, 8, 10])
    expect(checkpointSteps(8, 8)).toEqual([0, 8])
  })
})

describe('segment choice', () => {
  const norms = [0.1, 0.5, 0.2, 0.9, 0.3, 0.05, 0.4, 0.6]
  it('takes ceil(Q/2) largest updates and the rest at random, all distinct, depending on the seed', () => {
    const a = pickSegments(norms, 4, new Uint8Array(32).fill(1))
    expect(a).toHaveLength(4)
    expect(new Set(a.map((s) => s.index)).size).toBe(4)
    expect(a.filter((s) => s.picked === 'largest').map((s) => s.index)).toEqual([3, 7])
    const randoms = new Set<number>()
    for (let seed = 0; seed < 50; seed++)
      for (const s of pickSegments(norms, 2, new Uint8Array(32).fill(seed)))
        if (s.picked === 'random') randoms.add(s.index)
    expect(randoms.size).toBeGreaterThan(4) // the random share really varies with the seed
    expect(randoms.has(3)).toBe(false) // never the one already taken as largest
    expect(pickSegments(norms, 1, new Uint8Array(32))).toEqual([{ index: 3, picked: 'largest' }])
    expect(pickSegments(norms, 100, new Uint8Array(32))).toHaveLength(8)
  })
})

describe('proof store', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  const proof = (round: number) => ({
    round,
    manifest: new Uint8Array([round]),
    root: new Uint8Array(32),
    checkpoints: [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])],
    announcement: new Uint8Array([9, round]),
  })

  it('keeps the newest rounds, says which were pruned, and clears what a crash left half-written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dtrain-proofs-'))
    dirs.push(dir)
    // A crash in the middle of writing round 7 left this behind.
    await mkdir(join(dir, 'proofs', 'round-7.partial'), { recursive: true })
    await writeFile(join(dir, 'proofs', 'round-7.partial', 'checkpoint-0'), 'half')
    const store = new ProofStore({ dir, retention: 2 })
    await store.open()
    expect(await readdir(join(dir, 'proofs'))).toEqual([])
    for (const r of [0, 1, 2]) await store.put(proof(r))
    expect(await store.rounds()).toEqual([1, 2])
    expect(await store.bytesUsed()).toBe(2 * (1 + 5 + 2))
    expect(await store.manifest(0)).toMatchObject({ status: 'pruned' })
    expect(await store.manifest(5)).toMatchObject({ status: 'not-found' })
    expect(await store.item(2, 'checkpoint', 1)).toEqual({ status: 'ok', value: Buffer.from([4, 5]) })
    expect(await store.item(2, 'checkpoint', 2)).toMatchObject({ status: 'not-found' })
    expect(await store.item(2, 'residual')).toMatchObject({ status: 'not-found' })
    // A restarted node reads what it stored.
    const again = new ProofStore({ dir, retention: 2 })
    await again.open()
    expect(await again.manifest(2)).toEqual({
      status: 'ok',
      value: { announcement: Buffer.from([9, 2]), manifest: Buffer.from([2]) },
    })
  })

  it("writes a round's checkpoints as they are taken, and the proof is the one a recorder keeping them makes", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dtrain-proofs-'))
    dirs.push(dir)
    const store = new ProofStore({ dir, retention: 2 })
    await store.open()
    const genesis = defaultGenesis({ preset: 'tiny' })
    const seed = {
      runId: new Uint8Array(32),
      baseHash: new Uint8Array(32),
      peerId: new Uint8Array(38),
      round: 4,
    }
    const context = {
      genesis,
      seed,
      trainTokens: 1000,
      backend: 'wasm',
      deltaHash: new Uint8Array(32),
      previousRound: null,
    }
    const written = new ProofRecorder(store.checkpointSink(4))
    const kept = new ProofRecorder()
    const snapshots = [0, 1, 2].map((i) => ({ ...snapshot(1000, i), localStep: i }))
    for (const s of snapshots) {
      written.onCheckpoint(s)
      kept.onCheckpoint(s)
    }
    const fromSink = written.finish(context)
    const inMemory = kept.finish(context)
    expect(fromSink.checkpoints).toBeUndefined() // nothing held until the announcement
    expect(fromSink.root).toEqual(inMemory.root)
    expect(fromSink.manifest).toEqual(inMemory.manifest)
    await store.put({ ...fromSink, announcement: new Uint8Array([1]) })
    expect(await readdir(join(dir, 'proofs'))).toEqual(['round-4'])
    for (const [i, s] of snapshots.entries())
      expect(await store.item(4, 'checkpoint', i)).toEqual({
        status: 'ok',
        value: Buffer.from(encodeCheckpoint(s)),
      })
  })

  it('a round whose trainer wrote its checkpoints into the store itself gives the same proof, read back from the files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dtrain-proofs-'))
    dirs.push(dir)
    const store = new ProofStore({ dir, retention: 2 })
    await store.open()
    const genesis = defaultGenesis()
    const seed = {
      runId: new Uint8Array(32),
      baseHash: new Uint8Array(32),
      peerId: new Uint8Array([1]),
      round: 5,
    }
    const context = {
      genesis,
      seed,
      trainTokens: 1000,
      backend: 'torch-cpu',
      deltaHash: new Uint8Array(32),
      previousRound: null,
    }
    const snapshots = [0, 1, 2].map((i) => ({ ...snapshot(1000, i), localStep: i }))
    const kept = new ProofRecorder()
    for (const s of snapshots) kept.onCheckpoint(s)
    const written = new ProofRecorder(store.checkpointSink(5))
    const { checkpointFile, onWrittenCheckpoint } = written.writtenCheckpoints(1000)
    for (const [i, s] of snapshots.entries()) {
      // what the torch worker does (OP writeCheckpoint): the whole checkpoint into the given file
      const path = await checkpointFile!(i)
      await writeFile(path, encodeCheckpoint(s))
      onWrittenCheckpoint!({ localStep: s.localStep, weights: s.weights, path })
    }
    const key = await generateKeyPair('Ed25519')
    const extra = { encodedSize: 10, trainLoss: 1, sampleCount: 8 }
    const fromFiles = await written.announce(key, { ...context, ...extra })
    const inMemory = await kept.announce(key, { ...context, ...extra })
    expect(fromFiles.root).toEqual(inMemory.root)
    expect(fromFiles.manifest).toEqual(inMemory.manifest)
    await store.put(fromFiles)
    // a written checkpoint that cannot be read back fails the announcement, naming the file
    const broken = new ProofRecorder(store.checkpointSink(6))
    const options = broken.writtenCheckpoints(1000)
    for (const [i, s] of snapshots.entries()) {
      const path = await options.checkpointFile!(i)
      if (i !== 1) await writeFile(path, encodeCheckpoint(s))
      options.onWrittenCheckpoint!({ localStep: s.localStep, weights: s.weights, path })
    }
    await expect(broken.announce(key, { ...context, ...extra })).rejects.toThrow(/checkpoint-1/)
    for (const [i, s] of snapshots.entries())
      expect(await store.item(5, 'checkpoint', i)).toEqual({
        status: 'ok',
        value: Buffer.from(encodeCheckpoint(s)),
      })
  })

  it('a round whose checkpoints cannot be written fails at put(), naming why, and nothing goes unhandled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dtrain-proofs-'))
    dirs.push(dir)
    const store = new ProofStore({ dir, retention: 2 })
    await store.open()
    // The proofs directory became a file: the round's directory cannot be made.
    await rm(join(dir, 'proofs'), { recursive: true })
    await writeFile(join(dir, 'proofs'), 'not a directory')
    const sink = store.checkpointSink(4)!
    await new Promise((resolve) => setTimeout(resolve, 50)) // the failure comes before any checkpoint
    sink.add(0, [new Uint8Array([1, 2, 3])])
    await expect(
      store.put({
        round: 4,
        manifest: new Uint8Array([4]),
        root: new Uint8Array(32),
        announcement: new Uint8Array([1]),
      }),
    ).rejects.toThrow(/ENOTDIR|EEXIST/)
  })

  it('refuses a retention below one round', () => {
    expect(() => new ProofStore({ retention: 0 })).toThrow(/retention/)
  })
})

describe('manifest decoding', () => {
  it('refuses garbage, oversize manifests and inconsistent lists with ProofFormatError', () => {
    expect(() => decodeManifest(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(ProofFormatError)
    expect(() => decodeManifest(new Uint8Array(70_000))).toThrow(/limit/)
    expect(() => decodeManifest(encodeManifest(new Uint8Array(0), [new Uint8Array(32)]))).toThrow(
      ProofFormatError,
    )
  })
})
