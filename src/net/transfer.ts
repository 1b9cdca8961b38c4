// The chunk transfer protocol (SPEC.md 10): /dtrain/chunks/1.0.0.
//   requester -> lp(ChunkRequest{root, size, indices})
//   responder -> for each index in order: lp(ChunkResponse{status, index, proof}) and, if OK,
//                lp(chunk bytes); then it closes its side.
// A delta's id is the Merkle root over its chunks (SPEC.md 4.5), so every chunk is verified on
// its own as it arrives: a lying source is caught at its first bad chunk, the chunks already
// verified are kept (a transfer resumes where it stopped), and the missing ones are fetched from
// the other sources in parallel.
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { pipe } from 'it-pipe'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { ByteSource } from '../codec/delta.js'
import { chunkedSource } from '../codec/delta-ranges.js'
import { joinPieces, type Pieces } from '../codec/pieces.js'
import { LIMITS, PROTOCOL } from '../constants.js'
import { HASH_LENGTH, toHex } from '../crypto/hash.js'
import {
  chunkCount,
  chunkRange,
  InvalidProofError,
  leafHash,
  MerkleTree,
  verifyProof,
} from '../crypto/merkle.js'
import { describeError } from '../log.js'
import { unpackRepeated } from '../wire/packed.js'
import { ChunkRequest, ChunkResponse, ChunkStatus } from '../wire/proto/dtrain.js'
import type { Pacer } from './link-emulator.js'
import { streamService } from './stream-service.js'

/** A proof has one hash per tree level: 64 levels cover any object the size limits allow. */
const MAX_PROOF_LENGTH = 64

export type TransferFailure =
  | 'not-found'
  | 'bad-response'
  | 'oversize'
  | 'bad-chunk'
  | 'stream-failed'
  | 'unavailable'
  | 'bad-request'

export class TransferError extends Error {
  override name = 'TransferError'
  constructor(
    readonly reason: TransferFailure,
    message: string,
  ) {
    super(message)
  }
}

/** What a node serves: encoded deltas and states with their chunk trees, by Merkle root; bytes by range. */
export interface DeltaSource {
  get(root: Uint8Array): { size: number; tree: MerkleTree; bytes: ByteSource } | undefined
}

export interface TransferCounters {
  bytesSent(n: number): void
  bytesReceived(n: number): void
}

/** Checks a request before anything is served (SPEC.md 10.2). */
export function checkChunkRequest(request: ChunkRequest): void {
  if (request.root.length !== HASH_LENGTH) throw new TransferError('bad-request', 'root must be 32 bytes')
  if (request.size < 1n || request.size > BigInt(LIMITS.maxObjectBytes)) {
    throw new TransferError('bad-request', `size ${request.size} outside [1, ${LIMITS.maxObjectBytes}]`)
  }
  if (request.indices.length < 1 || request.indices.length > LIMITS.maxChunksPerRequest) {
    throw new TransferError('bad-request', `a request names 1 to ${LIMITS.maxChunksPerRequest} chunks`)
  }
  const chunks = chunkCount(Number(request.size), LIMITS.chunkBytes)
  for (const index of request.indices) {
    if (index >= chunks) throw new TransferError('bad-request', `chunk ${index} of a ${chunks}-chunk delta`)
  }
}

/** Decodes and checks a request frame (SPEC.md 10.2); throws TransferError('bad-request'). */
export function decodeChunkRequest(bytes: Uint8Array | Uint8ArrayList): ChunkRequest {
  let request: ChunkRequest
  try {
    request = ChunkRequest.decode(unpackRepeated(bytes, { 3: 'varint' }), {
      limits: { indices: LIMITS.maxChunksPerRequest },
    })
  } catch (err) {
    throw new TransferError('bad-request', `request does not decode: ${(err as Error).message}`)
  }
  checkChunkRequest(request)
  return request
}

