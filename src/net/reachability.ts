// Reachability and discovery (SPEC.md 2.8, 2.9): a node finds the run's peers beyond its bootstrap
// list (the DHT, mDNS) and hands them to the peer keeper, which dials and keeps them; a node that
// AutoNAT cannot confirm as reachable reserves a slot on a relay and advertises the relayed
// address, so that peers behind other NATs reach it through the relay (and DCUtR upgrades the
// connection to a direct one where the NATs allow).

import type { PeerId, PeerInfo } from '@libp2p/interface'
import type { AddressManager, TransportManager } from '@libp2p/interface-internal'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { describeError } from '../log.js'
import { announcedProtocols } from './announced-protocols.js'
import type { Host } from './host.js'
import type { RelayClientMode } from './relay-modes.js'

export { RELAY_CLIENT_MODES, type RelayClientMode } from './relay-modes.js'

export const REACHABILITY_DEFAULTS = {
  /** how long AutoNAT may take to confirm a public address before 'auto' reserves a relay slot */
  graceMs: 15_000,
  /**
   * how often the DHT is asked for more peers while the node has fewer than it wants, as long as
   * the lookups name peers no earlier lookup named
   */
  lookupIntervalMs: 5000,
  /**
   * the longest wait between lookups: each lookup that names no one new doubles the wait, up to
   * this (a run whose expected peers were not all there asked every peer of the DHT every 5 s for
   * as long as it ran); a lookup that names someone new, or a peer lost, starts over
   */
  lookupMaxIntervalMs: 300_000,
  lookupTimeoutMs: 10_000,
}

/**
 * The wait before the next DHT lookup (REACHABILITY_DEFAULTS): none after a lookup that found a
 * peer, otherwise twice the last wait, from the interval up to the maximum.
 */
export function nextLookupWaitMs(
  lastWaitMs: number,
  foundNew: boolean,
  settings: { lookupIntervalMs: number; lookupMaxIntervalMs: number },
): number {
  if (foundNew) return 0
  return Math.min(Math.max(2 * lastWaitMs, settings.lookupIntervalMs), settings.lookupMaxIntervalMs)
}

/** libp2p's components that its public interface does not expose, for the relay listener. */
interface HostComponents {
  transportManager: TransportManager
  addressManager: AddressManager
}

function components(host: Host): HostComponents {
  return (host as unknown as { components: HostComponents }).components
}

const isCircuit = (ma: Multiaddr) => ma.getComponents().some((c) => c.name === 'p2p-circuit')

/** A multiaddr's IP component, if it has one. */
const ipOf = (ma: Multiaddr) => ma.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')

/** RFC 1918, loopback, link-local and unique-local addresses: not reachable from the internet. */
export function isPrivateAddress(ma: Multiaddr): boolean {
  const ip = ipOf(ma)
  if (!ip?.value) return true
  const v = ip.value.toLowerCase()
  if (ip.name === 'ip4') {
    const [a, b] = v.split('.').map(Number)
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      a === 0
    )
  }
  return v === '::1' || v === '::' || v.startsWith('fe80:') || v.startsWith('fc') || v.startsWith('fd')
}

const isLoopback = (ma: Multiaddr): boolean => {
  const ip = ipOf(ma)
  return ip?.name === 'ip4' ? (ip.value ?? '').startsWith('127.') : ip?.value === '::1'
}

/**
 * The addresses a node announces (libp2p's announce filter): without relayed addresses through
 * a relay's loopback address (issue 19 §3: a relay listening on every interface made its peers
 * advertise /ip4/127.0.0.1/.../p2p-circuit, which a remote peer dials on its own machine), unless
 * every address this node has is a loopback one (a testnet on one machine).
 */
export function announceable(addresses: Multiaddr[]): Multiaddr[] {
  if (addresses.every(isLoopback)) return addresses
  return addresses.filter((a) => !(isCircuit(a) && isLoopback(a)))
}

/** Whether AutoNAT (or the transport) has confirmed a public, direct address of this node. */
export function hasVerifiedPublicAddress(host: Host): boolean {
  return components(host)
    .addressManager.getAddressesWithMetadata()
    .some((a) => a.verified && !isCircuit(a.multiaddr) && !isPrivateAddress(a.multiaddr))
}

/** This node's relayed addresses (/p2p-circuit), once a relay granted it a reservation. */
export function relayedAddresses(host: Host): string[] {
  return host
    .getMultiaddrs()
    .filter(isCircuit)
    .map((ma) => ma.toString())
}

const HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'

