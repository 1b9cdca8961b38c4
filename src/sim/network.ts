// The simulator's links (issue 20 §4): every node has an uplink and a downlink of given rates, a
// one-way latency and a loss rate. Messages are fluid flows: the flows out of a node share its
// uplink equally, the flows into a node share its downlink equally, and a flow runs at the lower
// of its two shares and of what one TCP connection reaches under loss (Mathis et al. 1997:
// MSS * 1.22 / (RTT * sqrt(p))); shares change as flows start and end. A message arrives one
// latency after its last byte left. Bytes are counted with the framing a message costs on a
// real connection: noise's 16-byte tag and yamux's 12-byte header per frame.
import type { EventQueue } from './event-queue.js'

export interface LinkSpec {
  upBytesPerSecond: number
  downBytesPerSecond: number
  /** one way */
  latencySeconds: number
  /** share of packets lost, in [0, 1) */
  loss: number
}

/** Largest noise payload per frame, and what each frame adds (noise tag + yamux header). */
const FRAME_PAYLOAD = 65_519
const FRAME_OVERHEAD = 16 + 12
const MSS = 1460
/** Messages up to this size are delivered at the full rate without taking a share of a link. */
export const SMALL_MESSAGE_BYTES = 16_384

/** Bytes on the wire for a message of `payload` bytes: its frames' overhead included. */
export function wireBytes(payload: number): number {
  return payload + Math.max(1, Math.ceil(payload / FRAME_PAYLOAD)) * FRAME_OVERHEAD
}

/** The most one TCP connection carries at this RTT and loss (Mathis et al.), bytes per second. */
export function lossLimitedRate(latencySeconds: number, loss: number): number {
  if (loss <= 0) return Number.POSITIVE_INFINITY
  return (MSS * 1.22) / (2 * latencySeconds * Math.sqrt(loss))
}

interface Flow {
  from: number
  to: number
  /** bytes still to send, as of `updatedAt` */
  remaining: number
  rate: number
  updatedAt: number
  cap: number
  latency: number
  version: number
  arrived: () => void
}

/** What a message is, for the byte counts: a transfer (chunk protocol) or gossip. */
export type TrafficKind = 'transfer' | 'gossip'

export class SimNetwork {
  readonly sent: Float64Array
  readonly received: Float64Array
  /** bytes received by all nodes together, by kind */
  readonly receivedByKind: Record<TrafficKind, number> = { transfer: 0, gossip: 0 }
  private readonly outgoing: Array<Set<Flow>>
  private readonly incoming: Array<Set<Flow>>

  constructor(
    private readonly queue: EventQueue,
    readonly links: readonly LinkSpec[],
  ) {
    this.sent = new Float64Array(links.length)
    this.received = new Float64Array(links.length)
    this.outgoing = links.map(() => new Set())
    this.incoming = links.map(() => new Set())
  }

  get nodes(): number {
    return this.links.length
  }

  /** Flows leaving `node` now: a requester prefers the source that serves the fewest. */
  load(node: number): number {
    return this.outgoing[node].size
  }

  /** Sends `payload` bytes from `from` to `to` now; `arrived` runs when the last byte is in. */
  send(from: number, to: number, payload: number, arrived: () => void, kind: TrafficKind = 'transfer'): void {
    if (from === to) {
      this.queue.at(this.queue.now, arrived)
      return
    }
    const a = this.links[from]
    const b = this.links[to]
    const latency = Math.max(a.latencySeconds, b.latencySeconds)
    const loss = 1 - (1 - a.loss) * (1 - b.loss)
    // a lost packet is sent again: the link carries wire / (1 - loss) bytes
    const carried = wireBytes(payload) / (1 - loss)
    this.sent[from] += carried
    this.received[to] += carried
    this.receivedByKind[kind] += carried
    if (carried <= SMALL_MESSAGE_BYTES) {
      // gossip, requests, headers: too small to matter to anyone's share, and most of the events
      const rate = Math.min(a.upBytesPerSecond, b.downBytesPerSecond, lossLimitedRate(latency, loss))
      this.queue.at(this.queue.now + carried / rate + latency, arrived)
      return
    }
    const flow: Flow = {
      from,
      to,
      remaining: carried,
      rate: 0,
      updatedAt: this.queue.now,
      cap: lossLimitedRate(latency, loss),
      latency,
      version: 0,
      arrived,
    }
    this.outgoing[from].add(flow)
    this.incoming[to].add(flow)
    this.reshare(from, to)
  }

  /** The shares of every flow at either end changed: bring each up to now and re-time it. */
  private reshare(from: number, to: number): void {
    const now = this.queue.now
    for (const flow of new Set([...this.outgoing[from], ...this.incoming[to]])) {
      const rate = Math.min(
        this.links[flow.from].upBytesPerSecond / this.outgoing[flow.from].size,
        this.links[flow.to].downBytesPerSecond / this.incoming[flow.to].size,
        flow.cap,
      )
      // a flow whose rate did not change keeps its completion event (the simulation's hot path)
      if (rate === flow.rate) continue
      flow.remaining = Math.max(0, flow.remaining - flow.rate * (now - flow.updatedAt))
      flow.updatedAt = now
      flow.rate = rate
      const version = ++flow.version
      this.queue.at(now + flow.remaining / flow.rate, () => {
        if (flow.version !== version) return
        this.outgoing[flow.from].delete(flow)
        this.incoming[flow.to].delete(flow)
        this.reshare(flow.from, flow.to)
        this.queue.at(this.queue.now + flow.latency, flow.arrived)
      })
    }
  }
}