/** Decodes a response header frame (SPEC.md 10.3); throws TransferError('bad-response'). */
export function decodeChunkResponse(bytes: Uint8Array): ChunkResponse {
  if (bytes.length > LIMITS.maxResponseHeaderBytes) {
    throw new TransferError('bad-response', `response header of ${bytes.length} bytes`)
  }
  try {
    return ChunkResponse.decode(bytes, { limits: { proof: MAX_PROOF_LENGTH } })
  } catch (err) {
    throw new TransferError('bad-response', `response header does not decode: ${(err as Error).message}`)
  }
}

/** Registers the responder side on a host (tests and benchmarks; a node runs chunkService). */
export async function serveChunks(
  host: Pick<Libp2p, 'handle'>,
  source: DeltaSource,
  counters: TransferCounters,
  onError: (peer: PeerId, err: Error) => void,
  onRefusedRequest?: ChunkServiceInit['onRefusedRequest'],
  uplink?: Pacer,
): Promise<void> {
  await host.handle(
    PROTOCOL.chunkProtocol,
    chunkStreamHandler({ source, counters, onError, onRefusedRequest, uplink }),
    CHUNK_STREAM_OPTIONS,
  )
}

export interface ChunkServiceInit {
  source: DeltaSource
  counters: TransferCounters
  onError: (peer: PeerId, err: Error) => void
  /** a request this node answered BAD_REQUEST or NOT_FOUND (peer scoring, SPEC.md 2.7) */
  onRefusedRequest?: (peer: PeerId, reason: 'bad-request' | 'not-found') => void
  /**
   * the node's upload limit, shared by every stream it serves: after each chunk the stream waits
   * until the chunk's bytes have left at this rate (bursts of one chunk)
   */
  uplink?: Pacer
}

/** Relayed connections (SPEC.md 2.8) carry deltas too: nodes behind NATs have no other. */
const CHUNK_STREAM_OPTIONS = {
  maxInboundStreams: LIMITS.maxInboundDeltaStreams,
  runOnLimitedConnection: true,
}

/** The chunk protocol's responder (SPEC.md 10) as a libp2p service (createHost's `services`). */
export function chunkService(init: ChunkServiceInit) {
  return streamService({
    name: 'dtrain.chunks',
    protocol: PROTOCOL.chunkProtocol,
    handler: chunkStreamHandler(init),
    ...CHUNK_STREAM_OPTIONS,
  })
}

function chunkStreamHandler({ source, counters, onError, onRefusedRequest, uplink }: ChunkServiceInit) {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const signal = AbortSignal.timeout(LIMITS.transferTimeoutMs)
    try {
      const lp = lpStream(stream, { maxDataLength: LIMITS.maxRequestBytes })
      let request: ChunkRequest
      try {
        request = decodeChunkRequest(await lp.read({ signal }))
      } catch (err) {
        // Not a request (malformed, oversize, or none before the timeout): no honest peer sends it.
        onRefusedRequest?.(connection.remotePeer, 'bad-request')
        if (!(err instanceof TransferError)) throw err
        await lp.write(
          ChunkResponse.encode({ status: ChunkStatus.BAD_REQUEST, message: (err as Error).message }),
          { signal },
        )
        await stream.close({ signal })
        return
      }
      const held = source.get(request.root)
      if (held === undefined || BigInt(held.size) !== request.size) {
        onRefusedRequest?.(connection.remotePeer, 'not-found')
        await lp.write(
          ChunkResponse.encode({ status: ChunkStatus.NOT_FOUND, message: 'no such delta here' }),
          { signal },
        )
        await stream.close({ signal })
        return
      }
      for (const index of request.indices) {
        const { start, end } = chunkRange(held.size, LIMITS.chunkBytes, index)
        const proof = held.tree.proof(index) as Uint8Array<ArrayBuffer>[]
        await lp.write(ChunkResponse.encode({ status: ChunkStatus.OK, index, proof }), { signal })
        await lp.write(held.bytes.subarray(start, end), { signal })
        counters.bytesSent(end - start)
        if (uplink) {
          const wait = uplink.departure(end - start, performance.now()) - performance.now()
          if (wait > 0) await sleep(wait, signal)
        }
      }
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      onError(connection.remotePeer, err as Error)
    }
  }
}

