// Generates protocol/vectors/*.json from the reference implementation. Run with
// `npm run gen:vectors` after a deliberate protocol change (and bump specRevision in
// protocol/constants.json and SPEC.md); test/spec checks the code against the stored files.
import '../src/polyfill.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  type AggregationRule,
  aggregate,
  type Contribution,
  declaredFaults,
  roundSeed,
  trimCount,
} from '../src/aggregate/rules.js'
import {
  planShards,
  RESULT_ENCODING,
  shardedReadBytes,
  shardGranule,
  shardingSaves,
  shardResult,
  shardSetRoot,
} from '../src/aggregate/shard-plan.js'
import {
  aggregateByShards,
  partialGeometry,
  shardRanges,
  shardSources,
  sumPartials,
} from '../src/aggregate/shards.js'
import {
  type DeltaEncodingName,
  decodeDelta,
  type EncodeOptions,
  encodeDelta,
  encodedDeltaSize,
} from '../src/codec/delta.js'
import { chunksHolding, encodedRangesOf } from '../src/codec/delta-ranges.js'
import { compressWithFeedback } from '../src/codec/error-feedback.js'
import { encodeState } from '../src/codec/state.js'
import { topkCount } from '../src/codec/topk.js'
import { commitTopic, DOMAINS, deltaTopic, LIMITS, PROTOCOL } from '../src/constants.js'
import { domainHash, fromHex, sha256, toHex, weightsHash } from '../src/crypto/hash.js'
import { leafHash, MerkleTree } from '../src/crypto/merkle.js'
import { HashStream } from '../src/crypto/prng.js'
import { peerIdBytes } from '../src/crypto/sign.js'
import {
  type AnnouncementContext,
  checkAnnouncement,
  checkCommit,
  checkEvidence,
  checkHave,
  checkShardEvidence,
  checkShardPartials,
  checkShardResult,
  validate,
} from '../src/gossip/validate.js'
import { ChunkAssembly } from '../src/net/transfer.js'
import { encodeCheckpoint, objectRoot, optimizerHash } from '../src/proof/checkpoint.js'
import {
  checkpointSteps,
  dataCommitment,
  encodeHeader,
  encodeManifest,
  hyperparametersOf,
  proofRoot,
  residualHash,
} from '../src/proof/manifest.js'
import { decidedState } from '../src/round/agreement.js'
import { nesterovStep } from '../src/round/outer.js'
import { batchOffsets, batchSeed, evalOffsets, trainingOffsets } from '../src/train/batches.js'
import { textTokensSha256, tokenize } from '../src/train/corpus.js'
import { examplesSha256, mnistByClass, splitExamples, syntheticByClass } from '../src/train/examples.js'
import { initialWeights, parameterCount } from '../src/train/parameters.js'
import { encodeText } from '../src/train/tokenizer.js'
import { canonicalGenesis, defaultGenesis, type Genesis, parseGenesis, runIdOf } from '../src/wire/genesis.js'
import {
  type Announcement,
  type Commit,
  encodeAnnouncementBody,
  encodeCommitBody,
  encodeEvidence,
  encodeHaveBody,
  encodeShardEvidence,
  encodeShardPartialsBody,
  encodeShardResultBody,
  type Have,
  type ShardPartials,
  type ShardResult,
  signAnnouncement,
  signCommit,
  signHave,
  signShardPartials,
  signShardResult,
} from '../src/wire/messages.js'
import { ChunkRequest, ChunkResponse } from '../src/wire/proto/dtrain.js'

/** The published test key: Ed25519 seed 0x00 0x01 ... 0x1f. Never use it for anything real. */
export const TEST_KEY_SEED = Uint8Array.from({ length: 32 }, (_, i) => i)
/** A second published key, for messages from "another peer". Seed 0x20 ... 0x3f. */
export const OTHER_KEY_SEED = Uint8Array.from({ length: 32 }, (_, i) => 32 + i)

const f32 = (xs: number[]) => Float32Array.from(xs)
const list = (xs: Float32Array) => Array.from(xs)

