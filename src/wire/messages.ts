// Gossip messages (SPEC.md 5): protobuf bodies inside a signed envelope. Decoders bound the
// input size before parsing and turn every parse failure into MalformedMessageError.
import type { PrivateKey } from '@libp2p/interface'
import type { DeltaEncodingName } from '../codec/delta.js'
import { DOMAINS, LIMITS, PROTOCOL } from '../constants.js'
import { SIGNATURE_LENGTH, signBody } from '../crypto/sign.js'
import { hashField as checkHash, safeInteger as checkInteger } from './fields.js'
import {
  DeltaAnnouncement,
  DeltaEncoding,
  DeltaHave,
  EquivocationEvidence,
  ModelCommit,
  ShardEvidence,
  ShardPartials as ShardPartialsProto,
  ShardResult as ShardResultProto,
  Signed,
} from './proto/dtrain.js'

export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError'
}

export class OversizeMessageError extends Error {
  override name = 'OversizeMessageError'
}

/** A message of another protocol version: ignored, not penalised (SPEC.md 5.4). */
export class UnsupportedVersionError extends Error {
  override name = 'UnsupportedVersionError'
}

export interface Announcement {
  version: number
  runId: Uint8Array
  round: number
  peerId: Uint8Array
  baseHash: Uint8Array
  deltaHash: Uint8Array
  encodedSize: number
  encoding: DeltaEncodingName
  trainLoss: number
  sampleCount: number
  /** root of the round's proof-of-learning manifest (SPEC.md 17.3) */
  proofRoot: Uint8Array
}

export interface Commit {
  version: number
  runId: Uint8Array
  round: number
  peerId: Uint8Array
  weightsHash: Uint8Array
  deltaHashes: Uint8Array[]
  stateRoot: Uint8Array
  stateSize: number
}

/** "I hold these deltas of round `round`, verified, and serve them" (SPEC.md 5.7). */
export interface Have {
  version: number
  runId: Uint8Array
  round: number
  peerId: Uint8Array
  deltaHashes: Uint8Array[]
}

/**
 * "In round `round`, from the weights `baseHash`, I aggregated shard `shard` of the deltas whose
 * set root is `setRoot`, and serve the result: `resultSize` bytes whose root is `resultRoot`"
 * (SPEC.md 18.4).
 */
export interface ShardResult {
  version: number
  runId: Uint8Array
  round: number
  peerId: Uint8Array
  baseHash: Uint8Array
  setRoot: Uint8Array
  shard: number
  resultRoot: Uint8Array
  resultSize: number
}

/**
 * "In round `round` I computed the partial squared distances of shard `shard` of the `inputs`
 * deltas whose set root is `setRoot`" (SPEC.md 18.8): the pairs i < j in canonical order.
 */
export interface ShardPartials {
  version: number
  runId: Uint8Array
  round: number
  peerId: Uint8Array
  setRoot: Uint8Array
  shard: number
  inputs: number
  distances: Float64Array
  /** each input's squared distance to the anchor (centered clipping's reference, else the origin) */
  anchor: Float64Array
}

export interface SignedEnvelope<T> {
  body: Uint8Array
  signature: Uint8Array
  message: T
}

const ENCODING_TO_WIRE: Record<DeltaEncodingName, DeltaEncoding> = {
  fp32: DeltaEncoding.FP32,
  'int8-block': DeltaEncoding.INT8_BLOCK,
  fp16: DeltaEncoding.FP16,
  'int4-block': DeltaEncoding.INT4_BLOCK,
  'top-k': DeltaEncoding.TOP_K,
  'sparse-2bit': DeltaEncoding.SPARSE_2BIT,
}
const ENCODING_FROM_WIRE: Record<DeltaEncoding, DeltaEncodingName> = {
  [DeltaEncoding.FP32]: 'fp32',
  [DeltaEncoding.INT8_BLOCK]: 'int8-block',
  [DeltaEncoding.FP16]: 'fp16',
  [DeltaEncoding.INT4_BLOCK]: 'int4-block',
  [DeltaEncoding.TOP_K]: 'top-k',
  [DeltaEncoding.SPARSE_2BIT]: 'sparse-2bit',
}

/** The fields every signed gossip message begins with, in their wire types (the inverse of headerFields). */
function headerToWire(m: { version: number; runId: Uint8Array; round: number; peerId: Uint8Array }) {
  return {
    version: m.version,
    runId: m.runId as Uint8Array<ArrayBuffer>,
    round: BigInt(m.round),
    peerId: m.peerId as Uint8Array<ArrayBuffer>,
  }
}

