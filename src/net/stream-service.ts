// A stream protocol's responder as a libp2p service (as @libp2p/ping is one): it handles its
// protocol from the host's start to its stop. Pass the factory to createHost's `services`.

import type { Connection, Libp2p, Stream } from '@libp2p/interface'

export interface StreamServiceInit {
  /** a name for the service (its toStringTag) */
  name: string
  protocol: string
  handler: (stream: Stream, connection: Connection) => Promise<void>
  /** streams served at once, and whether relayed (limited) connections may open one */
  maxInboundStreams: number
  runOnLimitedConnection: boolean
}

export function streamService({ name, protocol, handler, ...options }: StreamServiceInit) {
  return (components: { registrar: Pick<Libp2p, 'handle' | 'unhandle'> }) => ({
    [Symbol.toStringTag]: name,
    start: () => components.registrar.handle(protocol, handler, options),
    stop: () => components.registrar.unhandle(protocol),
  })
}
