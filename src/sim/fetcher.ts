// Object transfers in the simulator (issue 20 §4), after SPEC.md 10: a requester fetches an object
// in requests of up to `limits.maxChunksPerRequest` chunks, one request at a time per object and
// at most `limits.maxConcurrentFetches` objects at a time; each request goes to the holder that
// serves the fewest transfers at the moment, which answers `limits.maxInboundDeltaStreams` (32)
// requests at a time and queues the rest. A response is each chunk with its header and Merkle
// proof. A holder that refuses (a withheld object) answers NOT_FOUND, and the requester tries the
// next holder.
import { LIMITS } from '../constants.js'
import type { SimNetwork } from './network.js'

export interface FetchRequest {
  /** bytes of the object (or of the part of it fetched: a shard's chunks) */
  bytes: number
  /** the nodes that hold it, as known when each request is sent (read again at every request) */
  holders: () => readonly number[]
  /** does `holder` serve it? false: NOT_FOUND */
  serves?: (holder: number) => boolean
  /** `source`: the holder that served the last chunks */
  done: (source: number) => void
  /** every holder refused or none is known */
  failed?: () => void
}

/** A request frame: root, size and up to 64 indices (SPEC.md 10.2), as the reference writes it. */
export const REQUEST_BYTES = 32 + 10 + 5 * 64 + 8
/** A response header: status, index and a Merkle proof of up to 20 levels (SPEC.md 10.2, 4.5). */
export const RESPONSE_HEADER_BYTES = 8 + 20 * 34

export class SimFetcher {
  private readonly active: Uint16Array
  private readonly waiting: FetchRequest[][]
  private readonly serving: Uint16Array
  private readonly queued: Array<Array<() => void>>

  constructor(
    private readonly network: SimNetwork,
    readonly chunkBytes: number = LIMITS.chunkBytes,
    /**
     * chunks per request: the protocol's 64, or more to simulate large runs with fewer events (the
     * bytes change only by the headers of the requests saved)
     */
    readonly requestChunks: number = LIMITS.maxChunksPerRequest,
  ) {
    this.active = new Uint16Array(network.nodes)
    this.waiting = Array.from({ length: network.nodes }, () => [])
    this.serving = new Uint16Array(network.nodes)
    this.queued = Array.from({ length: network.nodes }, () => [])
  }

  /** A holder answers `limits.maxInboundDeltaStreams` requests at a time; the others wait their turn. */
  private serve(source: number, respond: () => void): void {
    if (this.serving[source] < LIMITS.maxInboundDeltaStreams) {
      this.serving[source]++
      respond()
    } else this.queued[source].push(respond)
  }

  private served(source: number): void {
    const next = this.queued[source].shift()
    if (next) next()
    else this.serving[source]--
  }

  /** `requester` fetches an object, now or when one of its fetches ends. */
  fetch(requester: number, request: FetchRequest): void {
    if (this.active[requester] >= LIMITS.maxConcurrentFetches) {
      this.waiting[requester].push(request)
      return
    }
    this.active[requester]++
    const chunks = Math.max(1, Math.ceil(request.bytes / this.chunkBytes))
    const refused = new Set<number>()
    let next = 0
    let lastSource = -1
    const finish = (ok: boolean) => {
      this.active[requester]--
      const queued = this.waiting[requester].shift()
      if (queued) this.fetch(requester, queued)
      if (ok) request.done(lastSource)
      else request.failed?.()
    }
    const step = () => {
      if (next >= chunks) return finish(true)
      const candidates = request.holders().filter((h) => h !== requester && !refused.has(h))
      if (candidates.length === 0) return finish(false)
      const source = candidates.reduce((best, h) =>
        this.network.load(h) < this.network.load(best) ? h : best,
      )
      const count = Math.min(this.requestChunks, chunks - next)
      const payload = Math.min(count * this.chunkBytes, request.bytes - next * this.chunkBytes)
      this.network.send(requester, source, REQUEST_BYTES, () => {
        if (request.serves && !request.serves(source)) {
          refused.add(source)
          this.network.send(source, requester, RESPONSE_HEADER_BYTES, step)
          return
        }
        this.serve(source, () =>
          this.network.send(source, requester, payload + count * RESPONSE_HEADER_BYTES, () => {
            this.served(source)
            lastSource = source
            next += count
            step()
          }),
        )
      })
    }
    step()
  }
}