export function encodeAnnouncementBody(a: Announcement): Uint8Array {
  return DeltaAnnouncement.encode({
    ...headerToWire(a),
    baseHash: a.baseHash as Uint8Array<ArrayBuffer>,
    deltaHash: a.deltaHash as Uint8Array<ArrayBuffer>,
    encodedSize: BigInt(a.encodedSize),
    encoding: ENCODING_TO_WIRE[a.encoding],
    trainLoss: a.trainLoss,
    sampleCount: BigInt(a.sampleCount),
    proofRoot: a.proofRoot as Uint8Array<ArrayBuffer>,
  })
}

export function encodeCommitBody(c: Commit): Uint8Array {
  return ModelCommit.encode({
    ...headerToWire(c),
    weightsHash: c.weightsHash as Uint8Array<ArrayBuffer>,
    deltaHashes: c.deltaHashes as Uint8Array<ArrayBuffer>[],
    stateRoot: c.stateRoot as Uint8Array<ArrayBuffer>,
    stateSize: BigInt(c.stateSize),
  })
}

export function encodeHaveBody(h: Have): Uint8Array {
  return DeltaHave.encode({
    ...headerToWire(h),
    deltaHashes: h.deltaHashes as Uint8Array<ArrayBuffer>[],
  })
}

export function encodeShardResultBody(r: ShardResult): Uint8Array {
  return ShardResultProto.encode({
    ...headerToWire(r),
    baseHash: r.baseHash as Uint8Array<ArrayBuffer>,
    setRoot: r.setRoot as Uint8Array<ArrayBuffer>,
    shard: r.shard,
    resultRoot: r.resultRoot as Uint8Array<ArrayBuffer>,
    resultSize: BigInt(r.resultSize),
  })
}

export function encodeShardPartialsBody(p: ShardPartials): Uint8Array {
  return ShardPartialsProto.encode({
    version: p.version,
    runId: p.runId as Uint8Array<ArrayBuffer>,
    round: BigInt(p.round),
    peerId: p.peerId as Uint8Array<ArrayBuffer>,
    setRoot: p.setRoot as Uint8Array<ArrayBuffer>,
    shard: p.shard,
    inputs: p.inputs,
    distances: float64le(p.distances),
    anchor: float64le(p.anchor),
  })
}

/** Binary64 values, little-endian, 8 bytes each. */
function float64le(values: Float64Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(values.length * 8)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat64(8 * i, values[i], true)
  return bytes
}

/** `count` little-endian binary64 values, each finite and >= 0 (MalformedMessageError naming `what`). */
function nonNegativeFloat64s(bytes: Uint8Array, count: number, what: string): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const values = Float64Array.from({ length: count }, (_, i) => view.getFloat64(8 * i, true))
  if (values.some((d) => !(Number.isFinite(d) && d >= 0)))
    throw new MalformedMessageError(`a partial ${what} is negative or not finite`)
  return values
}

export async function signShardPartials(key: PrivateKey, p: ShardPartials): Promise<Uint8Array> {
  const body = encodeShardPartialsBody(p)
  return encodeEnvelope(body, await signBody(key, DOMAINS.shardPartials, body))
}

export function encodeEnvelope(body: Uint8Array, signature: Uint8Array): Uint8Array {
  return Signed.encode({
    body: body as Uint8Array<ArrayBuffer>,
    signature: signature as Uint8Array<ArrayBuffer>,
  })
}

export async function signAnnouncement(key: PrivateKey, a: Announcement): Promise<Uint8Array> {
  const body = encodeAnnouncementBody(a)
  return encodeEnvelope(body, await signBody(key, DOMAINS.announcement, body))
}

export async function signCommit(key: PrivateKey, c: Commit): Promise<Uint8Array> {
  const body = encodeCommitBody(c)
  return encodeEnvelope(body, await signBody(key, DOMAINS.commit, body))
}

export async function signHave(key: PrivateKey, h: Have): Promise<Uint8Array> {
  const body = encodeHaveBody(h)
  return encodeEnvelope(body, await signBody(key, DOMAINS.have, body))
}