/**
 * The peers this node is directly connected to that run a relay: those whose identify announced
 * the hop protocol. Not the peer store's protocols, which on a relay list every client that opened
 * a hop stream to reserve a slot (announced-protocols.ts).
 */
export function connectedRelays(host: Host): PeerId[] {
  return host
    .getPeers()
    .filter((peer) => announcedProtocols(host, peer)?.includes(HOP_PROTOCOL) && !onlyRelayed(host, peer))
}

/**
 * Dials `peer` through each connected relay in turn (/p2p/<relay>/p2p-circuit/p2p/<peer>): it
 * answers if the peer holds a reservation there. A peer behind a NAT is reached this way even
 * when the addresses the node learned for it are only its unreachable direct ones.
 */
export async function dialThroughRelays(host: Host, peer: PeerId, signal: AbortSignal): Promise<void> {
  const relays = connectedRelays(host).filter((relay) => !relay.equals(peer))
  if (relays.length === 0) throw new Error('no relay connected to reach the peer through')
  let last: unknown
  for (const relay of relays) {
    try {
      await host.dial(multiaddr(`/p2p/${relay}/p2p-circuit/p2p/${peer}`), { signal })
      return
    } catch (err) {
      last = err
    }
  }
  throw last
}

/** Whether every open connection to `peer` goes through a relay. */
export function onlyRelayed(host: Host, peer: PeerId): boolean {
  const connections = host.getConnections(peer)
  return connections.length > 0 && connections.every((c) => isCircuit(c.remoteAddr))
}

export interface ReachabilityOptions {
  relayClient: RelayClientMode
  /** the run's other expected peers: the DHT is asked for more while fewer are connected */
  targetPeers: number
  /** the run's peers connected now (the subscribers of its delta topic) */
  runPeers: () => number
  /**
   * hands a found peer to the peer keeper, which dials and keeps it (SPEC.md 2.6); `fresh`: the
   * lookup brought addresses the node did not know (a relayed one, say): dial again soon
   */
  keep: (peer: PeerId, fresh: boolean) => void
  /** called when the node's relayed addresses change (a reservation granted, renewed or lost) */
  onRelayed?: (addresses: string[]) => void
  graceMs?: number
  lookupIntervalMs?: number
  lookupMaxIntervalMs?: number
}

export class Reachability {
  private readonly settings: typeof REACHABILITY_DEFAULTS
  private timers: NodeJS.Timeout[] = []
  private reserving = false
  private reserved = false
  private lastRelayed = ''
  private lookingUp = false
  private lookupWaitMs = 0
  private nextLookupAt = 0
  private lastRunPeers = 0
  /** the peers lookups returned */
  private readonly looked = new Set<string>()
  private stopped = false

  constructor(
    private readonly host: Host,
    private readonly options: ReachabilityOptions,
    private readonly log: Logger,
  ) {
    this.settings = {
      ...REACHABILITY_DEFAULTS,
      ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
      ...(options.lookupIntervalMs !== undefined ? { lookupIntervalMs: options.lookupIntervalMs } : {}),
      ...(options.lookupMaxIntervalMs !== undefined
        ? { lookupMaxIntervalMs: options.lookupMaxIntervalMs }
        : {}),
    }
  }

  start(): void {
    this.host.addEventListener('peer:discovery', this.onDiscovery)
    this.host.addEventListener('self:peer:update', this.onSelfUpdate)
    if (this.options.relayClient === 'always') void this.reserve('configured')
    if (this.options.relayClient === 'auto')
      this.every(this.settings.graceMs, () => void this.checkReachable())
    if (this.host.services.dht) this.every(this.settings.lookupIntervalMs, () => this.lookup())
  }

  stop(): void {
    this.stopped = true
    this.host.removeEventListener('peer:discovery', this.onDiscovery)
    this.host.removeEventListener('self:peer:update', this.onSelfUpdate)
    for (const t of this.timers) clearInterval(t)
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.timers.push(t)
  }

  private readonly onDiscovery = (event: CustomEvent<PeerInfo>) => {
    if (event.detail.id.equals(this.host.peerId)) return
    this.log.debug({ peer: event.detail.id.toString() }, 'peer discovered')
    this.options.keep(event.detail.id, false)
  }

  private readonly onSelfUpdate = () => {
    const relayed = relayedAddresses(this.host)
    const key = relayed.join(' ')
    if (key === this.lastRelayed) return
    this.lastRelayed = key
    if (relayed.length > 0) this.log.info({ addresses: relayed }, 'reachable through a relay')
    else if (this.reserved) this.log.warn('the relay reservation was lost; looking for another relay')
    this.options.onRelayed?.(relayed)
  }

