// Why a node reached none of its bootstrap peers (issue 19, start-up that fails silently): each
// address is dialed once more and the failure named: unreachable, another peer at the address,
// a handshake refused (most likely another swarm key, or none), or a peer that does not take
// part in this run (another genesis). The classification is a pure function of the error.
import { connect } from 'node:net'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { describeError } from '../log.js'

export class StartupError extends Error {
  override name = 'StartupError'
}

/** One bootstrap address and why it failed. */
export interface BootstrapFailure {
  address: string
  reason: string
}

/** Names a dial failure for an operator (`expected`: the peer id the address ends with). */
export function classifyDialError(err: unknown, expected: string | undefined): string {
  const name = (err as Error)?.name ?? ''
  const message = (err as Error)?.message ?? String(err)
  if (/does not match expected remote identity/.test(message))
    return `another peer answers there, not ${expected ?? 'the one named'}: check the /p2p/<peer id> part of the address`
  if (name === 'EncryptionFailedError' || /handshake|ECONNRESET|EncryptionFailed|pnet|psk/i.test(message))
    return `the connection handshake failed (${message}): most likely the two nodes use different swarm keys (--swarm-key), or only one of them has one`
  if (/ECONNREFUSED/.test(message)) return `unreachable: nothing listens there (${message})`
  if (name === 'AbortError' || name === 'TimeoutError' || /timed? ?out|aborted/i.test(message))
    return `unreachable: no answer in time (${message}); check the address and any firewall`
  return `unreachable: ${name ? `${name}: ` : ''}${message}`
}

/**
 * Dials every bootstrap address once (in parallel, `timeoutMs` each) and says why each one does
 * not count as a peer of the run: a dial failure, or a connection to a peer that does not
 * subscribe to the run's `topic` within `timeoutMs`.
 */
export async function diagnoseBootstrap(
  host: Pick<Libp2p, 'dial'> & {
    services: { pubsub: { getSubscribers(topic: string): Array<{ toString(): string }> } }
  },
  addresses: readonly string[],
  topic: string,
  timeoutMs: number,
): Promise<BootstrapFailure[]> {
  return Promise.all(
    addresses.map(async (address): Promise<BootstrapFailure> => {
      const expected = address.split('/p2p/')[1]
      try {
        const connection = await host.dial(multiaddr(address), { signal: AbortSignal.timeout(timeoutMs) })
        const peer = connection.remotePeer.toString()
        const deadline = Date.now() + timeoutMs
        while (Date.now() < deadline) {
          if (host.services.pubsub.getSubscribers(topic).some((p) => p.toString() === peer))
            return { address, reason: 'reachable and in the run now (it was not during the start timeout)' }
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
        return {
          address,
          reason: `connected, but ${peer} does not take part in this run: it runs another genesis (another run id), or has not started one`,
        }
      } catch (err) {
        const reason = classifyDialError(err, expected)
        // No answer in time: if TCP connects, the libp2p handshake is what stalls (a private
        // network with another key answers garbage rather than hanging up).
        if (reason.startsWith('unreachable: no answer') && (await tcpConnects(address, timeoutMs)))
          return {
            address,
            reason: `the peer accepts TCP connections but the libp2p handshake did not complete (${describeError(err)}): most likely the two nodes use different swarm keys (--swarm-key), or only one of them has one`,
          }
        return { address, reason }
      }
    }),
  )
}

/** Whether a TCP connection to the address's host and port opens within `timeoutMs`. */
function tcpConnects(address: string, timeoutMs: number): Promise<boolean> {
  let target: { host: string; port: number }
  try {
    const parts = multiaddr(address).getComponents()
    const host = parts.find(
      (c) => c.name === 'ip4' || c.name === 'ip6' || c.name === 'dns4' || c.name === 'dns6',
    )
    const tcp = parts.find((c) => c.name === 'tcp')
    if (!host?.value || !tcp?.value) return Promise.resolve(false)
    target = { host: host.value, port: Number(tcp.value) }
  } catch {
    return Promise.resolve(false)
  }
  return new Promise((resolve) => {
    const socket = connect(target)
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