/** The verified chunks of one delta received so far; survives failed attempts (resumption). */
export class ChunkAssembly {
  readonly chunkCount: number
  private readonly chunks: Array<Uint8Array | undefined>
  /** each verified chunk's leaf hash: the object's tree without hashing its bytes again */
  private readonly leaves: Uint8Array[]
  private received = 0
  /** the chunks this fetch is restricted to (want), ascending; all of them when undefined */
  private wanted?: readonly number[]

  constructor(
    readonly root: Uint8Array,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1 || size > LIMITS.maxObjectBytes) {
      throw new TransferError(
        'oversize',
        `an object of ${size} bytes is outside [1, ${LIMITS.maxObjectBytes}]`,
      )
    }
    this.chunkCount = chunkCount(size, LIMITS.chunkBytes)
    this.chunks = new Array(this.chunkCount)
    this.leaves = new Array(this.chunkCount)
  }

  get complete(): boolean {
    return this.received === this.chunkCount
  }

  /**
   * Restricts the fetch to these chunks: a shard's aggregator fetches only the chunks of a delta
   * that hold its shards (codec/delta-ranges.ts, issue 20). missing() then names only them, and the
   * fetch is done once they are in. Called again, it adds to the chunks wanted.
   */
  want(indices: readonly number[]): void {
    for (const index of indices)
      if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount)
        throw new RangeError(`chunk ${index} outside an object of ${this.chunkCount} chunks`)
    this.wanted = [...new Set([...(this.wanted ?? []), ...indices])].sort((a, b) => a - b)
  }

  /** Every chunk wanted is verified and held (all of them, without want). */
  get done(): boolean {
    return this.wanted === undefined ? this.complete : this.wanted.every((i) => this.chunks[i] !== undefined)
  }

  get receivedChunks(): number {
    return this.received
  }

  /** The chunks still to fetch: of those wanted, those not verified yet. */
  missing(): number[] {
    if (this.wanted !== undefined) return this.wanted.filter((i) => this.chunks[i] === undefined)
    const out: number[] = []
    for (let i = 0; i < this.chunkCount; i++) if (this.chunks[i] === undefined) out.push(i)
    return out
  }

  expectedLength(index: number): number {
    const { start, end } = chunkRange(this.size, LIMITS.chunkBytes, index)
    return end - start
  }

  /** Verifies a chunk against the root with its proof and keeps it; throws InvalidProofError. */
  accept(index: number, data: Uint8Array, proof: readonly Uint8Array[]): void {
    if (data.length !== this.expectedLength(index)) {
      throw new InvalidProofError(
        `chunk ${index} is ${data.length} bytes, expected ${this.expectedLength(index)}`,
      )
    }
    const leaf = leafHash(data)
    verifyProof(this.root, this.chunkCount, index, leaf, proof)
    if (this.chunks[index] === undefined) this.received++
    this.chunks[index] = data
    this.leaves[index] = leaf
  }

  /** The complete object's chunk tree (its root is `root`), from the leaves verified on arrival. */
  tree(): MerkleTree {
    if (!this.complete) throw new Error('the delta is not complete')
    return MerkleTree.fromLeaves(this.leaves)
  }

  bytes(): Uint8Array {
    return joinPieces(this.pieces())
  }

  /** The complete object as its verified chunks, in order: no joined copy (issue 17). */
  pieces(): Pieces {
    if (!this.complete) throw new Error('the delta is not complete')
    return this.chunks as Uint8Array[]
  }

  /** The object read through the chunks verified so far; reading another throws MissingChunkError. */
  source(): ByteSource {
    return chunkedSource(this.size, LIMITS.chunkBytes, (index) => this.chunks[index])
  }
}

interface SourceState {
  peer: PeerId
  banned: boolean
  /** answered NOT_FOUND where that is final (FetchOptions.notFoundIsFinal): not asked again */
  gone: boolean
  failures: number
}

