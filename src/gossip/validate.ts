// Gossip validation (SPEC.md 5.3 and 5.5): the checks run in the order the spec lists them;
// each failure is a typed GossipCheckError whose action (IGNORE or REJECT) the spec fixes.
// toVerdict() is the single place where errors become gossipsub verdicts.
import type { PeerId, PublicKey } from '@libp2p/interface'
import type { DeltaEncodingName } from '../codec/delta.js'
import { DOMAINS, LIMITS } from '../constants.js'
import { bytesEqual, toHex } from '../crypto/hash.js'
import { InvalidPeerIdError, peerIdFromBytes, verifyBody } from '../crypto/sign.js'
import {
  type Announcement,
  type Commit,
  decodeAnnouncement,
  decodeCommit,
  decodeEvidence,
  decodeHave,
  decodeShardEvidence,
  decodeShardPartials,
  decodeShardResult,
  type Have,
  MalformedMessageError,
  OversizeMessageError,
  type ShardPartials,
  type ShardResult,
  type SignedEnvelope,
  UnsupportedVersionError,
} from '../wire/messages.js'

export type RejectReason =
  | 'oversize'
  | 'malformed'
  | 'unsupported-version'
  | 'wrong-run'
  | 'bad-peer-id'
  | 'origin-mismatch'
  | 'bad-signature'
  | 'stale-round'
  | 'future-round'
  | 'wrong-encoding'
  | 'wrong-size'
  | 'duplicate'
  | 'equivocation'
  | 'not-equivocation'
  | 'not-allowed'
  /** a valid message this node cannot keep: a bounded book is full (IGNORE) */
  | 'over-limit'
  /** evidence checked against the deltas before this node passes it on (IGNORE, SPEC.md 18.7) */
  | 'unverified'
  /** our own failure while checking (a bug, not the peer's fault): IGNORE, logged as an error */
  | 'internal-error'

export type Action = 'ignore' | 'reject'

export class GossipCheckError extends Error {
  override name = 'GossipCheckError'
  constructor(
    readonly action: Action,
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message)
  }
}

export type Verdict<T> =
  | { action: 'accept'; value: T }
  | { action: Action; reason: RejectReason; detail: string }

export interface Validated<T> extends SignedEnvelope<T> {
  signer: PeerId & { publicKey: PublicKey }
}

export interface AnnouncementContext {
  runId: Uint8Array
  /** The round this node is in; announcements for older rounds are stale. */
  currentRound: number
  encoding: DeltaEncodingName
  encodedSize: number
  /** The delta hash this node already holds from that peer for that round, if any. */
  knownDeltaHash(peer: string, round: number): Uint8Array | undefined
}

export interface CommitContext {
  runId: Uint8Array
  currentRound: number
}

export interface ModelCommitContext extends CommitContext {
  /** the byte length of the run's global state (SPEC.md 12.1): every commit names exactly it */
  stateSize: number
}

/** Announcement checks, SPEC.md 5.3, in order. */
export async function checkAnnouncement(
  bytes: Uint8Array,
  origin: PeerId | undefined,
  ctx: AnnouncementContext,
): Promise<Validated<Announcement>> {
  const envelope = decodeAnnouncement(bytes)
  const a = envelope.message
  const signer = await checkSignerAndSignature(
    envelope,
    a.runId,
    a.peerId,
    origin,
    ctx.runId,
    DOMAINS.announcement,
  )
  checkRoundWindow(a.round, ctx.currentRound)
  if (a.encoding !== ctx.encoding) {
    throw new GossipCheckError(
      'reject',
      'wrong-encoding',
      `encoding ${a.encoding}, the run uses ${ctx.encoding}`,
    )
  }
  if (a.encodedSize !== ctx.encodedSize) {
    throw new GossipCheckError(
      'reject',
      'wrong-size',
      `claims ${a.encodedSize} bytes, the model's delta is ${ctx.encodedSize}`,
    )
  }
  const known = ctx.knownDeltaHash(signer.toString(), a.round)
  if (known !== undefined) {
    if (bytesEqual(known, a.deltaHash)) throw new GossipCheckError('ignore', 'duplicate', 'already known')
    throw new GossipCheckError(
      'ignore',
      'equivocation',
      `second delta ${toHex(a.deltaHash).slice(0, 16)} for round ${a.round}, first was ${toHex(known).slice(0, 16)}`,
    )
  }
  return { ...envelope, signer }
}