export async function buildVectors(): Promise<Record<string, unknown>> {
  const revision = PROTOCOL.specRevision
  const key = await generateKeyPairFromSeed('Ed25519', TEST_KEY_SEED)
  const other = await generateKeyPairFromSeed('Ed25519', OTHER_KEY_SEED)
  const peerId = peerIdFromPrivateKey(key)
  const otherPeerId = peerIdFromPrivateKey(other)

  const keys = {
    specRevision: revision,
    description: 'Published test identities (SPEC.md 4.3). Seeds are Ed25519 private key seeds (RFC 8032).',
    keys: [key, other].map((k, i) => ({
      seedHex: toHex(i === 0 ? TEST_KEY_SEED : OTHER_KEY_SEED),
      publicKeyHex: toHex(k.publicKey.raw),
      peerId: peerIdFromPrivateKey(k).toString(),
      peerIdBytesHex: toHex(peerIdBytes(peerIdFromPrivateKey(k))),
    })),
  }

  const prngCases = [
    { domain: 'dtrain/v1/init', seed: new TextEncoder().encode('vectors') },
    { domain: 'dtrain/v1/batches', seed: new Uint8Array(0) },
  ].map(({ domain, seed }) => {
    const words = new HashStream(domain, seed)
    const below = new HashStream(domain, seed)
    const units = new HashStream(domain, seed)
    return {
      domain,
      seedHex: toHex(seed),
      firstBlockHex: toHex(domainHash(domain, seed, new Uint8Array(8))),
      uint32: Array.from({ length: 10 }, () => words.nextUint32()),
      nextBelow7: Array.from({ length: 10 }, () => below.nextBelow(7)),
      nextSymmetricUnit: Array.from({ length: 4 }, () => units.nextSymmetricUnit()),
    }
  })
  const prng = { specRevision: revision, description: 'HashStream, SPEC.md 4.4', cases: prngCases }

  const genesisVectors = (['tiny', 'small', 'mlp', 'gpt-tiny'] as const).map((preset) => {
    const genesis = defaultGenesis({ preset, salt: 'vectors', name: 'vectors' })
    const weights = initialWeights(genesis.model)
    return {
      preset,
      genesis,
      canonical: canonicalGenesis(genesis),
      runIdHex: toHex(runIdOf(genesis)),
      deltaTopic: deltaTopic(toHex(runIdOf(genesis))),
      commitTopic: commitTopic(toHex(runIdOf(genesis))),
      parameterCount: parameterCount(genesis.model),
      initialWeightsHashHex: toHex(weightsHash(weights)),
      firstWeights: list(weights.subarray(0, 8)),
    }
  })
  // Geneses a node must refuse (SPEC.md 3.3), each with the field its error names.
  const base = defaultGenesis({ preset: 'tiny', salt: 'vectors', name: 'vectors' })
  const refusal = (why: string, field: string, change: (g: Genesis) => void) => {
    const g = structuredClone(base)
    change(g)
    let error = ''
    try {
      parseGenesis(g)
    } catch (err) {
      error = (err as Error).message
    }
    if (!error.includes(field))
      throw new Error(`refusal vector "${why}" is not refused on ${field}: ${error}`)
    return { why, field, genesis: g }
  }
  const genesis = {
    specRevision: revision,
    description:
      'Genesis, run id, topics and initial weights, SPEC.md 3 and 7.3; refusals: geneses a node must refuse, with the field the refusal names',
    cases: genesisVectors,
    refusals: [
      refusal('Krum needs more than 2f + 2 inputs (8.10)', 'aggregation', (g) => {
        g.round.expectedPeers = 2
        g.round.minPeers = 1
        g.aggregation = { rule: 'krum', f: 0 }
      }),
      refusal('an unknown training backend (17.2)', 'proof.backends', (g) => {
        g.proof.backends = ['wasm', 'tensorflow-gpu '] as never
      }),
      refusal('a checkpoint interval longer than the round (17.1)', 'proof.checkpointInterval', (g) => {
        g.proof.checkpointInterval = g.inner.steps + 1
      }),
      refusal('heads that do not divide the width (7.2)', 'model.heads', (g) => {
        Object.assign(g.model, { heads: 5 })
      }),
      refusal('a model whose global state exceeds limits.maxObjectBytes (3.3, 12.1)', 'model', (g) => {
        Object.assign(g.model, { layers: 64, dModel: 4096, mlpHidden: 16384, heads: 32 })
      }),
      refusal(
        'more expected peers than a commit can list (limits.maxCommitDeltaHashes, 3.3, 5.5)',
        'round.expectedPeers',
        (g) => {
          g.round.expectedPeers = LIMITS.maxCommitDeltaHashes + 1
        },
      ),
      refusal(
        'a sharded exchange of centered clipping with a norm bound (18.6, 18.9)',
        'aggregation',
        (g) => {
          Object.assign(g, { exchange: { shards: 2, replicas: 2 } })
          g.aggregation = { rule: 'centered-clipping', tau: 1, iterations: 2, normBound: 1 }
        },
      ),
      refusal(
        'a sharded exchange of a rule that needs distances among more than 90 peers (18.8)',
        'round.expectedPeers',
        (g) => {
          Object.assign(g, { exchange: { shards: 2, replicas: 2 } })
          g.round.expectedPeers = 91
        },
      ),
      refusal('an unknown field (3.3)', 'round', (g) => {
        Object.assign(g.round, { extra: 1 })
      }),
    ],
  }

  const tiny = defaultGenesis({ preset: 'tiny', salt: 'vectors', name: 'vectors' })
  const runId = runIdOf(tiny)
  const text = 'Call me Ishmael.\n\u2014caf\u00e9~'
  const batchCases = [
    { round: 0, step: 0 },
    { round: 7, step: 3 },
  ].map(({ round, step }) => {
    const baseHash = weightsHash(initialWeights(tiny.model))
    const seed = batchSeed({ runId, baseHash, peerId: peerIdBytes(peerId), round }, step)
    return {
      runIdHex: toHex(runId),
      baseHashHex: toHex(baseHash),
      peerIdBytesHex: toHex(peerIdBytes(peerId)),
      round,
      step,
      seedHex: toHex(seed),
      tokenCount: 10_000,
      contextLength: 32,
      batchSize: 4,
      offsets: batchOffsets(new HashStream(DOMAINS.batches, seed), 10_000, 32, 4),
    }
  })
  // The classifier's examples (SPEC.md 7.7): the synthetic set of a small model, and MNIST's split
  // with the example indices of one step.
  const synthetic = splitExamples(syntheticByClass(8, 3), 0.1)
  const mnist = splitExamples(mnistByClass(), 0.1)
  const mlp = defaultGenesis({ preset: 'mlp', salt: 'vectors', name: 'vectors' })
  const mlpBase = weightsHash(initialWeights(mlp.model))
  const mlpSeed = { runId: runIdOf(mlp), baseHash: mlpBase, peerId: peerIdBytes(peerId), round: 2 }
  const data = {
    specRevision: revision,
    description:
      'Tokenizer (SPEC.md 7.1), batch offsets (SPEC.md 7.5) and classification examples (SPEC.md 7.7): SHA-256 of a split is of its features (float32 little-endian) then its labels',
    tokenize: { text, tokens: Array.from(tokenize(text)) },
    // a GPT's tokenizers (SPEC.md 7.8): UTF-8 bytes, and GPT-2's BPE; the text hash (7.4) is over
    // the token bytes, u16 little-endian for gpt2
    gptTokenizers: (['bytes', 'gpt2'] as const).map((tokenizer) => {
      const tokens = encodeText(text, tokenizer)
      return { tokenizer, text, tokens: Array.from(tokens), textSha256: textTokensSha256(tokens) }
    }),
    batches: batchCases,
    // the evaluation windows (SPEC.md 7.6): seed runId, nextBelow(heldOutLength - contextLength)
    evaluation: {
      runIdHex: toHex(runId),
      heldOutLength: 10_000,
      contextLength: 32,
      windows: 6,
      offsets: evalOffsets(runId, 10_000, 32, 6),
    },
    examples: {
      synthetic: {
        inputSize: 8,
        classes: 3,
        heldOutFraction: 0.1,
        firstTrainFeatures: list(synthetic.train.features.subarray(0, 8)),
        trainCount: synthetic.train.count,
        trainSha256: examplesSha256(synthetic.train),
        heldOutSha256: examplesSha256(synthetic.heldOut),
      },
      mnist: {
        heldOutFraction: 0.1,
        trainCount: mnist.train.count,
        heldOutCount: mnist.heldOut.count,
        trainSha256: examplesSha256(mnist.train),
        heldOutSha256: examplesSha256(mnist.heldOut),
        batch: {
          runIdHex: toHex(mlpSeed.runId),
          baseHashHex: toHex(mlpBase),
          peerIdBytesHex: toHex(mlpSeed.peerId),
          round: 2,
          step: 5,
          batchSize: mlp.inner.batchSize,
          exampleIndices: trainingOffsets(mnist.train.count, mlpSeed, 5, 0, mlp.inner.batchSize),
        },
      },
    },
  }

  // No -0 here: JSON cannot carry it (test/unit/codec.test.ts covers -0).
  const deltaValues = f32([0, -3.5, 0.5, -1.25, 3.0e-7, 100, -7.75, 0.1, 2, -2])
  const fp32 = encodeDelta(deltaValues, { encoding: 'fp32' })
  const int8 = encodeDelta(deltaValues, { encoding: 'int8-block', blockSize: 4 })
  const codecCases: EncodeOptions[] = [
    { encoding: 'fp32' },
    { encoding: 'int8-block', blockSize: 4 },
    { encoding: 'fp16' },
    { encoding: 'int4-block', blockSize: 4 },
    { encoding: 'top-k', k: 3 },
    { encoding: 'sparse-2bit', blockSize: 4, k: 2 },
  ]
  /** Three rounds of `options` (top-k, k = 2) with error feedback whose residual decays by `decay`. */
  const feedbackRounds = (decay: number, options: EncodeOptions = { encoding: 'top-k', k: 2 }) => {
    const rounds: Array<{ delta: number[]; sent: number[]; residual: number[]; bytesHex: string }> = []
    let residual: Float32Array | undefined
    for (let r = 0; r < 3; r++) {
      const delta = f32([0.5 - r, 0.25 * r, -1, 0.125, 2 - r, -0.75])
      const step = compressWithFeedback(delta, residual, options, decay)
      residual = step.residual
      rounds.push({
        delta: list(delta),
        sent: list(step.sent),
        residual: list(step.residual),
        bytesHex: toHex(step.bytes),
      })
    }
    return rounds
  }
  /** sparse-2bit bytes (chunks of 4, k = 2) with one field changed each, and the error a decoder raises. */
  function sparseRejections(valid: Uint8Array) {
    const edits: Array<[string, (view: DataView, bytes: Uint8Array) => void]> = [
      ['offsets not ascending', (view) => view.setUint16(16 + 8, view.getUint16(16 + 10, true), true)],
      ['offset beyond its chunk', (view) => view.setUint16(16 + 10, 4, true)],
      ['offset beyond the shorter last chunk', (view) => view.setUint16(16 + 2 * 13 + 10, 2, true)],
      ['lo above hi', (view) => view.setFloat32(16, view.getFloat32(16 + 4, true) * 2, true)],
      ['negative hi', (view) => view.setFloat32(16 + 4, -1, true)],
      ['NaN lo', (view) => view.setFloat32(16, Number.NaN, true)],
      ['hi beyond 2^64, decoded', (view) => view.setFloat32(16 + 4, 2 ** 70, true)],
      ['unused code bits set', (_, bytes) => (bytes[16 + 12] |= 0x40)],
      ['chunk size 0', (view) => view.setUint32(8, 0, true)],
      ['k above the chunk size', (view) => view.setUint32(12, 5, true)],
      ['k that does not match the length', (view) => view.setUint32(12, 1, true)],
    ]
    return edits.map(([what, edit]) => {
      const bytes = new Uint8Array(valid)
      edit(new DataView(bytes.buffer), bytes)
      let error: string | null = null
      try {
        decodeDelta(bytes, deltaValues.length)
      } catch (err) {
        error = (err as Error).name
      }
      return { what, bytesHex: toHex(bytes), error }
    })
  }
  const deltas = {
    specRevision: revision,
    description:
      'Delta encodings (SPEC.md 6) and error feedback (SPEC.md 6.9). rootHex is the Merkle root (SPEC.md 4.5) of the bytes: one chunk here. magnitude: one-value fp32 deltas at and above the bound of 6.8, with the error a decoder raises (null: accepted)',
    values: list(deltaValues),
    cases: codecCases.map((options) => {
      const bytes = encodeDelta(deltaValues, options)
      return {
        ...options,
        bytesHex: toHex(bytes),
        sha256Hex: toHex(sha256(bytes)),
        rootHex: toHex(leafHash(bytes)),
        decoded: list(decodeDelta(bytes, deltaValues.length).values),
      }
    }),
    errorFeedback: { encoding: 'top-k', k: 2, rounds: feedbackRounds(1) },
    errorFeedbackDecay: { encoding: 'top-k', k: 2, feedbackDecay: 0.3, rounds: feedbackRounds(0.3) },
    errorFeedbackSparse: {
      encoding: 'sparse-2bit',
      blockSize: 3,
      k: 1,
      feedbackDecay: 0.95,
      rounds: feedbackRounds(0.95, { encoding: 'sparse-2bit', blockSize: 3, k: 1 }),
    },
    // 6.10's record checks (6.8): the sparse-2bit case above with one field changed
    sparseRejections: sparseRejections(
      encodeDelta(deltaValues, { encoding: 'sparse-2bit', blockSize: 4, k: 2 }),
    ),
    // 6.8's magnitude bound: 2^64 decodes, the next binary32 above it is refused
    magnitude: [2 ** 64, -(2 ** 64), Math.fround(2 ** 64 * (1 + 2 ** -23))].map((value) => {
      const bytes = new Uint8Array(12)
      const view = new DataView(bytes.buffer)
      view.setUint8(0, 1)
      view.setUint32(4, 1, true)
      view.setFloat32(8, value, true)
      let error: string | null = null
      try {
        decodeDelta(bytes, 1)
      } catch (err) {
        error = (err as Error).name
      }
      return { value, bytesHex: toHex(bytes), error }
    }),
  }

  const merkleData = Uint8Array.from({ length: 21 }, (_, i) => i)
  const merkleTree = MerkleTree.fromBytes(merkleData, 4)
  const merkle = {
    specRevision: revision,
    description:
      'Merkle trees over chunks (SPEC.md 4.5) with a chunk size of 4 bytes; the protocol uses limits.chunkBytes',
    dataHex: toHex(merkleData),
    chunkBytes: 4,
    leafHashesHex: Array.from({ length: merkleTree.leafCount }, (_, i) =>
      toHex(leafHash(merkleData.subarray(4 * i, 4 * i + 4))),
    ),
    rootHex: toHex(merkleTree.root),
    proofs: Array.from({ length: merkleTree.leafCount }, (_, i) => ({
      index: i,
      pathHex: merkleTree.proof(i).map(toHex),
    })),
  }

  const announcement: Announcement = {
    version: 1,
    runId,
    round: 3,
    peerId: peerIdBytes(peerId),
    baseHash: sha256(new TextEncoder().encode('base')),
    deltaHash: leafHash(fp32),
    encodedSize: fp32.length,
    encoding: 'fp32',
    trainLoss: 2.75,
    sampleCount: 160,
    proofRoot: sha256(new TextEncoder().encode('proof root')),
  }
  const announcementBody = encodeAnnouncementBody(announcement)
  const announcementEnvelope = await signAnnouncement(key, announcement)
  const stateBytes = encodeState({
    round: 3,
    weights: f32([1, -2, 0.5]),
    momentum: f32([0.1, 0, -0.3]),
    reference: f32([0.25, -1, 0.001]),
  })
  const commit: Commit = {
    version: 1,
    runId,
    round: 3,
    peerId: peerIdBytes(peerId),
    weightsHash: sha256(new TextEncoder().encode('weights')),
    deltaHashes: [leafHash(fp32), leafHash(int8)].sort(Buffer.compare),
    stateRoot: leafHash(stateBytes),
    stateSize: stateBytes.length,
  }
  const commitBody = encodeCommitBody(commit)
  const commitEnvelope = await signCommit(key, commit)
  const hexFields = (o: object) =>
    Object.fromEntries(
      Object.entries(o).map(([k, v]) => [
        k,
        v instanceof Uint8Array
          ? toHex(v)
          : Array.isArray(v)
            ? v.map((x) => (x instanceof Uint8Array ? toHex(x) : x))
            : v,
      ]),
    )
  const secondAnnouncement = await signAnnouncement(key, { ...announcement, deltaHash: leafHash(int8) })
  const have: Have = {
    version: 1,
    runId,
    round: 3,
    peerId: peerIdBytes(peerId),
    deltaHashes: commit.deltaHashes,
  }
  const haveBody = encodeHaveBody(have)
  const haveEnvelope = await signHave(key, have)
  const messages = {
    specRevision: revision,
    description: 'Gossip messages, SPEC.md 5; signatures by keys.json key 0',
    announcement: {
      fields: hexFields(announcement),
      bodyHex: toHex(announcementBody),
      signingDigestHex: toHex(domainHash(DOMAINS.announcement, announcementBody)),
      envelopeHex: toHex(announcementEnvelope),
    },
    commit: {
      fields: hexFields(commit),
      bodyHex: toHex(commitBody),
      signingDigestHex: toHex(domainHash(DOMAINS.commit, commitBody)),
      envelopeHex: toHex(commitEnvelope),
    },
    have: {
      fields: hexFields(have),
      bodyHex: toHex(haveBody),
      signingDigestHex: toHex(domainHash(DOMAINS.have, haveBody)),
      envelopeHex: toHex(haveEnvelope),
    },
    state: {
      fields: { round: 3, weights: [1, -2, 0.5], momentum: [0.1, 0, -0.3], reference: [0.25, -1, 0.001] },
      bytesHex: toHex(stateBytes),
      rootHex: toHex(leafHash(stateBytes)),
    },
    evidence: {
      firstHex: toHex(announcementEnvelope),
      secondHex: toHex(secondAnnouncement),
      evidenceHex: toHex(encodeEvidence(announcementEnvelope, secondAnnouncement)),
    },
    chunkRequest: {
      fields: { root: toHex(merkleTree.root), size: merkleData.length, indices: [0, 5] },
      bytesHex: toHex(
        ChunkRequest.encode({
          root: merkleTree.root as Uint8Array<ArrayBuffer>,
          size: BigInt(merkleData.length),
          indices: [0, 5],
        }),
      ),
    },
    chunkResponse: {
      fields: { status: 'OK', index: 5, proof: merkleTree.proof(5).map(toHex) },
      bytesHex: toHex(
        ChunkResponse.encode({ index: 5, proof: merkleTree.proof(5) as Uint8Array<ArrayBuffer>[] }),
      ),
    },
  }

  const verdictContext = {
    currentRound: 3,
    encoding: 'fp32' as const,
    encodedSize: announcement.encodedSize,
    stateSize: commit.stateSize,
  }
  const flipLast = (b: Uint8Array) => {
    const c = new Uint8Array(b)
    c[c.length - 1] ^= 1
    return c
  }
  const verdictInputs: Array<{
    name: string
    bytes: Uint8Array
    origin?: 'key0' | 'key1'
    knownDeltaHash?: Uint8Array
  }> = [
    { name: 'valid', bytes: announcementEnvelope, origin: 'key0' },
    { name: 'bad signature', bytes: flipLast(announcementEnvelope) },
    { name: 'published by another peer', bytes: announcementEnvelope, origin: 'key1' },
    {
      name: 'other run',
      bytes: await signAnnouncement(key, { ...announcement, runId: sha256(new Uint8Array(1)) }),
    },
    { name: 'stale round', bytes: await signAnnouncement(key, { ...announcement, round: 2 }) },
    { name: 'far-future round', bytes: await signAnnouncement(key, { ...announcement, round: 6 }) },
    { name: 'wrong size', bytes: await signAnnouncement(key, { ...announcement, encodedSize: 1 }) },
    {
      name: 'wrong encoding',
      bytes: await signAnnouncement(key, { ...announcement, encoding: 'int8-block' }),
    },
    { name: 'unknown version', bytes: await signAnnouncement(key, { ...announcement, version: 2 }) },
    { name: 'truncated', bytes: announcementEnvelope.subarray(0, 40) },
    { name: 'duplicate', bytes: announcementEnvelope, knownDeltaHash: announcement.deltaHash },
    { name: 'equivocation', bytes: announcementEnvelope, knownDeltaHash: leafHash(int8) },
  ]
  const verdicts = []
  for (const input of verdictInputs) {
    const ctx: AnnouncementContext = {
      runId,
      ...verdictContext,
      knownDeltaHash: () => input.knownDeltaHash,
    }
    const origin = input.origin === 'key1' ? otherPeerId : input.origin === 'key0' ? peerId : undefined
    const v = await validate(() => checkAnnouncement(input.bytes, origin, ctx))
    verdicts.push({
      name: input.name,
      envelopeHex: toHex(input.bytes),
      origin: origin?.toString() ?? null,
      knownDeltaHashHex: input.knownDeltaHash ? toHex(input.knownDeltaHash) : null,
      expected: v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`,
    })
  }
  // Commits (5.5), haves (5.7) and evidence (5.6), in the same context (current round 3).
  const otherCommit = { ...commit, peerId: peerIdBytes(otherPeerId) }
  const otherAnnouncement = await signAnnouncement(other, {
    ...announcement,
    peerId: peerIdBytes(otherPeerId),
  })
  const otherSecond = await signAnnouncement(other, {
    ...announcement,
    peerId: peerIdBytes(otherPeerId),
    deltaHash: leafHash(int8),
  })
  const messageInputs: Array<{
    kind: 'commit' | 'have' | 'evidence'
    name: string
    bytes: Uint8Array
    origin?: 'key0' | 'key1'
  }> = [
    { kind: 'commit', name: 'valid', bytes: commitEnvelope, origin: 'key0' },
    {
      kind: 'commit',
      name: 'delta hashes out of ascending order',
      bytes: await signCommit(key, { ...commit, deltaHashes: [...commit.deltaHashes].reverse() }),
      origin: 'key0',
    },
    { kind: 'commit', name: 'published by another peer', bytes: commitEnvelope, origin: 'key1' },
    {
      kind: 'commit',
      name: 'round before the previous one',
      bytes: await signCommit(key, { ...commit, round: 1 }),
      origin: 'key0',
    },
    {
      kind: 'commit',
      name: 'a later round (accepted: the node is behind)',
      bytes: await signCommit(key, { ...commit, round: 9 }),
      origin: 'key0',
    },
    {
      kind: 'commit',
      name: 'a state size other than the model state (12.1)',
      bytes: await signCommit(key, { ...commit, stateSize: commit.stateSize + 12 }),
      origin: 'key0',
    },
    {
      kind: 'commit',
      name: 'bad signature',
      bytes: flipLast(await signCommit(other, otherCommit)),
      origin: 'key1',
    },
    { kind: 'have', name: 'valid', bytes: haveEnvelope, origin: 'key0' },
    {
      kind: 'have',
      name: 'no delta listed',
      bytes: await signHave(key, { ...have, deltaHashes: [] }),
      origin: 'key0',
    },
    {
      kind: 'have',
      name: 'far-future round',
      bytes: await signHave(key, { ...have, round: 6 }),
      origin: 'key0',
    },
    {
      kind: 'evidence',
      name: 'valid (published by another peer)',
      bytes: encodeEvidence(announcementEnvelope, secondAnnouncement),
      origin: 'key1',
    },
    {
      kind: 'evidence',
      name: 'the same delta twice',
      bytes: encodeEvidence(announcementEnvelope, announcementEnvelope),
      origin: 'key1',
    },
    {
      kind: 'evidence',
      name: 'two peers',
      bytes: encodeEvidence(announcementEnvelope, otherSecond),
      origin: 'key1',
    },
    {
      kind: 'evidence',
      name: 'a forged second announcement',
      bytes: encodeEvidence(otherAnnouncement, flipLast(otherSecond)),
      origin: 'key0',
    },
  ]
  const messageVerdicts = []
  for (const input of messageInputs) {
    const origin = input.origin === 'key1' ? otherPeerId : input.origin === 'key0' ? peerId : undefined
    const ctx = { runId, currentRound: verdictContext.currentRound, stateSize: verdictContext.stateSize }
    const v =
      input.kind === 'commit'
        ? await validate(() => checkCommit(input.bytes, origin, ctx))
        : input.kind === 'have'
          ? await validate(() => checkHave(input.bytes, origin, ctx))
          : await validate(() => checkEvidence(input.bytes, ctx))
    messageVerdicts.push({
      kind: input.kind,
      name: input.name,
      bytesHex: toHex(input.bytes),
      origin: origin?.toString() ?? null,
      expected: v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`,
    })
  }
  const gossip = {
    specRevision: revision,
    description:
      "Validation verdicts, SPEC.md 5.3 (cases: announcements) and 5.5-5.7 (otherCases: commits, haves, evidence); run id of genesis.json case tiny. origin is the gossipsub message's from (the peer that published it), null for a message without one; knownDeltaHashHex, when not null, is the delta hash the receiver already holds for that peer and round (5.3, checks 10-11)",
    runIdHex: toHex(runId),
    context: verdictContext,
    cases: verdicts,
    otherCases: messageVerdicts,
  }

  const contributions: (Contribution & { values: Float32Array })[] = [
    { id: sha256(new Uint8Array([1])), values: f32([1, -2, 0.5, 1e8]) },
    { id: sha256(new Uint8Array([2])), values: f32([3, 4, 0.25, 1]) },
    { id: sha256(new Uint8Array([3])), values: f32([-5, 0, 0.125, -1e8]) },
    { id: sha256(new Uint8Array([4])), values: f32([2, 8, -0.5, 3]) },
    { id: sha256(new Uint8Array([5])), values: f32([100, -1, 1, 0.1]) },
  ]
  const aggregationSeedHex = toHex(new Uint8Array([1, 2, 3, 4]))
  const aggregationReference = f32([0.5, 0.5, 0, 0])
  const aggregationCases: Array<{ rule: AggregationRule; n: number }> = [
    { rule: { rule: 'mean' }, n: 5 },
    { rule: { rule: 'median' }, n: 5 },
    { rule: { rule: 'median' }, n: 4 },
    { rule: { rule: 'trimmed-mean', trimFraction: 0.2 }, n: 5 },
    { rule: { rule: 'nnm-trimmed-mean', faultFraction: 0.2 }, n: 5 },
    { rule: { rule: 'krum', f: 1 }, n: 5 },
    { rule: { rule: 'multi-krum', f: 1, m: 2 }, n: 5 },
    { rule: { rule: 'geometric-median', iterations: 20, nu: 1e-8, tolerance: 1e-7 }, n: 5 },
    { rule: { rule: 'centered-clipping', tau: 1, iterations: 3 }, n: 5 },
    { rule: { rule: 'centered-clipping', tau: 'auto', iterations: 3, bucketSize: 2 }, n: 5 },
    { rule: { rule: 'trimmed-mean', trimFraction: 0.2, nnmF: 1 }, n: 5 },
    { rule: { rule: 'median', bucketSize: 2 }, n: 5 },
    { rule: { rule: 'mean', normBound: 1 }, n: 5 },
  ]
  // Contributions at 6.8's magnitude bound: every rule stays finite (8.10).
  const edge = 2 ** 64
  const edgeContributions = [
    f32([edge, -edge, edge, 1]),
    f32([edge, -edge, -edge, 2]),
    f32([edge, edge, edge, 3]),
    f32([edge, -edge, edge, -edge]),
  ].map((values, i) => ({ id: sha256(new Uint8Array([50 + i])), values }))
  const edgeCases: AggregationRule[] = [
    { rule: 'mean' },
    { rule: 'median' },
    { rule: 'trimmed-mean', trimFraction: 0.25 },
    { rule: 'nnm-trimmed-mean', faultFraction: 0.2 },
    { rule: 'krum', f: 0 },
    { rule: 'geometric-median', iterations: 20, nu: 1e-8, tolerance: 1e-7 },
    { rule: 'centered-clipping', tau: 'auto', iterations: 3 },
  ]
  const context = { seed: fromHex(aggregationSeedHex), reference: aggregationReference }
  const aggregation = {
    specRevision: revision,
    description:
      'Aggregation rules, SPEC.md 8; inputs are ordered by id before use; seedHex is the bucketing seed and reference the centered-clipping reference point; refused: rule and input counts a node must refuse (8.10), with the reference error name; edgeCases: the rules over edgeContributions, values at the magnitude bound of 6.8, all finite',
    contributions: contributions.map((c) => ({ idHex: toHex(c.id), values: list(c.values) })),
    seedHex: aggregationSeedHex,
    reference: list(aggregationReference),
    cases: aggregationCases.map(({ rule, n }) => ({
      rule,
      inputs: n,
      output: list(
        aggregate(rule, contributions.slice(0, n), {
          seed: fromHex(aggregationSeedHex),
          reference: aggregationReference,
        }),
      ),
    })),
    // 8.10: Krum and multi-Krum need m > 2f + 2 inputs (m after bucketing); fewer are refused
    refused: [
      { rule: { rule: 'krum', f: 0 }, inputs: 2 },
      { rule: { rule: 'multi-krum', f: 0, m: 1 }, inputs: 2 },
      { rule: { rule: 'krum', f: 0, bucketSize: 2 }, inputs: 4 },
      { rule: { rule: 'krum', f: 1 }, inputs: 4 },
    ].map((c) => {
      let error: string | null = null
      try {
        aggregate(c.rule as AggregationRule, contributions.slice(0, c.inputs), context)
      } catch (err) {
        error = (err as Error).name
      }
      return { ...c, error }
    }),
    // 1, counts from fractions: binary64 products, then floor or ceil (899 where exact arithmetic gives 900)
    counts: [
      [0.009, 100_000],
      [0.2, 5],
      [0.1, 30],
      [0.07, 100],
      [0.29, 100],
      [0.3, 10],
    ].map(([fraction, n]) => ({
      fraction,
      n,
      trimCount: trimCount(n, Math.min(fraction, 0.49)),
      declaredFaults: declaredFaults(fraction, n),
      topkCount: topkCount(n, fraction),
    })),
    edgeContributions: edgeContributions.map((c) => ({ idHex: toHex(c.id), values: list(c.values) })),
    edgeCases: edgeCases.map((rule) => ({
      rule,
      inputs: edgeContributions.length,
      output: list(aggregate(rule, edgeContributions, context)),
    })),
  }

  const outerInput = { weights: f32([1, -2, 0.5]), momentum: f32([0.1, 0, -0.3]) }
  const outerGradient = f32([0.25, -1, 0.001])
  const outerResult = nesterovStep(outerInput, outerGradient, { lr: 0.7, momentum: 0.9 })
  const outer = {
    specRevision: revision,
    description: 'Outer Nesterov step, SPEC.md 9',
    lr: 0.7,
    momentum: 0.9,
    weights: list(outerInput.weights),
    momentumBuffer: list(outerInput.momentum),
    pseudoGradient: list(outerGradient),
    nextWeights: list(outerResult.weights),
    nextMomentumBuffer: list(outerResult.momentum),
  }

  // Agreement (SPEC.md 12.2): which state a node adopts from the commits it holds for a round.
  const state = (byte: number, hashByte = byte) => ({
    stateRoot: new Uint8Array(32).fill(byte),
    weightsHash: toHex(new Uint8Array(32).fill(hashByte)),
    stateSize: 1024,
  })
  const agreementCases: Array<{
    name: string
    expectedPeers: number
    faults: number
    ahead?: boolean
    commits: Array<[string, ReturnType<typeof state>]>
    /** the recall rule's input: the node's id, its earlier states, the peers' next-round bases */
    recall?: { self: string; earlier: Array<ReturnType<typeof state>>; builtOn: Array<[string, string]> }
  }> = [
    {
      name: 'a majority wins',
      expectedPeers: 3,
      faults: 0,
      commits: [
        ['a', state(9)],
        ['b', state(9)],
        ['c', state(1)],
      ],
    },
    {
      name: 'too few commits to decide',
      expectedPeers: 4,
      faults: 1,
      commits: [
        ['a', state(9)],
        ['b', state(9)],
      ],
    },
    {
      name: 'equal halves: the lower state root wins',
      expectedPeers: 4,
      faults: 1,
      commits: [
        ['a', state(9)],
        ['b', state(9)],
        ['c', state(2)],
        ['d', state(2)],
      ],
    },
    {
      name: 'a plurality among a majority of voters wins',
      expectedPeers: 8,
      faults: 2,
      commits: [
        ['a', state(7)],
        ['b', state(7)],
        ['c', state(7)],
        ['d', state(3)],
        ['e', state(5)],
      ],
    },
    {
      name: 'a plurality of at most f votes does not win (it may be made up)',
      expectedPeers: 8,
      faults: 2,
      commits: [
        ['a', state(7)],
        ['b', state(7)],
        ['c', state(1)],
        ['d', state(3)],
        ['e', state(5)],
      ],
    },
    {
      name: 'single votes never win a tie, even with faults 0',
      expectedPeers: 3,
      faults: 0,
      commits: [
        ['a', state(7)],
        ['b', state(1)],
        ['c', state(3)],
      ],
    },
    {
      name: 'a round not reached yet: a state backed by more than f peers wins without a majority of voters',
      expectedPeers: 4,
      faults: 1,
      ahead: true,
      commits: [
        ['a', state(9)],
        ['b', state(9)],
      ],
    },
    {
      name: 'a round not reached yet: a single commit does not win',
      expectedPeers: 4,
      faults: 1,
      ahead: true,
      commits: [['a', state(9)]],
    },
    {
      name: 'equal roots: the lower weights hash wins',
      expectedPeers: 4,
      faults: 1,
      commits: [
        ['a', state(4, 9)],
        ['b', state(4, 9)],
        ['c', state(4, 3)],
        ['d', state(4, 3)],
      ],
    },
    {
      name: 'recall: a peer went on from the state this node committed before its set grew',
      expectedPeers: 3,
      faults: 0,
      commits: [
        ['a', state(5)],
        ['me', state(8)],
      ],
      recall: { self: 'me', earlier: [state(5)], builtOn: [['a', state(5).weightsHash]] },
    },
    {
      name: 'recall: an earlier state no peer went on from is not counted',
      expectedPeers: 3,
      faults: 0,
      commits: [
        ['a', state(5)],
        ['me', state(8)],
      ],
      recall: { self: 'me', earlier: [state(5)], builtOn: [['a', state(6).weightsHash]] },
    },
    {
      name: 'recall: only when the latest commits decide nothing',
      expectedPeers: 3,
      faults: 0,
      commits: [
        ['a', state(5)],
        ['b', state(8)],
        ['me', state(8)],
      ],
      recall: { self: 'me', earlier: [state(5)], builtOn: [['a', state(5).weightsHash]] },
    },
    {
      name: 'recall: the recalled vote counts once, under the same rules (a plurality of more than f among a majority of voters)',
      expectedPeers: 8,
      faults: 2,
      commits: [
        ['a', state(5)],
        ['b', state(5)],
        ['c', state(3)],
        ['d', state(4)],
        ['me', state(8)],
      ],
      recall: { self: 'me', earlier: [state(5), state(5)], builtOn: [['b', state(5).weightsHash]] },
    },
    {
      name: 'recall: an earlier state only this node committed is not counted',
      expectedPeers: 3,
      faults: 0,
      commits: [
        ['a', state(6)],
        ['me', state(8)],
      ],
      recall: { self: 'me', earlier: [state(5)], builtOn: [['a', state(5).weightsHash]] },
    },
  ]
  const agreement = {
    specRevision: revision,
    description:
      'The decided state of a round from its commits, SPEC.md 12.2 (decided null: undecided; recall: the input of the recall rule, null when a case has none)',
    cases: agreementCases.map((c) => {
      const recall = c.recall && { ...c.recall, builtOn: new Map(c.recall.builtOn) }
      const decided = decidedState(c.commits, c.expectedPeers, c.faults, c.ahead ?? false, recall)
      const stateOf = (r: ReturnType<typeof state>) => ({
        stateRootHex: toHex(r.stateRoot),
        weightsHash: r.weightsHash,
        stateSize: r.stateSize,
      })
      return {
        name: c.name,
        expectedPeers: c.expectedPeers,
        faults: c.faults,
        ahead: c.ahead ?? false,
        commits: c.commits.map(([peer, r]) => ({ peer, ...stateOf(r) })),
        recall: c.recall
          ? {
              self: c.recall.self,
              earlier: c.recall.earlier.map(stateOf),
              builtOn: Object.fromEntries(c.recall.builtOn),
            }
          : null,
        decided: decided
          ? {
              stateRootHex: toHex(decided.record.stateRoot),
              weightsHash: decided.record.weightsHash,
              peers: decided.peers,
            }
          : null,
      }
    }),
  }

  // Proof of learning (SPEC.md 17): checkpoints, their roots and optimizer hashes (17.1), the
  // residual hash, the data commitment and header (17.2), the proof root and manifest (17.3).
  const proofGenesis = defaultGenesis({
    preset: 'tiny',
    salt: 'vectors',
    name: 'vectors',
    innerSteps: 4,
    batchSize: 2,
    checkpointInterval: 2,
  })
  const proofRunId = runIdOf(proofGenesis)
  const proofBase = weightsHash(initialWeights(proofGenesis.model))
  const proofSeed = { runId: proofRunId, baseHash: proofBase, peerId: peerIdBytes(peerId), round: 3 }
  const snapshot = (localStep: number, scale: number) => ({
    localStep,
    weights: f32([0.5 * scale, -1.25, 2, 1e-3]),
    optimizer: {
      step: 10 + localStep,
      firstMoment: f32([0.01 * scale, -0.02, 0, 0.003]),
      secondMoment: f32([1e-4, 4e-4 * scale, 0, 9e-6]),
    },
  })
  const checkpoints = [snapshot(0, 1), snapshot(2, 1.5), snapshot(4, 2)].map((s) => {
    const bytes = encodeCheckpoint(s)
    return { snapshot: s, bytes, root: objectRoot(bytes), optimizer: optimizerHash(bytes) }
  })
  const residualIn = f32([0, 0.125, -0.5, 3e-5])
  const residualOut = f32([0.25, 0, -0.0625, 0])
  const commitment = dataCommitment(proofGenesis, 10_000, proofSeed)
  const header = {
    version: 1,
    runId: proofRunId,
    round: 3,
    peerId: peerIdBytes(peerId),
    baseHash: proofBase,
    deltaHash: sha256(new TextEncoder().encode('a delta root, for the vector')),
    hyperparameters: hyperparametersOf(proofGenesis),
    backend: 'wasm',
    checkpointInterval: 2,
    dataCommitment: commitment,
    checkpointSteps: checkpointSteps(4, 2),
    updateNorms: [0.75, 1.5],
    optimizerIn: checkpoints[0].optimizer,
    optimizerOut: checkpoints[2].optimizer,
    residualIn: residualHash(residualIn),
    residualOut: residualHash(residualOut),
    previousRound: 2,
    precision: 'fp32' as const,
  }
  const headerBytes = encodeHeader(header)
  const roots = checkpoints.map((c) => c.root)
  const proof = {
    specRevision: revision,
    description:
      "Proof of learning (SPEC.md 17): checkpoint bytes, Merkle roots and optimizer hashes (17.1), residual hashes, the data commitment of (peer, round, base) over a training split of trainLength samples and the ProofHeader bytes (17.2), the proof root and ProofManifest bytes (17.3). The genesis is given whole: its inner object is the header's hyperparameters.",
    genesis: proofGenesis,
    checkpoints: checkpoints.map((c) => ({
      localStep: c.snapshot.localStep,
      optimizerStep: c.snapshot.optimizer.step,
      weights: list(c.snapshot.weights),
      firstMoment: list(c.snapshot.optimizer.firstMoment),
      secondMoment: list(c.snapshot.optimizer.secondMoment),
      bytesHex: toHex(c.bytes),
      rootHex: toHex(c.root),
      optimizerHashHex: toHex(c.optimizer),
    })),
    residuals: [residualIn, residualOut].map((r) => ({
      values: list(r),
      residualHashHex: toHex(residualHash(r)),
    })),
    dataCommitment: {
      runIdHex: toHex(proofRunId),
      baseHashHex: toHex(proofBase),
      peerIdBytesHex: toHex(peerIdBytes(peerId)),
      round: 3,
      trainLength: 10_000,
      commitmentHex: toHex(commitment),
    },
    header: {
      fields: {
        version: 1,
        runIdHex: toHex(header.runId),
        round: 3,
        peerIdBytesHex: toHex(header.peerId),
        baseHashHex: toHex(header.baseHash),
        deltaHashHex: toHex(header.deltaHash),
        hyperparameters: header.hyperparameters,
        backend: header.backend,
        checkpointInterval: 2,
        dataCommitmentHex: toHex(commitment),
        checkpointSteps: header.checkpointSteps,
        updateNorms: header.updateNorms,
        optimizerInHex: toHex(header.optimizerIn),
        optimizerOutHex: toHex(header.optimizerOut),
        residualInHex: toHex(header.residualIn),
        residualOutHex: toHex(header.residualOut),
        previousRoundPlusOne: 3,
        precision: '',
      },
      bytesHex: toHex(headerBytes),
      leafHex: toHex(leafHash(domainHash(DOMAINS.proofHeader, headerBytes))),
    },
    proofRootHex: toHex(proofRoot(headerBytes, roots)),
    manifestHex: toHex(encodeManifest(headerBytes, roots)),
  }

  // What a requester refuses (SPEC.md 10.3), on an object of two chunks: byte i is (7 i + 3) mod
  // 256, `size` bytes.
  const transferSize = LIMITS.chunkBytes + 1000
  const transferObject = Uint8Array.from({ length: transferSize }, (_, i) => (7 * i + 3) & 255)
  const transferTree = MerkleTree.fromBytes(transferObject, LIMITS.chunkBytes)
  const chunkOf = (i: number) =>
    transferObject.subarray(i * LIMITS.chunkBytes, Math.min(transferSize, (i + 1) * LIMITS.chunkBytes))
  const transferCase = (name: string, index: number, chunk: Uint8Array, proofOf = index) => {
    const assembly = new ChunkAssembly(transferTree.root, transferSize)
    let verdict = 'accept'
    try {
      assembly.accept(index, chunk, transferTree.proof(proofOf))
    } catch (err) {
      verdict = /bytes, expected/.test((err as Error).message) ? 'wrong-length' : 'bad-chunk'
    }
    return {
      name,
      index,
      chunkSha256Hex: toHex(sha256(chunk)),
      chunkLength: chunk.length,
      proofHex: transferTree.proof(proofOf).map(toHex),
      verdict,
    }
  }
  const flipped = new Uint8Array(chunkOf(1))
  flipped[0] ^= 1
  const sizeVerdict = (size: number) => {
    try {
      new ChunkAssembly(transferTree.root, size)
      return 'accept'
    } catch {
      return 'oversize'
    }
  }
  const transfer = {
    rootHex: toHex(transferTree.root),
    size: transferSize,
    rule: 'byte i of the object is (7 i + 3) mod 256; chunks of limits.chunkBytes',
    chunks: [
      transferCase('chunk 0 with its proof', 0, chunkOf(0)),
      transferCase('the short last chunk with its proof', 1, chunkOf(1)),
      transferCase('a chunk with one bit flipped: bad-chunk, its source is lying', 1, flipped),
      transferCase('a chunk one byte short: refused before hashing', 1, chunkOf(1).subarray(1)),
      transferCase("chunk 1's bytes answered for index 0 (another index's chunk)", 0, chunkOf(1), 0),
      transferCase("chunk 0 with chunk 1's proof", 0, chunkOf(0), 1),
    ],
    announcedSizes: [0, 1, LIMITS.maxObjectBytes, LIMITS.maxObjectBytes + 1].map((size) => ({
      encodedSize: size,
      verdict: sizeVerdict(size),
    })),
    maxResponseHeaderBytes: LIMITS.maxResponseHeaderBytes,
  }
  Object.assign(messages, { transfer })

  const shards = await shardVectors(revision, key, other, runId)

  return {
    keys,
    prng,
    genesis,
    data,
    deltas,
    merkle,
    messages,
    gossip,
    aggregation,
    outer,
    agreement,
    proof,
    shards,
  }
}