  /**
   * 'auto': no public address confirmed within the grace period: reserve a relay slot, once a
   * connected peer runs a relay. Listening on /p2p-circuit with no relay in reach starts libp2p's
   * relay discovery, a random walk of the DHT that never ends while no relay answers and leaks
   * every stream it opens (issue 19 §3: 0.3 MB of heap per round on a node whose peers were not
   * relays; test/e2e/relay-search.test.ts); the node looks again at the next check instead.
   */
  private async checkReachable(): Promise<void> {
    if (this.reserved || this.reserving || this.stopped) return
    if (hasVerifiedPublicAddress(this.host)) return
    if (connectedRelays(this.host).length === 0) {
      if (!this.saidNoRelay)
        this.log.info(
          'no public address and no relay among the connected peers: not reachable from outside until one connects',
        )
      this.saidNoRelay = true
      return
    }
    await this.reserve('unreachable')
  }

  private saidNoRelay = false

  /** Listens on /p2p-circuit: the transport reserves a slot on a relay among the connected peers. */
  private async reserve(why: 'configured' | 'unreachable'): Promise<void> {
    this.reserving = true
    try {
      this.log.info(
        { why },
        why === 'unreachable'
          ? 'AutoNAT confirmed no public address: reserving a slot on a relay'
          : 'reserving a slot on a relay',
      )
      await components(this.host).transportManager.listen([multiaddr('/p2p-circuit')])
      this.reserved = true
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'cannot listen through a relay')
    } finally {
      this.reserving = false
    }
  }

  /**
   * Hands a peer a lookup returned to the keeper; whether it is news: a peer no lookup returned
   * before, or new addresses of one. (Not "a peer this node is not connected to": the lookup
   * itself dials the peers it is told of, and one returned again that does not answer is the
   * keeper's to redial, with its own backoff.)
   */
  private async found(peer: PeerInfo): Promise<boolean> {
    const known = new Set(
      ((await this.host.peerStore.get(peer.id).catch(() => undefined))?.addresses ?? []).map((a) =>
        a.multiaddr.toString(),
      ),
    )
    const fresh = peer.multiaddrs.filter((ma) => !known.has(ma.toString()))
    if (fresh.length > 0) {
      this.log.debug({ peer: peer.id.toString(), addresses: fresh.map(String) }, 'DHT lookup: new addresses')
      await this.host.peerStore.merge(peer.id, { multiaddrs: fresh })
    }
    this.options.keep(peer.id, fresh.length > 0)
    const first = !this.looked.has(peer.id.toString())
    this.looked.add(peer.id.toString())
    return fresh.length > 0 || first
  }

  /**
   * Asks the DHT for the peers closest to this node while it has fewer connections than it wants,
   * less and less often while the lookups find no one new (nextLookupWaitMs).
   */
  private async lookup(): Promise<void> {
    const dht = this.host.services.dht
    if (!dht || this.lookingUp || this.stopped) return
    const peers = this.options.runPeers()
    // a peer lost: look again at once
    if (peers < this.lastRunPeers) this.nextLookupAt = this.lookupWaitMs = 0
    this.lastRunPeers = peers
    if (peers >= this.options.targetPeers || Date.now() < this.nextLookupAt) return
    this.lookingUp = true
    let found = 0
    try {
      const signal = AbortSignal.timeout(this.settings.lookupTimeoutMs)
      for await (const event of dht.getClosestPeers(this.host.peerId.toMultihash().bytes, { signal })) {
        // The peers' answers list the closer peers with their current addresses (a relayed one
        // once a peer reserved a slot); the peer store keeps what it learned first unless told.
        if (event.name !== 'PEER_RESPONSE') continue
        for (const peer of event.closer) {
          if (peer.id.equals(this.host.peerId) || peer.multiaddrs.length === 0) continue
          if (await this.found(peer)) found++
        }
      }
    } catch (err) {
      this.log.debug({ err: describeError(err) }, 'DHT lookup ended')
    } finally {
      this.lookingUp = false
      this.lookupWaitMs = nextLookupWaitMs(this.lookupWaitMs, found > 0, this.settings)
      this.nextLookupAt = Date.now() + this.lookupWaitMs
      this.log.debug(
        { runPeers: peers, wanted: this.options.targetPeers, found, nextInMs: this.lookupWaitMs },
        'DHT lookup done',
      )
    }
  }
}