export interface FetchOptions {
  signal?: AbortSignal
  /** Called once for each source caught sending a chunk that does not verify. */
  onBadSource?: (peer: PeerId, err: Error) => void
  /** Passes over the sources before giving up (a pass after one that made no progress waits). */
  maxPasses?: number
  /**
   * A source that answers NOT_FOUND no longer holds the object and will not again (a state sync:
   * every source committed the state, and one that let it go does not fetch it back, SPEC.md
   * 12.2): it is not asked again, and when no source is left the fetch fails at once as
   * `not-found`. Otherwise NOT_FOUND is retried like any failure: a peer of the delta topic may be
   * fetching the delta itself (10.4).
   */
  notFoundIsFinal?: boolean
}

/**
 * Fetches the missing chunks of `assembly` from `sources` in parallel, one stream per source at a
 * time, each asking for a batch of chunks (at most maxChunksPerRequest; smaller when there are
 * several sources, so that all of them work). A source that sends a bad chunk is dropped
 * for this delta; a source whose stream fails is retried in the next pass. Resolves with the whole
 * verified delta, or throws TransferError ('bad-chunk' when every source lied, 'not-found' when
 * every source lied or no longer holds it (notFoundIsFinal), else 'unavailable').
 */
export async function fetchChunks(
  host: Libp2p,
  assembly: ChunkAssembly,
  sources: readonly PeerId[],
  counters: TransferCounters,
  options: FetchOptions = {},
): Promise<Uint8Array> {
  await fetchChunkPieces(host, assembly, sources, counters, options)
  return assembly.bytes()
}

/**
 * fetchChunks, resolving with the object's verified chunks rather than one buffer: a node that
 * validates and stores what it fetched by range never holds the object twice (a large model's
 * delta or state, issue 17).
 */
export async function fetchChunkPieces(
  host: Libp2p,
  assembly: ChunkAssembly,
  sources: readonly PeerId[],
  counters: TransferCounters,
  options: FetchOptions = {},
): Promise<Pieces> {
  await fetchWanted(host, assembly, sources, counters, options)
  return assembly.pieces()
}

/**
 * Fetches the chunks `assembly` still misses, of those it wants (ChunkAssembly.want; all of them
 * without), each verified against the root with its proof; `assembly.source()` then reads them.
 * Throws TransferError as fetchChunks does.
 */
export async function fetchWanted(
  host: Libp2p,
  assembly: ChunkAssembly,
  sources: readonly PeerId[],
  counters: TransferCounters,
  options: FetchOptions = {},
): Promise<void> {
  const states: SourceState[] = dedupe(sources).map((peer) => ({
    peer,
    banned: false,
    gone: false,
    failures: 0,
  }))
  const maxPasses = options.maxPasses ?? LIMITS.fetchPasses
  let lastError: TransferError = new TransferError('unavailable', 'no source was tried')
  for (let pass = 0; pass < maxPasses && !assembly.done; pass++) {
    const usable = states.filter((s) => !s.banned && !s.gone)
    if (usable.length === 0) break
    if (pass > 0) await sleep(Math.min(2000, 250 * 2 ** pass), options.signal)
    const queue = assembly.missing()
    // Batches small enough that every source gets work and a fast source can take more.
    const batchSize = Math.min(
      LIMITS.maxChunksPerRequest,
      Math.max(1, Math.ceil(queue.length / (2 * usable.length))),
    )
    let inFlight = 0
    let wake: () => void = () => {}
    let changed = new Promise<void>((resolve) => {
      wake = resolve
    })
    const signalChange = () => {
      wake()
      changed = new Promise<void>((resolve) => {
        wake = resolve
      })
    }
    // Each source takes batches while there are chunks to ask for; an idle source waits while
    // others have batches in flight, because a failed batch comes back to the queue.
    await Promise.all(
      usable.map(async (state) => {
        while (!state.banned && !options.signal?.aborted) {
          if (queue.length === 0) {
            if (inFlight === 0) return
            await changed
            continue
          }
          const batch = queue.splice(0, batchSize)
          inFlight++
          try {
            await requestChunks(host, state.peer, assembly, batch, counters, options.signal)
          } catch (err) {
            const failure =
              err instanceof TransferError ? err : new TransferError('stream-failed', describeError(err))
            lastError = failure
            const missing = new Set(assembly.missing())
            queue.push(...batch.filter((i) => missing.has(i)))
            if (failure.reason === 'bad-chunk' || failure.reason === 'bad-response') {
              state.banned = true
              options.onBadSource?.(state.peer, failure)
            } else if (failure.reason === 'not-found' && options.notFoundIsFinal) state.gone = true
            else state.failures++
            return
          } finally {
            inFlight--
            signalChange()
          }
        }
      }),
    )
  }
  if (assembly.done) return
  const allLied = states.length > 0 && states.every((s) => s.banned)
  const noneHolds = states.some((s) => s.gone) && states.every((s) => s.banned || s.gone)
  throw new TransferError(
    allLied ? 'bad-chunk' : noneHolds ? 'not-found' : 'unavailable',
    `${assembly.receivedChunks}/${assembly.chunkCount} chunks of ${toHex(assembly.root).slice(0, 16)}; last error: ${lastError.message}`,
  )
}

