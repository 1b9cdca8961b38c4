// libp2p host factory (SPEC.md 2): TCP, noise, yamux, identify, ping, gossipsub with strict
// signing; optional private network by pre-shared key; bootstrap peers.
import '../polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Registry } from 'prom-client'
import { LIMITS } from '../constants.js'

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
}

export type Host = Libp2p<{ pubsub: GossipSub; identify: unknown; ping: unknown }>

export async function createHost(options: HostOptions): Promise<Host> {
  return (await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: options.swarmKey ? preSharedKey({ psk: options.swarmKey }) : undefined,
    metrics: options.metricsRegistry
      ? prometheusMetrics({ registry: options.metricsRegistry, preserveExistingMetrics: true })
      : undefined,
    peerDiscovery: options.bootstrap?.length ? [bootstrap({ list: options.bootstrap, timeout: 100 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        maxInboundDataLength: LIMITS.maxGossipMessageBytes,
      }),
    },
  })) as unknown as Host
}
