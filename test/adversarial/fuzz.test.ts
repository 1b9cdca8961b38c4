// Mutation and property-based fuzzing of every decoder that sees bytes from the network
// (SPEC.md 5, 6, 10). Each case must either decode or fail with one of the protocol's named
// errors: never a crash, a RangeError from a typed array, or an unhandled rejection.
// Mutations are seeded, so a failure reproduces; the total case count is printed.
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DeltaEncodingName, decodeDelta, encodeDelta } from '../../src/codec/delta.js'
import {
  DeltaRangeError,
  DeltaShapeError,
  MalformedDeltaError,
  NonFiniteDeltaError,
} from '../../src/codec/errors.js'
import { sha256 } from '../../src/crypto/hash.js'
import { InvalidProofError, leafHash, MerkleTree, verifyProof } from '../../src/crypto/merkle.js'
import { HashStream } from '../../src/crypto/prng.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { checkAnnouncement, checkCommit, checkEvidence, validate } from '../../src/gossip/validate.js'
import { decodeChunkRequest, decodeChunkResponse, TransferError } from '../../src/net/transfer.js'
import { defaultGenesis, GenesisError, parseGenesis } from '../../src/wire/genesis.js'
import {
  type Announcement,
  decodeAnnouncement,
  decodeEvidence,
  encodeEvidence,
  MalformedMessageError,
  OversizeMessageError,
  signAnnouncement,
  signCommit,
  UnsupportedVersionError,
} from '../../src/wire/messages.js'
import { ChunkRequest, ChunkResponse } from '../../src/wire/proto/dtrain.js'

const NAMED_ERRORS = [
  MalformedDeltaError,
  DeltaShapeError,
  NonFiniteDeltaError,
  DeltaRangeError,
  MalformedMessageError,
  OversizeMessageError,
  UnsupportedVersionError,
  TransferError,
  InvalidProofError,
  GenesisError,
]
const VERDICT_REASONS = new Set([
  'oversize',
  'malformed',
  'unsupported-version',
  'wrong-run',
  'bad-peer-id',
  'origin-mismatch',
  'bad-signature',
  'stale-round',
  'future-round',
  'wrong-encoding',
  'wrong-size',
  'duplicate',
  'equivocation',
  'not-equivocation',
])

let cases = 0
const counts: Record<string, number> = {}

function expectNamed(fn: () => unknown, target: string): void {
  cases++
  counts[target] = (counts[target] ?? 0) + 1
  try {
    fn()
  } catch (err) {
    if (!NAMED_ERRORS.some((E) => err instanceof E)) {
      throw new Error(`${target}: unnamed failure ${(err as Error)?.name}: ${(err as Error)?.message}`)
    }
  }
}

async function expectVerdict(check: () => Promise<unknown>, target: string): Promise<void> {
  cases++
  counts[target] = (counts[target] ?? 0) + 1
  const v = await validate(check)
  if (v.action !== 'accept' && !VERDICT_REASONS.has(v.reason))
    throw new Error(`${target}: unexpected reason ${v.reason}: ${v.detail}`)
  // Unknown errors are our own bugs (reason internal-error, not in VERDICT_REASONS, so the check
  // above fails on them); and no TypeError or RangeError may hide behind a named reason either.
  if (
    v.action !== 'accept' &&
    /is not a function|Cannot read|out of bounds|Invalid typed array/.test(v.detail)
  ) {
    throw new Error(`${target}: a crash surfaced as a verdict: ${v.detail}`)
  }
}