/**
 * The sharded exchange (SPEC.md 18): layouts (18.1), aggregator draws (18.2), the bytes a node reads
 * of a delta for a coordinate range (18.3), set roots and shard results (18.4), and the verdicts of
 * a shard result's checks (18.4).
 */
async function shardVectors(revision: string, key: PrivateKey, other: PrivateKey, runId: Uint8Array) {
  const layoutCases: Array<{
    count: number
    delta: { encoding: DeltaEncodingName; blockSize: number }
    shards: number
  }> = [
    { count: 10_000, delta: { encoding: 'int8-block', blockSize: 256 }, shards: 3 },
    { count: 10_000, delta: { encoding: 'sparse-2bit', blockSize: 4096 }, shards: 2 },
    { count: 1_000, delta: { encoding: 'fp32', blockSize: 256 }, shards: 4 },
    { count: 5, delta: { encoding: 'fp16', blockSize: 256 }, shards: 1 },
  ]
  const layouts = layoutCases.map((c) => ({
    ...c,
    granule: shardGranule(c.delta),
    ranges: shardRanges(c.count, c.shards, shardGranule(c.delta)).map((r) => [r.start, r.end]),
  }))
  const drawPeers = await Promise.all(
    [3, 9, 1, 7, 5].map(async (b) =>
      peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(b))).toString(),
    ),
  )
  const layout = shardRanges(10_000, 6, 256)
  const draws = [
    { round: 1, replicas: 2, peers: drawPeers },
    { round: 2, replicas: 2, peers: drawPeers },
    { round: 7, replicas: 1, peers: drawPeers.slice(0, 3) },
    { round: 7, replicas: 3, peers: drawPeers.slice(0, 2) },
  ].map(({ round, replicas, peers }) => {
    const seed = roundSeed(runId, round)
    const plan = planShards(layout, peers, replicas, seed, peers[0])
    return {
      round,
      replicas,
      peers,
      shards: layout.length,
      seedHex: toHex(seed),
      aggregators: plan.aggregators,
    }
  })
  // 18.2: whether a table saves bytes over whole deltas (int8-block, blocks of 256, transfer
  // chunks of limits.chunkBytes)
  const savingCases = [
    { count: 3_000_000, shards: 4, replicas: 2, peers: drawPeers },
    { count: 3_000_000, shards: 4, replicas: 2, peers: drawPeers.slice(0, 2) },
    { count: 3_000_000, shards: 6, replicas: 1, peers: drawPeers.slice(0, 3) },
    { count: 200_000, shards: 4, replicas: 1, peers: drawPeers },
  ].map(({ count, shards, replicas, peers }) => {
    const options: EncodeOptions = { encoding: 'int8-block', blockSize: 256 }
    const plan = planShards(shardRanges(count, shards, 256), peers, replicas, roundSeed(runId, 1), peers[0])
    return {
      count,
      round: 1,
      shards,
      replicas,
      peers,
      aggregators: plan.aggregators,
      readBytes: shardedReadBytes(plan, peers, count, options, LIMITS.chunkBytes),
      wholeBytes: peers.length * (peers.length - 1) * encodedDeltaSize(count, options),
      sharded: shardingSaves(plan, peers, count, options, LIMITS.chunkBytes),
    }
  })
  const partCases: Array<{ options: EncodeOptions; start: number; end: number }> = [
    { options: { encoding: 'int8-block', blockSize: 256 }, start: 333_000, end: 666_000 },
    { options: { encoding: 'int4-block', blockSize: 256 }, start: 0, end: 100 },
    { options: { encoding: 'sparse-2bit', blockSize: 4096, k: 128 }, start: 500_000, end: 1_000_000 },
    { options: { encoding: 'fp32' }, start: 65_536, end: 131_072 },
  ]
  const parts = partCases.map(({ options, start, end }) => {
    const count = 1_000_000
    const size = encodedDeltaSize(count, options)
    const byteRanges = encodedRangesOf(count, options, start, end)
    return {
      count,
      delta: options,
      start,
      end,
      encodedSize: size,
      byteRanges: byteRanges.map((r) => [r.start, r.end]),
      chunks: chunksHolding(byteRanges, size, LIMITS.chunkBytes),
    }
  })
  const hashes = [3, 1, 2].map((b) => sha256(new Uint8Array([b])))
  const setRoots = [
    { deltaHashes: hashes.map(toHex), rootHex: toHex(shardSetRoot(hashes)) },
    { deltaHashes: [toHex(hashes[0])], rootHex: toHex(shardSetRoot([hashes[0]])) },
  ]
  const resultValues = Float32Array.from({ length: 300 }, (_, i) =>
    Math.fround(Math.sin(i) * 0.01 * (i < 256 ? 1 : 50)),
  )
  const result = shardResult(resultValues)
  const resultMessage: ShardResult = {
    version: 1,
    runId,
    round: 3,
    peerId: peerIdBytes(peerIdFromPrivateKey(key)),
    baseHash: sha256(new TextEncoder().encode('weights')),
    setRoot: shardSetRoot(hashes),
    shard: 1,
    resultRoot: leafHash(result.bytes),
    resultSize: result.bytes.length,
  }
  const resultBody = encodeShardResultBody(resultMessage)
  const resultEnvelope = await signShardResult(key, resultMessage)
  const context = {
    currentRound: 3,
    shards: 2,
    resultSizes: [encodedDeltaSize(300, RESULT_ENCODING), result.bytes.length],
    resultBlocks: [2, 2],
  }
  const ctx = { runId, currentRound: 3, shards: 2, resultSize: (s: number) => context.resultSizes[s] }
  const ownId = peerIdFromPrivateKey(key)
  const otherId = peerIdFromPrivateKey(other)
  const verdictInputs: Array<{ name: string; bytes: Uint8Array; origin: typeof ownId }> = [
    { name: 'valid', bytes: resultEnvelope, origin: ownId },
    { name: 'published by another peer', bytes: resultEnvelope, origin: otherId },
    {
      name: 'a shard the run does not have',
      bytes: await signShardResult(key, { ...resultMessage, shard: 2 }),
      origin: ownId,
    },
    {
      name: "a size other than the shard result's",
      bytes: await signShardResult(key, { ...resultMessage, resultSize: resultMessage.resultSize + 1 }),
      origin: ownId,
    },
    {
      name: 'round before the previous one',
      bytes: await signShardResult(key, { ...resultMessage, round: 1 }),
      origin: ownId,
    },
    {
      name: 'far-future round',
      bytes: await signShardResult(key, { ...resultMessage, round: 6 }),
      origin: ownId,
    },
  ]
  const verdicts = []
  for (const input of verdictInputs) {
    const v = await validate(() => checkShardResult(input.bytes, input.origin, ctx))
    verdicts.push({
      name: input.name,
      bytesHex: toHex(input.bytes),
      origin: input.origin.toString(),
      expected: v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`,
    })
  }
  const evidenceCtx = { ...ctx, resultBlocks: (shard: number) => context.resultBlocks[shard] }
  // 18.8: partial distances by shard, their sum, and NNM then trimmed mean with them
  const stream = new HashStream('dtrain/v1/vectors', new TextEncoder().encode('shard partials'))
  const partialInputs = [3, 1, 4, 2].map((b) => ({
    id: sha256(new Uint8Array([b])),
    values: Float32Array.from({ length: 600 }, () => Math.fround(stream.nextSymmetricUnit() * 0.01 * b)),
  }))
  const partialLayout = shardRanges(600, 3, 64)
  const ordered = [...partialInputs].sort((a, b) => Buffer.compare(a.id, b.id))
  const perShard = partialLayout.map((shard) =>
    partialGeometry(
      shardSources(
        ordered.map((c) => c.values),
        shard,
      ),
    ),
  )
  const pairsOf = (m: Float64Array[]) => m.flatMap((row, i) => Array.from(row.subarray(i + 1)))
  const partialRule: AggregationRule = { rule: 'nnm-trimmed-mean', faultFraction: 0.25 }
  const partialsMessage: ShardPartials = {
    version: 1,
    runId,
    round: 3,
    peerId: peerIdBytes(peerIdFromPrivateKey(key)),
    setRoot: shardSetRoot(ordered.map((c) => c.id)),
    shard: 1,
    inputs: 4,
    distances: Float64Array.from(pairsOf(perShard[1].distances)),
    anchor: perShard[1].anchor,
  }
  const partialsBody = encodeShardPartialsBody(partialsMessage)
  const partialsEnvelope = await signShardPartials(key, partialsMessage)
  const partialsCtx = { runId, currentRound: 3, shards: 3 }
  const partialsInputs: Array<{ name: string; bytes: Uint8Array }> = [
    { name: 'valid', bytes: partialsEnvelope },
    {
      name: 'one value short',
      bytes: await signShardPartials(key, {
        ...partialsMessage,
        distances: partialsMessage.distances.subarray(1),
      }),
    },
    {
      name: 'one distance to the anchor short',
      bytes: await signShardPartials(key, {
        ...partialsMessage,
        anchor: partialsMessage.anchor.subarray(1),
      }),
    },
    {
      name: 'a negative distance',
      bytes: await signShardPartials(key, {
        ...partialsMessage,
        distances: Float64Array.from(partialsMessage.distances, (d, i) => (i === 0 ? -d : d)),
      }),
    },
    {
      name: 'a shard the run does not have',
      bytes: await signShardPartials(key, { ...partialsMessage, shard: 3 }),
    },
  ]
  const partialsVerdicts = []
  for (const input of partialsInputs) {
    const v = await validate(() => checkShardPartials(input.bytes, peerIdFromPrivateKey(key), partialsCtx))
    partialsVerdicts.push({
      name: input.name,
      bytesHex: toHex(input.bytes),
      expected: v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`,
    })
  }
  // 18.9: the rules that read the geometry beyond the distances, on the same inputs; centered
  // clipping's anchor is its reference
  const reference = Float32Array.from({ length: 600 }, () => Math.fround(stream.nextSymmetricUnit() * 0.01))
  const roundSeedOf = roundSeed(runId, 3)
  const geometryRules: Array<{ name: string; rule: AggregationRule; reference?: Float32Array }> = [
    {
      name: 'geometric median',
      rule: { rule: 'geometric-median', iterations: 8, nu: 1e-6, tolerance: 1e-6 },
    },
    {
      name: 'centered clipping from a reference',
      rule: { rule: 'centered-clipping', tau: 'auto', iterations: 3 },
      reference,
    },
    { name: 'mean after a norm bound', rule: { rule: 'mean', normBound: 0.1 } },
    { name: 'krum after NNM', rule: { rule: 'krum', f: 0, nnmF: 1 } },
    { name: 'median of bucket means (round 3)', rule: { rule: 'median', bucketSize: 2 } },
  ]
  const geometryCases = geometryRules.map(({ name, rule, reference: ref }) => ({
    name,
    rule,
    referenceValues: ref === undefined ? undefined : Array.from(ref),
    anchorByShard:
      ref === undefined
        ? undefined
        : partialLayout.map((shard) =>
            Array.from(
              partialGeometry(
                shardSources(
                  ordered.map((c) => c.values),
                  shard,
                ),
                ref.subarray(shard.start, shard.end),
              ).anchor,
            ),
          ),
    aggregate: Array.from(
      aggregateByShards(rule, partialInputs, partialLayout, { seed: roundSeedOf, reference: ref }),
    ),
  }))
  const summed = sumPartials(perShard)
  const partials = {
    inputs: partialInputs.map((c) => ({ idHex: toHex(c.id), values: Array.from(c.values) })),
    layout: partialLayout.map((r) => [r.start, r.end]),
    partialsByShard: perShard.map((p) => pairsOf(p.distances)),
    anchorByShard: perShard.map((p) => Array.from(p.anchor)),
    summed: pairsOf(summed.distances),
    anchorSummed: Array.from(summed.anchor),
    rule: partialRule,
    aggregate: Array.from(aggregateByShards(partialRule, partialInputs, partialLayout)),
    roundSeedHex: toHex(roundSeedOf),
    geometryRules: geometryCases,
    message: {
      setRootHex: toHex(partialsMessage.setRoot),
      bodyHex: toHex(partialsBody),
      signingDigestHex: toHex(domainHash(DOMAINS.shardPartials, partialsBody)),
      envelopeHex: toHex(partialsEnvelope),
    },
    shards: partialsCtx.shards,
    verdicts: partialsVerdicts,
  }
  const secondResult = await signShardResult(key, {
    ...resultMessage,
    resultRoot: sha256(new Uint8Array([9])),
  })
  const otherAggregator = await signShardResult(other, {
    ...resultMessage,
    peerId: peerIdBytes(otherId),
    resultRoot: sha256(new Uint8Array([9])),
  })
  const evidenceInputs: Array<{ name: string; bytes: Uint8Array }> = [
    {
      name: 'two results of one aggregator',
      bytes: encodeShardEvidence({ result: resultEnvelope, other: secondResult }),
    },
    {
      name: 'the same result twice',
      bytes: encodeShardEvidence({ result: resultEnvelope, other: resultEnvelope }),
    },
    {
      name: 'results of two aggregators',
      bytes: encodeShardEvidence({ result: resultEnvelope, other: otherAggregator }),
    },
    {
      name: 'a block said not to recompute',
      bytes: encodeShardEvidence({ result: resultEnvelope, block: 1 }),
    },
    { name: 'a block past the result', bytes: encodeShardEvidence({ result: resultEnvelope, block: 2 }) },
  ]
  const evidence = []
  for (const input of evidenceInputs) {
    const v = await validate(() => checkShardEvidence(input.bytes, evidenceCtx))
    evidence.push({
      name: input.name,
      bytesHex: toHex(input.bytes),
      expected: v.action === 'accept' ? `accept: ${v.value.kind}` : `${v.action}: ${v.reason}`,
    })
  }
  return {
    specRevision: revision,
    description:
      'Sharded exchange, SPEC.md 18: layouts (18.1), aggregator draws with the run id of genesis.json case tiny (18.2) and whether a draw saves bytes over whole deltas (savingCases: readBytes, the sum of 18.2, against wholeBytes), the bytes and transfer chunks a node reads of a delta for coordinates [start, end) (18.3), set roots, a shard result and its message, signed by keys.json key 0, the verdicts of its checks (18.4), of evidence (18.7: "accept: two-results" is acted on at once; "accept: wrong" is checked by the receiver against its own deltas), and partials (18.8: four inputs of 600 coordinates in three shards, the pairs i < j of each shard in canonical order and each input\'s squared norm (the origin anchor), their sums in shard order, the aggregate of NNM then trimmed mean with them, a ShardPartials message of shard 1 and its verdicts with current round 3) and the rules that read the geometry (18.9, geometryRules: each rule\'s aggregate by shards; centered clipping with its reference, whose distances to the inputs are its anchorByShard; bucketing with the seed roundSeedHex of round 3)',
    layouts,
    draws,
    savingCases,
    parts,
    setRoots,
    result: {
      values: Array.from(resultValues),
      bytesHex: toHex(result.bytes),
      rootHex: toHex(leafHash(result.bytes)),
      decoded: Array.from(result.values),
    },
    message: {
      fields: {
        ...Object.fromEntries(
          Object.entries(resultMessage).map(([k, v]) => [k, v instanceof Uint8Array ? toHex(v) : v]),
        ),
      },
      bodyHex: toHex(resultBody),
      signingDigestHex: toHex(domainHash(DOMAINS.shardResult, resultBody)),
      envelopeHex: toHex(resultEnvelope),
    },
    context,
    verdicts,
    evidence,
    partials,
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const outDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'protocol', 'vectors')
  mkdirSync(outDir, { recursive: true })
  const vectors = await buildVectors()
  for (const [name, content] of Object.entries(vectors)) {
    writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(content, null, 2)}\n`)
  }
  console.log(`wrote ${Object.keys(vectors).length} vector files to ${outDir}`)
}