export async function signShardResult(key: PrivateKey, r: ShardResult): Promise<Uint8Array> {
  const body = encodeShardResultBody(r)
  return encodeEnvelope(body, await signBody(key, DOMAINS.shardResult, body))
}

function decodeEnvelope(bytes: Uint8Array): { body: Uint8Array; signature: Uint8Array } {
  if (bytes.length > LIMITS.maxGossipMessageBytes) {
    throw new OversizeMessageError(
      `message is ${bytes.length} bytes, the limit is ${LIMITS.maxGossipMessageBytes}`,
    )
  }
  const envelope = parse(() => Signed.decode(bytes), 'envelope')
  if (envelope.signature.length !== SIGNATURE_LENGTH) {
    throw new MalformedMessageError(
      `signature is ${envelope.signature.length} bytes, expected ${SIGNATURE_LENGTH}`,
    )
  }
  return envelope
}

/** The fields every signed gossip message begins with (SPEC.md 5.3, 5.5, 5.7), checked. */
function headerFields(raw: { version: number; runId: Uint8Array; round: bigint; peerId: Uint8Array }) {
  checkVersion(raw.version)
  return {
    version: raw.version,
    runId: hashField(raw.runId, 'runId'),
    round: safeInteger(raw.round, 'round'),
    peerId: raw.peerId,
  }
}

export function decodeAnnouncement(bytes: Uint8Array): SignedEnvelope<Announcement> {
  const { body, signature } = decodeEnvelope(bytes)
  const raw = parse(() => DeltaAnnouncement.decode(body), 'announcement')
  const message: Announcement = {
    ...headerFields(raw),
    baseHash: hashField(raw.baseHash, 'baseHash'),
    deltaHash: hashField(raw.deltaHash, 'deltaHash'),
    encodedSize: safeInteger(raw.encodedSize, 'encodedSize'),
    encoding: ENCODING_FROM_WIRE[raw.encoding],
    trainLoss: raw.trainLoss,
    sampleCount: safeInteger(raw.sampleCount, 'sampleCount'),
    proofRoot: hashField(raw.proofRoot, 'proofRoot'),
  }
  if (!Number.isFinite(message.trainLoss) || message.trainLoss < 0) {
    throw new MalformedMessageError(
      `trainLoss must be a finite non-negative number (got ${message.trainLoss})`,
    )
  }
  return { body, signature, message }
}

export function decodeCommit(bytes: Uint8Array): SignedEnvelope<Commit> {
  const { body, signature } = decodeEnvelope(bytes)
  const raw = parse(
    () => ModelCommit.decode(body, { limits: { deltaHashes: LIMITS.maxCommitDeltaHashes } }),
    'model commit',
  )
  const deltaHashes = raw.deltaHashes.map((h, i) => hashField(h, `deltaHashes[${i}]`))
  // ascending, as committers write them (SPEC.md 5.5); equal neighbours are allowed (two peers
  // may have sent the same bytes)
  for (let i = 1; i < deltaHashes.length; i++)
    if (Buffer.compare(deltaHashes[i - 1], deltaHashes[i]) > 0)
      throw new MalformedMessageError(`deltaHashes are not in ascending order (at ${i})`)
  return {
    body,
    signature,
    message: {
      ...headerFields(raw),
      weightsHash: hashField(raw.weightsHash, 'weightsHash'),
      deltaHashes,
      stateRoot: hashField(raw.stateRoot, 'stateRoot'),
      stateSize: safeInteger(raw.stateSize, 'stateSize'),
    },
  }
}

export function decodeHave(bytes: Uint8Array): SignedEnvelope<Have> {
  const { body, signature } = decodeEnvelope(bytes)
  const raw = parse(() => DeltaHave.decode(body, { limits: { deltaHashes: LIMITS.maxHaveHashes } }), 'have')
  const header = headerFields(raw)
  if (raw.deltaHashes.length === 0) throw new MalformedMessageError('a have lists no delta')
  return {
    body,
    signature,
    message: {
      ...header,
      deltaHashes: raw.deltaHashes.map((h, i) => hashField(h, `deltaHashes[${i}]`)),
    },
  }
}

