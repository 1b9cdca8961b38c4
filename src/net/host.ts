// libp2p host factory (SPEC.md 2): TCP and circuit relay v2 transports, noise, yamux, identify,
// ping, gossipsub with strict signing, AutoNAT, DCUtR, the run's own Kademlia DHT; optional
// private network by pre-shared key; bootstrap peers and opt-in mDNS; optionally a relay server.
import '../polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { createLibp2p } from 'libp2p'
import type { Registry } from 'prom-client'
import { LIMITS } from '../constants.js'
import { trackAnnouncedProtocols } from './announced-protocols.js'
import { splitGossipFrames } from './gossip-internals.js'
import { gossipScoreParams } from './peer-guard.js'
import { repairXsalsa20 } from './pnet-cipher.js'
import { announceable } from './reachability.js'

export interface HostOptions {
  privateKey: PrivateKey
  /** Listen multiaddrs, e.g. /ip4/127.0.0.1/tcp/0 */
  listen: string[]
  /** Bootstrap multiaddrs including /p2p/<peer id> */
  bootstrap?: string[]
  /** Swarm key file contents (/key/swarm/psk/1.0.0/ format) for a private network. */
  swarmKey?: Uint8Array
  /** Register libp2p's own metrics (connections, streams, protocols, process) here. */
  metricsRegistry?: Registry
  /**
   * Peer ids allowed to connect, either way (a private testnet's membership). A connection gater
   * refuses every other peer once its identity is known (after the encryption handshake) and
   * never dials one. Undefined: every peer.
   */
  allowlist?: readonly string[]
  /** Called with the peer id of each connection the allowlist refused. */
  onRefused?: (peer: string) => void
  /** Peers refused either way for now (PeerGuard's bans, SPEC.md 2.7). */
  isBanned?: (peer: string) => boolean
  /** The most peers a gossipsub mesh keeps (Dhi); at least gossipsub's default, 12. */
  meshPeers?: number
  /** Gossipsub peer scoring for a run's topics, with dtrain's own penalties (SPEC.md 2.7). */
  gossipScore?: { topics: readonly string[]; appPenalty: (peer: string) => number }
  /** the run's Kademlia protocol (SPEC.md 2.8, dhtProtocol()); undefined: no DHT */
  dhtProtocol?: string
  /** serve as a circuit relay (SPEC.md 2.9) for peers that cannot be reached directly */
  relayServer?: boolean
  /** announce and look for peers on the LAN under this mDNS name (SPEC.md 2.8); undefined: off */
  mdnsService?: string
  /** ask the LAN's UPnP gateway to forward the listening ports (opt-in, SPEC.md 2.9) */
  upnp?: boolean
  /** the node's own protocol services (chunkService, proofService): started and stopped with the host */
  services?: Record<string, (components: never) => unknown>
}

/**
 * Limits of a relayed connection through a dtrain relay (SPEC.md 2.9): libp2p's defaults (2
 * minutes, 128 KiB) are far too small for deltas; past them the connection is reset and the
 * peers redial (SPEC.md 2.6).
 */
export const RELAY_LIMITS = {
  dataBytes: 1n << 30n,
  durationMs: 60 * 60 * 1000,
  maxReservations: 128,
}

/** The Kademlia protocol of a run (SPEC.md 2.8): a DHT private to the run, not the public IPFS one. */
export function dhtProtocol(runIdHex: string): string {
  return `/dtrain/kad/${runIdHex.slice(0, 16)}/1.0.0`
}

/** The mDNS service name of a run (SPEC.md 2.8). */
export function mdnsService(runIdHex: string): string {
  return `_dtrain-${runIdHex.slice(0, 16)}._udp.local`
}

/**
 * The connection gater of an allowlist (HostOptions.allowlist) and of bans (HostOptions.isBanned):
 * a peer is refused when a list is given and it is not on it, or when it is banned.
 */
export function connectionGater(
  allowed: readonly string[] | undefined,
  onRefused?: (peer: string) => void,
  isBanned?: (peer: string) => boolean,
) {
  const set = allowed ? new Set(allowed) : undefined
  const deny = (peer: PeerId): boolean => {
    const id = peer.toString()
    if (isBanned?.(id)) return true
    const refused = set !== undefined && !set.has(id)
    if (refused) onRefused?.(id)
    return refused
  }
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
  }
}

export type Host = Libp2p<{
  pubsub: GossipSub
  identify: unknown
  ping: unknown
  /** present when HostOptions.dhtProtocol was given */
  dht?: KadDHT
}>

/** How long a ping of a connection may take before libp2p gives the connection up. */
export const PING_TIMEOUT_MS = 50_000
/** How often libp2p pings each connection: after the previous ping's timeout. */
export const PING_INTERVAL_MS = 60_000

