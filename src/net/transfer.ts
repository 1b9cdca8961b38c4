// The delta transfer protocol (SPEC.md 10): /dtrain/delta/1.0.0.
//   requester -> lp(DeltaRequest{delta_hash})
//   responder -> lp(DeltaResponse{status, size}) then, if OK, lp frames of at most
//                transferFrameBytes whose lengths add up to exactly `size`; then it closes.
// The requester bounds every length before it allocates, hashes as bytes arrive, and accepts
// the bytes only when their SHA-256 equals the requested hash.
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { pipe } from 'it-pipe'
import { LIMITS, PROTOCOL } from '../constants.js'
import { bytesEqual, HASH_LENGTH, sha256Stream, toHex } from '../crypto/hash.js'
import { DeltaRequest, DeltaResponse, DeltaStatus } from '../wire/proto/dtrain.js'

export class TransferError extends Error {
  override name = 'TransferError'
  constructor(
    readonly reason: 'not-found' | 'bad-response' | 'oversize' | 'hash-mismatch' | 'stream-failed',
    message: string,
  ) {
    super(message)
  }
}

/** What a node serves: encoded deltas by content hash. */
export interface DeltaSource {
  get(hash: Uint8Array): Uint8Array | undefined
}

export interface TransferCounters {
  bytesSent(n: number): void
  bytesReceived(n: number): void
}

const HEADER_LIMIT = { maxDataLength: LIMITS.maxResponseHeaderBytes }

/** Registers the responder side. Bad requests are answered with BAD_REQUEST and the stream closed. */
export async function serveDeltas(
  host: Libp2p,
  source: DeltaSource,
  counters: TransferCounters,
  onError: (peer: PeerId, err: Error) => void,
): Promise<void> {
  await host.handle(
    PROTOCOL.deltaProtocol,
    async (stream: Stream, connection) => {
      const signal = AbortSignal.timeout(LIMITS.transferTimeoutMs)
      try {
        const lp = lpStream(stream, { maxDataLength: LIMITS.maxRequestBytes })
        const request = DeltaRequest.decode(await lp.read({ signal }))
        if (request.deltaHash.length !== HASH_LENGTH) {
          await lp.write(
            DeltaResponse.encode({ status: DeltaStatus.BAD_REQUEST, message: 'delta_hash must be 32 bytes' }),
          )
          await stream.close({ signal })
          return
        }
        const bytes = source.get(request.deltaHash)
        if (bytes === undefined) {
          await lp.write(
            DeltaResponse.encode({ status: DeltaStatus.NOT_FOUND, message: 'no such delta here' }),
            { signal },
          )
          await stream.close({ signal })
          return
        }
        await lp.write(DeltaResponse.encode({ status: DeltaStatus.OK, size: BigInt(bytes.length) }), {
          signal,
        })
        for (let offset = 0; offset < bytes.length; offset += LIMITS.transferFrameBytes) {
          const frame = bytes.subarray(offset, Math.min(offset + LIMITS.transferFrameBytes, bytes.length))
          await lp.write(frame, { signal })
          counters.bytesSent(frame.length)
        }
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err as Error)
        onError(connection.remotePeer, err as Error)
      }
    },
    { maxInboundStreams: LIMITS.maxInboundDeltaStreams },
  )
}

/**
 * Fetches a delta by hash from one peer. `expectedSize` comes from the validated, signed
 * announcement; a response of any other size is refused before a byte of payload is read.
 */
export async function fetchDelta(
  host: Libp2p,
  peer: PeerId,
  hash: Uint8Array,
  expectedSize: number,
  counters: TransferCounters,
  signal: AbortSignal = AbortSignal.timeout(LIMITS.transferTimeoutMs),
): Promise<Uint8Array> {
  if (expectedSize > LIMITS.maxDeltaBytes) {
    throw new TransferError(
      'oversize',
      `delta of ${expectedSize} bytes exceeds the limit ${LIMITS.maxDeltaBytes}`,
    )
  }
  let stream: Stream
  try {
    stream = await host.dialProtocol(peer, PROTOCOL.deltaProtocol, { signal })
  } catch (err) {
    throw new TransferError(
      'stream-failed',
      `cannot open a delta stream to ${peer}: ${(err as Error).message}`,
    )
  }
  try {
    const header = lpStream(stream, HEADER_LIMIT)
    await header.write(DeltaRequest.encode({ deltaHash: hash as Uint8Array<ArrayBuffer> }), { signal })
    const response = DeltaResponse.decode(await header.read({ signal }))
    if (response.status === DeltaStatus.NOT_FOUND)
      throw new TransferError('not-found', `${peer} does not hold ${toHex(hash)}`)
    if (response.status !== DeltaStatus.OK) {
      throw new TransferError('bad-response', `${peer} answered ${response.status}: ${response.message}`)
    }
    if (response.size !== BigInt(expectedSize)) {
      throw new TransferError(
        'bad-response',
        `${peer} offers ${response.size} bytes, the announcement said ${expectedSize}`,
      )
    }
    const frames = lpStream(header.unwrap(), { maxDataLength: LIMITS.transferFrameBytes })
    const bytes = await pipe(
      readFrames(frames, expectedSize, signal),
      assembleVerified(hash, expectedSize, counters),
    )
    await stream.close({ signal }).catch(() => stream.abort(new Error('close failed')))
    return bytes
  } catch (err) {
    stream.abort(err as Error)
    if (err instanceof TransferError) throw err
    throw new TransferError('stream-failed', `delta stream from ${peer} failed: ${(err as Error).message}`)
  }
}

async function* readFrames(
  frames: {
    read(options?: { signal?: AbortSignal }): Promise<{ subarray(): Uint8Array; byteLength: number }>
  },
  size: number,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  let received = 0
  while (received < size) {
    const frame = await frames.read({ signal })
    received += frame.byteLength
    if (received > size)
      throw new TransferError('oversize', `peer sent more than the ${size} bytes it offered`)
    yield frame.subarray()
  }
}

function assembleVerified(hash: Uint8Array, size: number, counters: TransferCounters) {
  return async (frames: AsyncIterable<Uint8Array>): Promise<Uint8Array> => {
    const out = new Uint8Array(size)
    const hasher = sha256Stream()
    let offset = 0
    for await (const frame of frames) {
      out.set(frame, offset)
      hasher.update(frame)
      offset += frame.length
      counters.bytesReceived(frame.length)
    }
    const digest = hasher.digest()
    if (!bytesEqual(digest, hash)) {
      throw new TransferError('hash-mismatch', `bytes hash to ${toHex(digest)}, expected ${toHex(hash)}`)
    }
    return out
  }
}