/** Model commit checks, SPEC.md 5.5, in order. */
export async function checkCommit(
  bytes: Uint8Array,
  origin: PeerId | undefined,
  ctx: ModelCommitContext,
): Promise<Validated<Commit>> {
  const envelope = decodeCommit(bytes)
  const c = envelope.message
  const signer = await checkSignerAndSignature(envelope, c.runId, c.peerId, origin, ctx.runId, DOMAINS.commit)
  // A commit for round r is published after round r, so it may arrive while we are in r + 1.
  // Commits of later rounds are kept: they tell a node that it is behind (SPEC.md 12.2).
  ignoreStale('commit', c.round, ctx.currentRound)
  // The state's size follows from the model (SPEC.md 12.1): a commit naming another size names a
  // state no node of this run can hold, and a node fetching it would allocate what it claims.
  if (c.stateSize !== ctx.stateSize)
    throw new GossipCheckError(
      'reject',
      'wrong-size',
      `names a state of ${c.stateSize} bytes, the model's state is ${ctx.stateSize}`,
    )
  return { ...envelope, signer }
}

/** IGNORE `stale-round`: a message of a round before the previous one (commits and haves). */
function ignoreStale(kind: string, round: number, currentRound: number): void {
  if (round + 1 < currentRound)
    throw new GossipCheckError(
      'ignore',
      'stale-round',
      `${kind} of round ${round}, current round ${currentRound}`,
    )
}

/** IGNORE `stale-round` before the previous round, and `future-round` beyond `maxRoundsAhead`. */
function ignoreOutsideWindow(kind: string, round: number, currentRound: number): void {
  ignoreStale(kind, round, currentRound)
  if (round > currentRound + LIMITS.maxRoundsAhead)
    throw new GossipCheckError(
      'ignore',
      'future-round',
      `${kind} of round ${round}, current round ${currentRound}`,
    )
}

/**
 * Have checks, SPEC.md 5.7, in order: 1-6 as for a commit (size, decoding, version, run, peer id,
 * origin, signature); IGNORE `stale-round` below the current round minus one and `future-round`
 * beyond `maxRoundsAhead`.
 */
export async function checkHave(
  bytes: Uint8Array,
  origin: PeerId | undefined,
  ctx: CommitContext,
): Promise<Validated<Have>> {
  const envelope = decodeHave(bytes)
  const h = envelope.message
  const signer = await checkSignerAndSignature(envelope, h.runId, h.peerId, origin, ctx.runId, DOMAINS.have)
  ignoreOutsideWindow('have', h.round, ctx.currentRound)
  return { ...envelope, signer }
}

export interface ShardResultContext extends CommitContext {
  /** the run's shard count (exchange.shards) */
  shards: number
  /** the encoded size of shard `shard`'s result (SPEC.md 18.4) */
  resultSize(shard: number): number
}

/**
 * Shard result checks, SPEC.md 18.4, in order: 1-7 as for a have (size, decoding, version, run,
 * peer id, origin, signature, round window); REJECT `malformed` for a shard index outside the
 * run's shards; REJECT `wrong-size` for a result size other than the shard's.
 */
