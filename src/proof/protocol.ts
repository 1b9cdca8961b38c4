// The proof protocol (SPEC.md 17.5): /dtrain/proof/1.0.0.
//   requester -> lp(ProofRequest{runId, round, item, index})
//   responder -> lp(ProofResponse{status, message, announcement, manifest, size}) and, for a
//                checkpoint or residual, its `size` bytes in frames of at most chunkBytes.
// The requester bounds every size before it allocates and verifies what it receives against the
// committed roots (the auditor does, src/proof/audit.ts).
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { LIMITS, PROTOCOL } from '../constants.js'
import { bytesEqual, HASH_LENGTH } from '../crypto/hash.js'
import { streamService } from '../net/stream-service.js'
import { FileShapeError } from '../store/durable-file.js'
import { ProofItem, ProofRequest, ProofResponse, ProofStatus } from '../wire/proto/dtrain.js'
import type { ProofStore } from './store.js'

/** Why a proof could not be had: the audit ends with "could not audit" (exit code 2). */
export class ProofUnavailableError extends Error {
  override name = 'ProofUnavailableError'
}

/**
 * The peer (or directory) answered, but without an object the manifest commits: not found,
 * pruned, not a regular file, or of another size than expected. Once the manifest is served this
 * is the prover's fault, and an audit counts it as a failed proof (issue 19), not as a network
 * that could not be reached.
 */
export class ProofWithheldError extends ProofUnavailableError {
  override name = 'ProofWithheldError'
}

/** Where an auditor reads a peer's proof from: the network or a node's state directory. */
export interface ProofSource {
  /** the signed announcement and the manifest of a round */
  manifest(round: number): Promise<{ announcement: Uint8Array; manifest: Uint8Array }>
  /** checkpoint `index` of a round; at most `maxBytes` are accepted */
  checkpoint(round: number, index: number, maxBytes: number): Promise<Uint8Array>
  residual(round: number, maxBytes: number): Promise<Uint8Array>
  /** bytes received so far (the audit's cost) */
  readonly bytesReceived: number
}

export interface ProofServiceInit {
  runId: Uint8Array
  store: ProofStore
  onError: (peer: PeerId, err: Error) => void
  /** a request that is not a valid request (peer scoring, SPEC.md 2.7) */
  onBadRequest?: (peer: PeerId) => void
}

const PROOF_STREAM_OPTIONS = {
  maxInboundStreams: LIMITS.maxInboundProofStreams,
  runOnLimitedConnection: true,
}

/**
 * The proof protocol's responder (SPEC.md 17.5) as a libp2p service: it serves this node's own
 * proofs from its store (createHost's `services`).
 */
export function proofService(init: ProofServiceInit) {
  return streamService({
    name: 'dtrain.proofs',
    protocol: PROTOCOL.proofProtocol,
    handler: proofStreamHandler(init),
    ...PROOF_STREAM_OPTIONS,
  })
}

