// The parts of js gossipsub's GossipSub class that dtrain needs and its public interface does not
// declare, in one place, so that an upgrade of @libp2p/gossipsub has one file to check.

import type { GossipSub } from '@libp2p/gossipsub'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'

interface GossipSubInternals {
  getScore?: (peer: string) => number
  streamsOutbound?: ReadonlyMap<string, unknown>
  onPeerConnected?: (peer: PeerId, connection: Connection) => void
  createOutboundStream?: (peer: PeerId, connection: Connection) => Promise<void>
}

const internals = (pubsub: GossipSub): GossipSubInternals => pubsub as unknown as GossipSubInternals

/** A peer's gossipsub score (0 when the class offers none). */
export function gossipScore(pubsub: GossipSub, peer: string): number {
  return internals(pubsub).getScore?.(peer) ?? 0
}

/** Gossipsub's outbound streams by peer id (undefined if the class has none). */
export function gossipStreams(pubsub: GossipSub): ReadonlyMap<string, unknown> | undefined {
  return internals(pubsub).streamsOutbound
}

/**
 * Gives gossipsub a connected peer it lost track of, on the peer's newest open connection. js
 * gossipsub drops a peer from its router when one of two connections to it closes, though the
 * other stays open (a redial race leaves two), and never adds it back: onPeerConnected (its
 * topology handler) adds it again, and createOutboundStream opens the stream at once instead of
 * behind its queue.
 */
export async function reopenGossip(host: Pick<Libp2p, 'getConnections'>, pubsub: GossipSub, peer: PeerId) {
  const connection = host
    .getConnections(peer)
    .filter((c) => c.status === 'open')
    .at(-1)
  if (connection === undefined) return
  internals(pubsub).onPeerConnected?.(peer, connection)
  await internals(pubsub).createOutboundStream?.(peer, connection)
}

/** What gossipsub knows of a peer: whether it lists it as subscribed to `topic`, has an outbound
 * stream to it, and its score (for a node's log when gossip goes quiet). */
export interface GossipPeerView {
  peer: string
  subscribed: boolean
  outboundStream: boolean | undefined
  score: number
}

export function gossipView(pubsub: GossipSub, peers: readonly PeerId[], topic: string): GossipPeerView[] {
  const subscribed = new Set(pubsub.getSubscribers(topic).map(String))
  const streams = gossipStreams(pubsub)
  return peers.map((peer) => ({
    peer: peer.toString(),
    subscribed: subscribed.has(peer.toString()),
    outboundStream: streams?.has(peer.toString()),
    score: Math.round(gossipScore(pubsub, peer.toString()) * 100) / 100,
  }))
}
