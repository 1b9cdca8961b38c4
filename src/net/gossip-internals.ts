// The parts of js gossipsub's GossipSub class that dtrain needs and its public interface does not
// declare, in one place, so that an upgrade of @libp2p/gossipsub has one file to check.

import type { GossipSub } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'

interface GossipSubInternals {
  sendRpc?: (peer: string, rpc: RPC) => boolean
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

/**
 * Bytes of a frame left for its control part and the control and IHAVE gossip gossipsub adds to
 * it (at most 5000 message ids a list, about 200 KB; splitGossipFrames).
 */
export const GOSSIP_CONTROL_RESERVE = 1 << 20

/**
 * Makes gossipsub send its messages in frames of at most `maxFrameBytes` (SPEC.md 2.1). js gossipsub
 * answers an IWANT with every message asked for in one RPC frame: at 36 KiB a message, an answer of
 * more than about 115 exceeds the 4 MiB limit, and the receiver fails its inbound stream and drops
 * the sender. An RPC whose messages take more than `maxFrameBytes - GOSSIP_CONTROL_RESERVE` is sent
 * as several: the first with the control part and the first messages, the next with the rest, in
 * order. Returns whether it could (the class has the method it wraps).
 */
export function splitGossipFrames(pubsub: GossipSub, maxFrameBytes: number): boolean {
  const inner = internals(pubsub)
  const send = inner.sendRpc?.bind(pubsub)
  if (send === undefined) return false
  const budget = maxFrameBytes - GOSSIP_CONTROL_RESERVE
  inner.sendRpc = (peer: string, rpc: RPC): boolean => {
    if (rpc.messages.length < 2) return send(peer, rpc)
    // a message's field in the frame: its tag, its length's varint (at most 5 bytes), its bytes
    const sizes = rpc.messages.map((m) => 6 + RPC.Message.encode(m).length)
    if (sizes.reduce((a, b) => a + b, 0) <= budget) return send(peer, rpc)
    const groups: RPC.Message[][] = [[]]
    let used = 0
    rpc.messages.forEach((message, i) => {
      if (used + sizes[i] > budget && groups.at(-1)!.length > 0) {
        groups.push([])
        used = 0
      }
      groups.at(-1)!.push(message)
      used += sizes[i]
    })
    let sent = send(peer, { ...rpc, messages: groups[0] })
    for (const messages of groups.slice(1)) sent = send(peer, { subscriptions: [], messages }) && sent
    return sent
  }
  return true
}