export async function checkShardResult(
  bytes: Uint8Array,
  origin: PeerId | undefined,
  ctx: ShardResultContext,
  /** rounds back a result is still current: 1 on the shard topic, keptDeltaRounds in evidence */
  keptRounds = 1,
): Promise<Validated<ShardResult>> {
  const envelope = decodeShardResult(bytes)
  const r = envelope.message
  const signer = await checkSignerAndSignature(
    envelope,
    r.runId,
    r.peerId,
    origin,
    ctx.runId,
    DOMAINS.shardResult,
  )
  ignoreStale('shard result', r.round + keptRounds - 1, ctx.currentRound)
  if (r.round > ctx.currentRound + LIMITS.maxRoundsAhead)
    throw new GossipCheckError(
      'ignore',
      'future-round',
      `shard result of round ${r.round}, current round ${ctx.currentRound}`,
    )
  if (r.shard >= ctx.shards)
    throw new GossipCheckError('reject', 'malformed', `shard ${r.shard} of a run of ${ctx.shards} shards`)
  const size = ctx.resultSize(r.shard)
  if (r.resultSize !== size)
    throw new GossipCheckError(
      'reject',
      'wrong-size',
      `claims a result of ${r.resultSize} bytes, shard ${r.shard}'s is ${size}`,
    )
  return { ...envelope, signer }
}

/**
 * Shard partials checks, SPEC.md 18.8, in order: size, decoding (the lengths of the distances and
 * of the distances to the anchor follow from `inputs`; each value finite and >= 0), version, run,
 * peer id, origin, signature, round window (as a shard result's, 18.4); REJECT `malformed` for a
 * shard index outside the run's shards.
 */
export async function checkShardPartials(
  bytes: Uint8Array,
  origin: PeerId | undefined,
  ctx: CommitContext & { shards: number },
): Promise<Validated<ShardPartials>> {
  const envelope = decodeShardPartials(bytes)
  const p = envelope.message
  const signer = await checkSignerAndSignature(
    envelope,
    p.runId,
    p.peerId,
    origin,
    ctx.runId,
    DOMAINS.shardPartials,
  )
  ignoreOutsideWindow('shard partials', p.round, ctx.currentRound)
  if (p.shard >= ctx.shards)
    throw new GossipCheckError('reject', 'malformed', `shard ${p.shard} of a run of ${ctx.shards} shards`)
  return { ...envelope, signer }
}

export type ShardEvidenceCheck =
  | { kind: 'two-results'; first: Validated<ShardResult>; second: Validated<ShardResult> }
  | { kind: 'wrong'; result: Validated<ShardResult>; block: number }

/**
 * Shard evidence checks, SPEC.md 18.7, in order: REJECT `oversize`, `malformed` (does not decode,
 * no result); each envelope passes the checks of 18.4 but the origin's, IGNOREd as `stale-round`
 * when its round is more than keptDeltaRounds back; with two results, REJECT `not-equivocation`
 * unless they are by one aggregator for one round, set and shard with different roots; with one,
 * REJECT `malformed` for a block past the shard's result. Whether a named block recomputes is
 * for the receiver to find out (it needs the set's deltas).
 */
export async function checkShardEvidence(
  bytes: Uint8Array,
  ctx: ShardResultContext & { resultBlocks(shard: number): number },
): Promise<ShardEvidenceCheck> {
  const evidence = decodeShardEvidence(bytes)
  const result = await checkShardResult(evidence.result, undefined, ctx, LIMITS.keptDeltaRounds)
  if (evidence.other === undefined) {
    const blocks = ctx.resultBlocks(result.message.shard)
    if (evidence.block >= blocks)
      throw new GossipCheckError(
        'reject',
        'malformed',
        `block ${evidence.block} of a result of ${blocks} blocks`,
      )
    return { kind: 'wrong', result, block: evidence.block }
  }
  const other = await checkShardResult(evidence.other, undefined, ctx, LIMITS.keptDeltaRounds)
  const [a, b] = [result.message, other.message]
  if (
    !result.signer.equals(other.signer) ||
    a.round !== b.round ||
    a.shard !== b.shard ||
    !bytesEqual(a.setRoot, b.setRoot) ||
    bytesEqual(a.resultRoot, b.resultRoot)
  )
    throw new GossipCheckError(
      'reject',
      'not-equivocation',
      'two results of one aggregator, round, set and shard with different roots are evidence; these are not',
    )
  return { kind: 'two-results', first: result, second: other }
}

export interface Equivocation {
  signer: PeerId & { publicKey: PublicKey }
  round: number
  first: Validated<Announcement>
  second: Validated<Announcement>
}