/** Seeded mutations: bit flips, byte overwrites, truncation, extension, duplication, extreme u32s. */
function* mutations(seed: string, input: Uint8Array, count: number): Generator<Uint8Array> {
  const rng = new HashStream('fuzz', new TextEncoder().encode(seed))
  for (let c = 0; c < count; c++) {
    const out = new Uint8Array(input)
    switch (rng.nextBelow(7)) {
      case 0: {
        const flips = 1 + rng.nextBelow(3)
        for (let f = 0; f < flips; f++) out[rng.nextBelow(out.length)] ^= 1 << rng.nextBelow(8)
        yield out
        break
      }
      case 1:
        out[rng.nextBelow(out.length)] = rng.nextBelow(256)
        yield out
        break
      case 2:
        yield out.subarray(0, rng.nextBelow(out.length))
        break
      case 3: {
        const extra = Uint8Array.from({ length: 1 + rng.nextBelow(16) }, () => rng.nextBelow(256))
        yield new Uint8Array([...out, ...extra])
        break
      }
      case 4: {
        const at = rng.nextBelow(out.length)
        yield new Uint8Array([...out.subarray(0, at), ...out.subarray(at)])
        break
      }
      case 5: {
        if (out.length >= 4) {
          const at = rng.nextBelow(out.length - 3)
          new DataView(out.buffer).setUint32(at, [0, 1, 0x7fffffff, 0xffffffff][rng.nextBelow(4)], true)
        }
        yield out
        break
      }
      default: {
        const at = rng.nextBelow(out.length)
        const len = rng.nextBelow(Math.min(8, out.length - at) + 1)
        yield new Uint8Array([
          ...out.subarray(0, at + len),
          ...out.subarray(at, at + len),
          ...out.subarray(at + len),
        ])
      }
    }
  }
}

const runId = sha256(new Uint8Array([42]))
let key: PrivateKey
let announcement: Announcement
let signedAnnouncement: Uint8Array

beforeAll(async () => {
  key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9))
  announcement = {
    version: 1,
    runId,
    round: 4,
    peerId: peerIdBytes(peerIdFromPrivateKey(key)),
    baseHash: sha256(new Uint8Array([1])),
    deltaHash: sha256(new Uint8Array([2])),
    encodedSize: 156,
    encoding: 'fp32',
    trainLoss: 1.5,
    sampleCount: 64,
    proofRoot: new Uint8Array(32).fill(5),
  }
  signedAnnouncement = await signAnnouncement(key, announcement)
})

