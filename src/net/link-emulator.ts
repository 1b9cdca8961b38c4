// User-space emulation of a wide-area link between two libp2p hosts on one machine (tc netem is
// not available everywhere): a TCP relay that a host dials instead of its peer. Each direction's
// bytes leave at the sender's uplink rate (a Pacer, shared by all links of one sender, as a home
// uplink is), arrive `latencyMs` later in order, and are counted. A link can be cut (every
// connection through it dropped, new ones refused) and healed, which is how a test partitions a
// network without touching the kernel.
import { connect, createServer, type Server, type Socket } from 'node:net'

/** A sender's uplink: bytes offered to it leave one after another at `bytesPerSecond`. */
export class Pacer {
  private nextFree = 0

  /** @param bytesPerSecond Infinity for an unlimited link */
  constructor(readonly bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive (got ${bytesPerSecond})`)
  }

  /** When (performance.now() milliseconds) `size` bytes offered at `now` have left the uplink. */
  departure(size: number, now: number): number {
    if (this.bytesPerSecond === Number.POSITIVE_INFINITY) return now
    const start = Math.max(now, this.nextFree)
    this.nextFree = start + (size / this.bytesPerSecond) * 1000
    return this.nextFree
  }
}

export interface LinkOptions {
  /** the listening port on 127.0.0.1 of the host behind the link */
  targetPort: number
  /** one-way delay added in each direction */
  latencyMs: number
  /** the dialer's uplink (bytes towards the target) */
  forward: Pacer
  /** the target's uplink (bytes back to the dialer) */
  backward: Pacer
}

/** Bytes a direction may hold in flight before its source socket is paused (bounded memory). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024

export class LinkEmulator {
  /** bytes relayed towards the target and back to the dialer */
  readonly bytes = { forward: 0, backward: 0 }
  private readonly sockets = new Set<Socket>()
  private isCut = false

  private constructor(
    private readonly server: Server,
    private readonly options: LinkOptions,
  ) {}

  static async start(options: LinkOptions): Promise<LinkEmulator> {
    if (!(options.latencyMs >= 0)) throw new RangeError(`latencyMs must be >= 0 (got ${options.latencyMs})`)
    // Half-open sockets, so that bytes still in flight when one side ends are delivered first.
    const server = createServer({ allowHalfOpen: true })
    const link = new LinkEmulator(server, options)
    server.on('connection', (socket) => link.accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    return link
  }

  /** The port to dial instead of the target's. */
  get port(): number {
    return (this.server.address() as { port: number }).port
  }

  /** Drops every connection through the link and refuses new ones until heal(). */
  cut(): void {
    this.isCut = true
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
  }

  heal(): void {
    this.isCut = false
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket): void {
    if (this.isCut) {
      client.destroy()
      return
    }
    const target = connect({ port: this.options.targetPort, host: '127.0.0.1', allowHalfOpen: true })
    for (const socket of [client, target]) {
      socket.setNoDelay(true)
      this.sockets.add(socket)
      socket.on('close', () => {
        this.sockets.delete(socket)
        client.destroy()
        target.destroy()
      })
      socket.on('error', () => {})
    }
    this.relay(client, target, this.options.forward, (n) => {
      this.bytes.forward += n
    })
    this.relay(target, client, this.options.backward, (n) => {
      this.bytes.backward += n
    })
  }

  /** Moves bytes from `source` to `sink` through `pacer` and the latency, in order. */
  private relay(source: Socket, sink: Socket, pacer: Pacer, count: (bytes: number) => void): void {
    const queue: Array<{ at: number; chunk: Buffer }> = []
    let queued = 0
    let timer: NodeJS.Timeout | undefined
    let ended = false
    const drain = () => {
      timer = undefined
      const now = performance.now()
      while (queue.length > 0 && queue[0].at <= now) {
        const { chunk } = queue.shift()!
        queued -= chunk.length
        count(chunk.length)
        if (!sink.destroyed) sink.write(chunk)
      }
      if (queued < MAX_QUEUED_BYTES && source.isPaused()) source.resume()
      if (queue.length > 0) timer = setTimeout(drain, Math.max(0, queue[0].at - performance.now()))
      else if (ended && !sink.destroyed) sink.end()
    }
    source.on('data', (chunk: Buffer) => {
      const now = performance.now()
      queue.push({ at: pacer.departure(chunk.length, now) + this.options.latencyMs, chunk })
      queued += chunk.length
      if (queued >= MAX_QUEUED_BYTES) source.pause()
      if (timer === undefined) timer = setTimeout(drain, Math.max(0, queue[0].at - now))
    })
    source.on('end', () => {
      ended = true
      if (queue.length === 0 && timer === undefined && !sink.destroyed) sink.end()
    })
    source.on('close', () => {
      if (timer !== undefined) clearTimeout(timer)
    })
  }
}