function proofStreamHandler({ runId, store, onError, onBadRequest }: ProofServiceInit) {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const signal = AbortSignal.timeout(LIMITS.transferTimeoutMs)
    try {
      const lp = lpStream(stream, { maxDataLength: LIMITS.maxRequestBytes })
      const reply = async (status: ProofStatus, message: string): Promise<void> => {
        await lp.write(ProofResponse.encode({ status, message }), { signal })
        await stream.close({ signal })
      }
      let request: ProofRequest
      try {
        request = ProofRequest.decode(await lp.read({ signal }))
      } catch (err) {
        onBadRequest?.(connection.remotePeer)
        return await reply(
          ProofStatus.PROOF_BAD_REQUEST,
          `request does not decode: ${(err as Error).message}`,
        )
      }
      if (request.runId.length !== HASH_LENGTH || !bytesEqual(request.runId, runId))
        return await reply(ProofStatus.PROOF_NOT_FOUND, 'this node does not train that run')
      if (request.round > BigInt(Number.MAX_SAFE_INTEGER)) {
        onBadRequest?.(connection.remotePeer)
        return await reply(ProofStatus.PROOF_BAD_REQUEST, 'round out of range')
      }
      const round = Number(request.round)
      const missing = (found: { status: 'pruned' | 'not-found'; message: string }) =>
        reply(
          found.status === 'pruned' ? ProofStatus.PROOF_PRUNED : ProofStatus.PROOF_NOT_FOUND,
          found.message,
        )
      if (request.item === ProofItem.MANIFEST) {
        const found = await store.manifest(round)
        if (found.status !== 'ok') return await missing(found)
        await lp.write(
          ProofResponse.encode({
            status: ProofStatus.PROOF_OK,
            message: '',
            announcement: found.value.announcement as Uint8Array<ArrayBuffer>,
            manifest: found.value.manifest as Uint8Array<ArrayBuffer>,
          }),
          { signal },
        )
        await stream.close({ signal })
        return
      }
      const found = await store.item(
        round,
        request.item === ProofItem.CHECKPOINT ? 'checkpoint' : 'residual',
        request.index,
      )
      if (found.status !== 'ok') return await missing(found)
      const bytes = found.value
      await lp.write(
        ProofResponse.encode({ status: ProofStatus.PROOF_OK, message: '', size: BigInt(bytes.length) }),
        { signal },
      )
      for (let at = 0; at < bytes.length; at += LIMITS.chunkBytes)
        await lp.write(bytes.subarray(at, Math.min(bytes.length, at + LIMITS.chunkBytes)), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      onError(connection.remotePeer, err as Error)
    }
  }
}

/** Reads a peer's proofs over /dtrain/proof/1.0.0. */
/** How long, after the manifest arrived, an audit waits for everything else by default. */
export const DEFAULT_AUDIT_DEADLINE_MS = 600_000

export class NetworkProofSource implements ProofSource {
  bytesReceived = 0
  /** aborts `deadlineMs` after the manifest arrived */
  private deadline?: AbortSignal

  constructor(
    private readonly host: Libp2p,
    private readonly peer: PeerId,
    private readonly runId: Uint8Array,
    /**
     * once the peer served the manifest, it committed to every object the manifest names: what
     * has not arrived this long after it is withheld (issue 19: a peer too slow on exactly the
     * checkpoints that would convict it must fail the audit, not leave it undecided)
     */
    private readonly deadlineMs = DEFAULT_AUDIT_DEADLINE_MS,
  ) {}

  async manifest(round: number): Promise<{ announcement: Uint8Array; manifest: Uint8Array }> {
    const { response } = await this.request(round, ProofItem.MANIFEST, 0, 0)
    if (response.manifest.length === 0 || response.announcement.length === 0)
      throw new ProofUnavailableError(`${this.peer} answered without a manifest for round ${round}`)
    this.deadline ??= AbortSignal.timeout(this.deadlineMs)
    return { announcement: response.announcement, manifest: response.manifest }
  }

  async checkpoint(round: number, index: number, maxBytes: number): Promise<Uint8Array> {
    return (await this.request(round, ProofItem.CHECKPOINT, index, maxBytes)).bytes
  }

  async residual(round: number, maxBytes: number): Promise<Uint8Array> {
    return (await this.request(round, ProofItem.RESIDUAL, 0, maxBytes)).bytes
  }