/**
 * Evidence checks, SPEC.md 5.6, in order: both envelopes are valid announcements of this run
 * (the checks of 5.3 up to the signature), by the same peer, for the same round, naming
 * different delta roots. The reporter is not the accused: anyone may publish evidence.
 */
export async function checkEvidence(bytes: Uint8Array, ctx: CommitContext): Promise<Equivocation> {
  const { first, second } = decodeEvidence(bytes)
  const check = async (envelope: Uint8Array): Promise<Validated<Announcement>> => {
    const decoded = decodeAnnouncement(envelope)
    const signer = await checkSignerAndSignature(
      decoded,
      decoded.message.runId,
      decoded.message.peerId,
      undefined,
      ctx.runId,
      DOMAINS.announcement,
    )
    return { ...decoded, signer }
  }
  const a = await check(first)
  const b = await check(second)
  if (
    !a.signer.equals(b.signer) ||
    a.message.round !== b.message.round ||
    bytesEqual(a.message.deltaHash, b.message.deltaHash)
  ) {
    throw new GossipCheckError(
      'reject',
      'not-equivocation',
      'the two announcements are not from one peer, one round, two deltas',
    )
  }
  if (a.message.round + LIMITS.keptDeltaRounds < ctx.currentRound) {
    throw new GossipCheckError('ignore', 'stale-round', `evidence for round ${a.message.round}`)
  }
  return { signer: a.signer, round: a.message.round, first: a, second: b }
}

export async function validate<T>(check: () => Promise<T>): Promise<Verdict<T>> {
  try {
    return { action: 'accept', value: await check() }
  } catch (err) {
    return toVerdict(err)
  }
}

/**
 * The one mapping from errors to verdicts. Decoders turn every parse failure into a named error,
 * so an unknown error is our own bug: IGNORE with reason internal-error, never REJECT, which
 * would lower the score of the honest peer that forwarded the message (Lodestar does the same).
 */
export function toVerdict(err: unknown): { action: Action; reason: RejectReason; detail: string } {
  if (err instanceof GossipCheckError) return { action: err.action, reason: err.reason, detail: err.message }
  if (err instanceof OversizeMessageError)
    return { action: 'reject', reason: 'oversize', detail: err.message }
  if (err instanceof UnsupportedVersionError)
    return { action: 'ignore', reason: 'unsupported-version', detail: err.message }
  if (err instanceof MalformedMessageError)
    return { action: 'reject', reason: 'malformed', detail: err.message }
  return {
    action: 'ignore',
    reason: 'internal-error',
    detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
  }
}

async function checkSignerAndSignature(
  envelope: { body: Uint8Array; signature: Uint8Array },
  runId: Uint8Array,
  peerIdBytes: Uint8Array,
  origin: PeerId | undefined,
  expectedRunId: Uint8Array,
  domain: string,
): Promise<PeerId & { publicKey: PublicKey }> {
  if (!bytesEqual(runId, expectedRunId)) {
    throw new GossipCheckError('reject', 'wrong-run', `run ${toHex(runId).slice(0, 16)} is not this run`)
  }
  let signer: PeerId & { publicKey: PublicKey }
  try {
    signer = peerIdFromBytes(peerIdBytes)
  } catch (err) {
    if (err instanceof InvalidPeerIdError) throw new GossipCheckError('reject', 'bad-peer-id', err.message)
    throw err
  }
  if (origin !== undefined && !origin.equals(signer)) {
    throw new GossipCheckError('reject', 'origin-mismatch', `signed by ${signer}, published by ${origin}`)
  }
  if (!(await verifyBody(signer.publicKey, domain, envelope.body, envelope.signature))) {
    throw new GossipCheckError('reject', 'bad-signature', `signature does not verify for ${signer}`)
  }
  return signer
}

function checkRoundWindow(round: number, currentRound: number): void {
  if (round < currentRound)
    throw new GossipCheckError('ignore', 'stale-round', `round ${round} < current ${currentRound}`)
  if (round > currentRound + LIMITS.maxRoundsAhead) {
    throw new GossipCheckError(
      'ignore',
      'future-round',
      `round ${round} is more than ${LIMITS.maxRoundsAhead} ahead of ${currentRound}`,
    )
  }
}