/** A shard's partial distances (SPEC.md 18.8): their count follows from `inputs`, each finite and >= 0. */
export function decodeShardPartials(bytes: Uint8Array): SignedEnvelope<ShardPartials> {
  const { body, signature } = decodeEnvelope(bytes)
  const raw = parse(() => ShardPartialsProto.decode(body), 'shard partials')
  const header = headerFields(raw)
  const pairs = (raw.inputs * (raw.inputs - 1)) / 2
  if (raw.inputs < 1 || raw.distances.length !== 8 * pairs)
    throw new MalformedMessageError(
      `${raw.distances.length} bytes of distances for ${raw.inputs} inputs (8 per pair: ${8 * pairs})`,
    )
  if (raw.anchor.length !== 8 * raw.inputs)
    throw new MalformedMessageError(
      `${raw.anchor.length} bytes of distances to the anchor for ${raw.inputs} inputs (8 each: ${8 * raw.inputs})`,
    )
  const distances = nonNegativeFloat64s(raw.distances, pairs, 'distance')
  const anchor = nonNegativeFloat64s(raw.anchor, raw.inputs, 'distance to the anchor')
  return {
    body,
    signature,
    message: {
      ...header,
      setRoot: hashField(raw.setRoot, 'setRoot'),
      shard: raw.shard,
      inputs: raw.inputs,
      distances,
      anchor,
    },
  }
}

export function decodeShardResult(bytes: Uint8Array): SignedEnvelope<ShardResult> {
  const { body, signature } = decodeEnvelope(bytes)
  const raw = parse(() => ShardResultProto.decode(body), 'shard result')
  return {
    body,
    signature,
    message: {
      ...headerFields(raw),
      baseHash: hashField(raw.baseHash, 'baseHash'),
      setRoot: hashField(raw.setRoot, 'setRoot'),
      shard: raw.shard,
      resultRoot: hashField(raw.resultRoot, 'resultRoot'),
      resultSize: safeInteger(raw.resultSize, 'resultSize'),
    },
  }
}

/** Evidence of a wrong shard result (SPEC.md 18.7); its envelopes are checked by the caller. */
export function encodeShardEvidence(e: {
  result: Uint8Array
  other?: Uint8Array
  block?: number
}): Uint8Array {
  return ShardEvidence.encode({
    result: e.result as Uint8Array<ArrayBuffer>,
    other: (e.other ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>,
    block: e.block ?? 0,
  })
}

export function decodeShardEvidence(bytes: Uint8Array): {
  result: Uint8Array
  other?: Uint8Array
  block: number
} {
  if (bytes.length > LIMITS.maxGossipMessageBytes)
    throw new OversizeMessageError(
      `evidence is ${bytes.length} bytes, the limit is ${LIMITS.maxGossipMessageBytes}`,
    )
  const evidence = parse(() => ShardEvidence.decode(bytes), 'shard evidence')
  if (evidence.result.length === 0) throw new MalformedMessageError('shard evidence needs a result')
  return {
    result: evidence.result,
    other: evidence.other.length === 0 ? undefined : evidence.other,
    block: evidence.block,
  }
}

export function encodeEvidence(first: Uint8Array, second: Uint8Array): Uint8Array {
  return EquivocationEvidence.encode({
    first: first as Uint8Array<ArrayBuffer>,
    second: second as Uint8Array<ArrayBuffer>,
  })
}

/** Two signed announcement envelopes (SPEC.md 5.6); their contents are checked by the caller. */
export function decodeEvidence(bytes: Uint8Array): { first: Uint8Array; second: Uint8Array } {
  if (bytes.length > LIMITS.maxGossipMessageBytes) {
    throw new OversizeMessageError(
      `evidence is ${bytes.length} bytes, the limit is ${LIMITS.maxGossipMessageBytes}`,
    )
  }
  const evidence = parse(() => EquivocationEvidence.decode(bytes), 'evidence')
  if (evidence.first.length === 0 || evidence.second.length === 0) {
    throw new MalformedMessageError('evidence needs two announcements')
  }
  return evidence
}

function checkVersion(version: number): void {
  if (version !== PROTOCOL.protocolVersion) {
    throw new UnsupportedVersionError(
      `message version ${version}, this node speaks ${PROTOCOL.protocolVersion}`,
    )
  }
}

function parse<T>(fn: () => T, what: string): T {
  try {
    return fn()
  } catch (err) {
    throw new MalformedMessageError(`${what} does not decode: ${(err as Error).message}`)
  }
}

function hashField(bytes: Uint8Array, field: string): Uint8Array {
  return checkHash(bytes, field, MalformedMessageError)
}

function safeInteger(value: bigint, field: string): number {
  return checkInteger(value, field, MalformedMessageError)
}