  private async request(
    round: number,
    item: ProofItem,
    index: number,
    maxBytes: number,
  ): Promise<{ response: ProofResponse; bytes: Uint8Array }> {
    const committed = item !== ProofItem.MANIFEST && this.deadline !== undefined
    const timeout = AbortSignal.timeout(LIMITS.transferTimeoutMs)
    const signal = committed ? AbortSignal.any([timeout, this.deadline!]) : timeout
    const pastDeadline = () =>
      new ProofWithheldError(
        `${this.peer} did not deliver ${item === ProofItem.RESIDUAL ? 'the residual' : `checkpoint ${index}`} of round ${round} within the audit's deadline of ${this.deadlineMs / 1000} s after its manifest`,
      )
    let stream: Stream
    try {
      stream = await this.host.dialProtocol(this.peer, PROTOCOL.proofProtocol, {
        signal,
        runOnLimitedConnection: true,
      })
    } catch (err) {
      if (committed && this.deadline!.aborted) throw pastDeadline()
      throw new ProofUnavailableError(`cannot open a proof stream to ${this.peer}: ${(err as Error).message}`)
    }
    try {
      const lp = lpStream(stream, {
        maxDataLength: Math.max(
          LIMITS.chunkBytes,
          LIMITS.maxProofManifestBytes + LIMITS.maxGossipMessageBytes + 64,
        ),
      })
      await lp.write(
        ProofRequest.encode({
          runId: this.runId as Uint8Array<ArrayBuffer>,
          round: BigInt(round),
          item,
          index,
        }),
        {
          signal,
        },
      )
      const frame = (await lp.read({ signal })).subarray()
      this.bytesReceived += frame.length
      let response: ProofResponse
      try {
        response = ProofResponse.decode(frame)
      } catch (err) {
        throw new ProofUnavailableError(
          `${this.peer} sent a response that does not decode: ${(err as Error).message}`,
        )
      }
      if (response.status !== ProofStatus.PROOF_OK) {
        const why = response.status === ProofStatus.PROOF_PRUNED ? 'pruned' : 'unavailable'
        const Failure = item === ProofItem.MANIFEST ? ProofUnavailableError : ProofWithheldError
        throw new Failure(`${this.peer}: proof ${why}: ${response.message}`)
      }
      if (item === ProofItem.MANIFEST) {
        await stream.close({ signal }).catch(() => {})
        return { response, bytes: new Uint8Array(0) }
      }
      if (response.size > BigInt(maxBytes))
        throw new ProofWithheldError(
          `${this.peer} offers ${response.size} bytes; at most ${maxBytes} are expected`,
        )
      const bytes = new Uint8Array(Number(response.size))
      let at = 0
      while (at < bytes.length) {
        const data = (await lp.read({ signal })).subarray()
        if (at + data.length > bytes.length)
          throw new ProofWithheldError(`${this.peer} sent more bytes than announced`)
        bytes.set(data, at)
        at += data.length
        this.bytesReceived += data.length
      }
      await stream.close({ signal }).catch(() => {})
      return { response, bytes }
    } catch (err) {
      stream.abort(err as Error)
      if (committed && this.deadline!.aborted) throw pastDeadline()
      if (err instanceof ProofUnavailableError) throw err
      throw new ProofUnavailableError(`proof stream from ${this.peer} failed: ${(err as Error).message}`)
    }
  }
}

/** Reads proofs from a node's state directory (dtrain audit --proof DIR). */
export class StoreProofSource implements ProofSource {
  bytesReceived = 0

  constructor(private readonly store: ProofStore) {}

  async manifest(round: number): Promise<{ announcement: Uint8Array; manifest: Uint8Array }> {
    let found: Awaited<ReturnType<ProofStore['manifest']>>
    try {
      found = await this.store.manifest(round)
    } catch (err) {
      if (err instanceof FileShapeError) throw new ProofUnavailableError(`round ${round}: ${err.message}`)
      throw err
    }
    if (found.status !== 'ok') throw new ProofUnavailableError(found.message)
    this.bytesReceived += found.value.manifest.length + found.value.announcement.length
    return found.value
  }

  async checkpoint(round: number, index: number, maxBytes: number): Promise<Uint8Array> {
    return this.item(round, 'checkpoint', index, maxBytes)
  }

  async residual(round: number, maxBytes: number): Promise<Uint8Array> {
    return this.item(round, 'residual', 0, maxBytes)
  }

  private async item(round: number, item: 'checkpoint' | 'residual', index: number, maxBytes: number) {
    let found: Awaited<ReturnType<ProofStore['item']>>
    try {
      found = await this.store.item(round, item, index, maxBytes)
    } catch (err) {
      if (err instanceof FileShapeError) throw new ProofWithheldError(`${item} ${index}: ${err.message}`)
      throw err
    }
    if (found.status !== 'ok') throw new ProofWithheldError(found.message)
    this.bytesReceived += found.value.length
    return found.value
  }
}