async function requestChunks(
  host: Libp2p,
  peer: PeerId,
  assembly: ChunkAssembly,
  indices: number[],
  counters: TransferCounters,
  outerSignal?: AbortSignal,
): Promise<void> {
  const timeout = AbortSignal.timeout(LIMITS.transferTimeoutMs)
  const signal = outerSignal ? AbortSignal.any([outerSignal, timeout]) : timeout
  let stream: Stream
  try {
    stream = await host.dialProtocol(peer, PROTOCOL.chunkProtocol, { signal, runOnLimitedConnection: true })
  } catch (err) {
    throw new TransferError('stream-failed', `cannot open a chunk stream to ${peer}: ${describeError(err)}`)
  }
  try {
    const lp = lpStream(stream, { maxDataLength: Math.max(LIMITS.chunkBytes, LIMITS.maxResponseHeaderBytes) })
    await lp.write(
      ChunkRequest.encode({
        root: assembly.root as Uint8Array<ArrayBuffer>,
        size: BigInt(assembly.size),
        indices,
      }),
      { signal },
    )
    await pipe(readChunks(lp, indices, assembly, signal), async (chunks) => {
      for await (const { index, data, proof } of chunks) {
        try {
          assembly.accept(index, data, proof)
        } catch (err) {
          throw new TransferError(
            'bad-chunk',
            `${peer} sent chunk ${index} that does not verify: ${describeError(err)}`,
          )
        }
        counters.bytesReceived(data.length)
      }
    })
    await stream.close({ signal }).catch(() => stream.abort(new Error('close failed')))
  } catch (err) {
    stream.abort(err as Error)
    if (err instanceof TransferError) throw err
    throw new TransferError('stream-failed', `chunk stream from ${peer} failed: ${describeError(err)}`)
  }
}

async function* readChunks(
  lp: { read(options?: { signal?: AbortSignal }): Promise<{ subarray(): Uint8Array; byteLength: number }> },
  indices: number[],
  assembly: ChunkAssembly,
  signal: AbortSignal,
): AsyncGenerator<{ index: number; data: Uint8Array; proof: Uint8Array[] }> {
  for (const index of indices) {
    const response = decodeChunkResponse((await lp.read({ signal })).subarray())
    if (response.status === ChunkStatus.NOT_FOUND) throw new TransferError('not-found', response.message)
    if (response.status !== ChunkStatus.OK)
      throw new TransferError('bad-response', `${response.status}: ${response.message}`)
    if (response.index !== index)
      throw new TransferError('bad-response', `asked for chunk ${index}, got ${response.index}`)
    const data = await lp.read({ signal })
    if (data.byteLength !== assembly.expectedLength(index)) {
      throw new TransferError(
        'bad-chunk',
        `chunk ${index} is ${data.byteLength} bytes, expected ${assembly.expectedLength(index)}`,
      )
    }
    yield { index, data: data.subarray(), proof: response.proof }
  }
}

function dedupe(peers: readonly PeerId[]): PeerId[] {
  const seen = new Set<string>()
  return peers.filter((p) => {
    const key = p.toString()
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