export async function createHost(options: HostOptions): Promise<Host> {
  const score = options.gossipScore
    ? gossipScoreParams(options.gossipScore.topics, options.gossipScore.appPenalty)
    : undefined
  // the cipher of a private network, mended before its first connection (pnet-cipher.ts)
  if (options.swarmKey) repairXsalsa20()
  try {
    const host = (await createLibp2p({
      privateKey: options.privateKey,
      addresses: { listen: options.listen, announceFilter: announceable },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: options.swarmKey ? preSharedKey({ psk: options.swarmKey }) : undefined,
      // libp2p accepts 5 inbound connections per second from one address by default: nodes that
      // start together behind one address (a testnet on one machine, peers behind one NAT) lost
      // their bootstrap connections beyond the fifth, and bootstrap does not retry.
      connectionManager: { inboundConnectionThreshold: 64, maxIncomingPendingConnections: 64 },
      // libp2p pings every connection each 10 s and aborts it when a ping takes longer than an
      // adaptive timeout, 5 s at least: on 127.0.0.1 or a LAN it stays at 5 s. A training node's
      // event loop is busy for seconds at a time (a large model's outer step, its encoding, a CPU
      // shared with its trainer), and the 4-node model-scale drill lost connections and relay
      // reservations to that: a peer that is slow is not gone. A ping must end before the next
      // begins (one ping stream at a time: an overlapping one fails and aborts the connection),
      // so the interval grows with the timeout. A closed connection is still seen at once; a
      // silent one within two minutes.
      connectionMonitor: {
        pingInterval: PING_INTERVAL_MS,
        pingTimeout: { minTimeout: PING_TIMEOUT_MS, maxTimeout: PING_TIMEOUT_MS + 5_000 },
      },
      connectionGater:
        options.allowlist || options.isBanned
          ? connectionGater(options.allowlist, options.onRefused, options.isBanned)
          : undefined,
      metrics: options.metricsRegistry
        ? prometheusMetrics({ registry: options.metricsRegistry, preserveExistingMetrics: true })
        : undefined,
      peerDiscovery: [
        ...(options.bootstrap?.length ? [bootstrap({ list: options.bootstrap, timeout: 100 })] : []),
        ...(options.mdnsService ? [mdns({ serviceTag: options.mdnsService, interval: 5000 })] : []),
      ],
      services: {
        ...options.services,
        identify: identify(),
        ping: ping(),
        autoNAT: autoNAT(),
        dcutr: dcutr(),
        ...(options.dhtProtocol
          ? {
              // Server mode: a run's nodes answer each other's queries. Addresses pass unfiltered,
              // because a private testnet's are private ones (10.x, 192.168.x).
              dht: kadDHT({
                protocol: options.dhtProtocol,
                clientMode: false,
                peerInfoMapper: passthroughMapper,
              }),
            }
          : {}),
        ...(options.upnp ? { upnp: uPnPNAT() } : {}),
        ...(options.relayServer
          ? {
              relay: circuitRelayServer({
                reservations: {
                  maxReservations: RELAY_LIMITS.maxReservations,
                  defaultDataLimit: RELAY_LIMITS.dataBytes,
                  defaultDurationLimit: RELAY_LIMITS.durationMs,
                },
              }),
            }
          : {}),
        pubsub: gossipsub({
          // gossip flows over relayed connections too (SPEC.md 2.9)
          runOnLimitedConnection: true,
          globalSignaturePolicy: 'StrictSign',
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          // A frame, not a message: gossipsub answers an IWANT with every message asked for in one
          // frame. Bounded by the message's limit, such a frame failed the inbound stream, and
          // gossipsub then dropped the sender while the connection stayed up (SPEC.md 2.1).
          maxInboundDataLength: LIMITS.maxGossipFrameBytes,
          // Every node of a run bootstraps from the same few peers, and a mesh holds at most Dhi
          // peers (12 by default): the peers a bootstrap node pruned beyond it, knowing no one
          // else, stayed on the edge of the mesh and missed most messages (16 nodes: three of them
          // never agreed). A run's mesh may hold every expected peer.
          ...(options.meshPeers && options.meshPeers > 12 ? { Dhi: options.meshPeers } : {}),
          // gossipsub penalises more than 10 peers on one IP address (a Sybil guard, kept for real
          // addresses); every node of a testnet on one machine shares the loopback address, and
          // beyond 10 of them the penalty graylisted them all and gossip stopped.
          scoreParams: {
            ...score?.params,
            IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']),
            // A private network (pre-shared key or allowlist) keeps Sybils out by membership; its
            // nodes may well share an address (one machine, one NAT), which the penalty punishes.
            ...(options.swarmKey || options.allowlist ? { IPColocationFactorWeight: 0 } : {}),
          },
          scoreThresholds: score?.thresholds,
        }),
      },
    })) as unknown as Host
    trackAnnouncedProtocols(host)
    // an IWANT's answer in frames within the limit receivers accept (SPEC.md 2.1)
    splitGossipFrames(host.services.pubsub, LIMITS.maxGossipFrameBytes)
    return host
  } catch (err) {
    throw listenError(err, options.listen)
  }
}

export class ListenError extends Error {
  override name = 'ListenError'
}

/**
 * libp2p's refusal to listen, for an operator: which address, why (a port another process holds,
 * an address this machine does not have), and what to do; other errors pass through.
 */
export function listenError(err: unknown, listen: readonly string[] = []): unknown {
  if ((err as Error)?.name !== 'UnsupportedListenAddressesError') return err
  const failures = (err as Error).message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('/'))
  const reasons = failures.map((line) =>
    /EADDRINUSE/.test(line)
      ? `${line.split(':')[0]}: the port is in use by another process (another dtrain node?)`
      : /EADDRNOTAVAIL/.test(line)
        ? `${line.split(':')[0]}: this machine has no such address`
        : line,
  )
  return new ListenError(
    `cannot listen on ${reasons.length > 0 ? reasons.join('; ') : listen.join(', ')}: choose another address or port with --listen (/ip4/0.0.0.0/tcp/0 takes any free port), or stop the process that holds it`,
  )
}