afterAll(() => {
  console.log(
    `fuzz: ${cases} cases (${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  )
  expect(cases).toBeGreaterThanOrEqual(100_000)
})

describe('fuzzing the decoders', () => {
  it('delta decoder: 60,000 mutations of valid deltas in every encoding', () => {
    const values = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * (i + 1))
    const encodings: Array<[DeltaEncodingName, object]> = [
      ['fp32', {}],
      ['fp16', {}],
      ['int8-block', { blockSize: 8 }],
      ['int4-block', { blockSize: 8 }],
      ['top-k', { k: 5 }],
      ['sparse-2bit', { blockSize: 8, k: 3 }],
    ]
    for (const [encoding, extra] of encodings) {
      const valid = encodeDelta(values, { encoding, ...extra })
      for (const bytes of mutations(`delta-${encoding}`, valid, 10_000))
        expectNamed(() => decodeDelta(bytes, 37), 'delta')
    }
  })

  it('announcement pipeline: 15,000 mutations of a signed announcement', async () => {
    const ctx = {
      runId,
      currentRound: 4,
      encoding: 'fp32' as const,
      encodedSize: 156,
      knownDeltaHash: () => undefined,
    }
    for (const bytes of mutations('announcement', signedAnnouncement, 15_000)) {
      await expectVerdict(() => checkAnnouncement(bytes, undefined, ctx), 'announcement')
    }
  })

  it('commit and evidence pipelines: 10,000 mutations each', async () => {
    const commit = await signCommit(key, {
      version: 1,
      runId,
      round: 3,
      peerId: announcement.peerId,
      weightsHash: sha256(new Uint8Array([3])),
      deltaHashes: [sha256(new Uint8Array([4])), sha256(new Uint8Array([5]))],
      stateRoot: sha256(new Uint8Array([8])),
      stateSize: 1234,
    })
    for (const bytes of mutations('commit', commit, 10_000)) {
      await expectVerdict(
        () => checkCommit(bytes, undefined, { runId, currentRound: 4, stateSize: 1234 }),
        'commit',
      )
    }
    const second = await signAnnouncement(key, { ...announcement, deltaHash: sha256(new Uint8Array([6])) })
    const evidence = encodeEvidence(signedAnnouncement, second)
    expect((await validate(() => checkEvidence(evidence, { runId, currentRound: 4 }))).action).toBe('accept')
    for (const bytes of mutations('evidence', evidence, 10_000)) {
      await expectVerdict(() => checkEvidence(bytes, { runId, currentRound: 4 }), 'evidence')
    }
  })

  it('chunk protocol messages: 10,000 mutations of requests and responses', () => {
    const request = ChunkRequest.encode({
      root: sha256(new Uint8Array([7])) as Uint8Array<ArrayBuffer>,
      size: 5_000_000n,
      indices: [0, 3, 17],
    })
    for (const bytes of mutations('chunk-request', request, 5_000)) {
      expectNamed(() => {
        decodeChunkRequest(bytes)
      }, 'chunk-request')
    }
    const tree = MerkleTree.fromLeaves(Array.from({ length: 9 }, (_, i) => leafHash(new Uint8Array([i]))))
    const response = ChunkResponse.encode({ index: 4, proof: tree.proof(4) as Uint8Array<ArrayBuffer>[] })
    for (const bytes of mutations('chunk-response', response, 5_000)) {
      expectNamed(() => {
        const decoded = decodeChunkResponse(bytes)
        verifyProof(tree.root, 9, decoded.index, leafHash(new Uint8Array([4])), decoded.proof)
      }, 'chunk-response')
    }
  })

  it('genesis parser: 5,000 mutations of the JSON text', () => {
    const text = new TextEncoder().encode(JSON.stringify(defaultGenesis()))
    for (const bytes of mutations('genesis', text, 5_000)) {
      expectNamed(() => {
        let json: unknown
        try {
          json = JSON.parse(new TextDecoder().decode(bytes))
        } catch {
          return // not JSON: the CLI reports that before parsing (test/e2e/cli.test.ts)
        }
        parseGenesis(json)
      }, 'genesis')
    }
  })

  it('property: arbitrary bytes never crash a decoder (10,000 runs)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expectNamed(() => decodeDelta(bytes, 37), 'arbitrary-delta')
        expectNamed(() => decodeAnnouncement(bytes), 'arbitrary-announcement')
        expectNamed(() => decodeEvidence(bytes), 'arbitrary-evidence')
      }),
      { numRuns: 10_000, seed: 1 },
    )
  })

  it('property: every lossy codec stays within its stated error bound on arbitrary finite vectors', () => {
    const finite = fc.float32Array({
      noNaN: true,
      noDefaultInfinity: true,
      min: -1e4,
      max: 1e4,
      minLength: 1,
      maxLength: 300,
    })
    fc.assert(
      fc.property(finite, (raw) => {
        cases++
        counts.roundtrip = (counts.roundtrip ?? 0) + 1
        const values = Float32Array.from(raw)
        const exact = decodeDelta(encodeDelta(values, { encoding: 'fp32' }), values.length).values
        expect(Buffer.from(exact.buffer).equals(Buffer.from(values.buffer))).toBe(true)
        const half = decodeDelta(encodeDelta(values, { encoding: 'fp16' }), values.length).values
        for (let i = 0; i < values.length; i++)
          expect(Math.abs(half[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * 2 ** -11 + 2 ** -25)
        for (const [encoding, levels] of [
          ['int8-block', 127],
          ['int4-block', 7],
        ] as const) {
          const decoded = decodeDelta(encodeDelta(values, { encoding, blockSize: 16 }), values.length).values
          for (let b = 0; b < values.length; b += 16) {
            const block = values.subarray(b, b + 16)
            const bound = (Math.max(...block.map(Math.abs)) / levels) * 0.5 * (1 + 1e-6) + 1e-30
            for (let i = 0; i < block.length; i++)
              expect(Math.abs(decoded[b + i] - block[i])).toBeLessThanOrEqual(bound)
          }
        }
        // top-k: every coordinate is either exact or zero, and nothing dropped outweighs what was kept.
        const k = Math.max(1, values.length >> 3)
        const sparseBytes = encodeDelta(values, { encoding: 'top-k', k })
        const sparse = decodeDelta(sparseBytes, values.length).values
        const header = new DataView(sparseBytes.buffer)
        const keptIndices = new Set(Array.from({ length: k }, (_, j) => header.getUint32(12 + 4 * j, true)))
        let smallestKept = Number.POSITIVE_INFINITY
        let largestDropped = 0
        for (let i = 0; i < values.length; i++) {
          if (keptIndices.has(i)) {
            expect(sparse[i]).toBe(values[i])
            smallestKept = Math.min(smallestKept, Math.abs(values[i]))
          } else {
            expect(sparse[i]).toBe(0)
            largestDropped = Math.max(largestDropped, Math.abs(values[i]))
          }
        }
        expect(largestDropped).toBeLessThanOrEqual(smallestKept)
      }),
      { numRuns: 2_000, seed: 2 },
    )
  })
})
