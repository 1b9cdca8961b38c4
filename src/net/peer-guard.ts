// Peer scoring and bans (SPEC.md 2.7). Gossipsub scores every peer from what it sees on the
// topics (invalid messages above all, fed by the topic validators' REJECTs); dtrain adds its own
// penalties for misbehaviour outside gossip (malformed or bogus chunk requests, lying chunks) as
// gossipsub's application-specific score. A connected peer whose score falls below the graylist
// threshold is hung up and refused, either way, for `banMs`; gossipsub already ignores its RPCs
// from that threshold on, so a flooder costs little even before the ban.
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score'
import type { Libp2p } from '@libp2p/interface'
import { PROTOCOL } from '../constants.js'

export const PEER_SCORE = PROTOCOL.peerScore

/** Misbehaviour dtrain penalises outside gossip, with its weight (SPEC.md 2.7). */
export type PenaltyReason = 'bad-request' | 'not-found' | 'bad-chunk' | 'bad-shard-result'

const PENALTY_WEIGHT: Record<PenaltyReason, number> = {
  'bad-request': PEER_SCORE.penaltyBadRequest,
  'not-found': PEER_SCORE.penaltyNotFound,
  'bad-chunk': PEER_SCORE.penaltyBadChunk,
  // a signed shard result that does not recompute (SPEC.md 18.5): as grave as a lying chunk
  'bad-shard-result': PEER_SCORE.penaltyBadChunk,
}

/** Peers tracked at most; beyond it the smallest penalties are forgotten (bounded memory). */
const MAX_TRACKED_PEERS = 4096

/** Gossipsub score parameters for a run's topics (SPEC.md 2.7). */
export function gossipScoreParams(topics: readonly string[], appPenalty: (peer: string) => number) {
  const topic: Partial<TopicScoreParams> = {
    topicWeight: PEER_SCORE.topicWeight,
    timeInMeshWeight: PEER_SCORE.timeInMeshWeight,
    timeInMeshQuantum: 1000,
    timeInMeshCap: PEER_SCORE.timeInMeshCapSeconds,
    firstMessageDeliveriesWeight: PEER_SCORE.firstDeliveryWeight,
    firstMessageDeliveriesDecay: PEER_SCORE.firstDeliveryDecay,
    firstMessageDeliveriesCap: PEER_SCORE.firstDeliveryCap,
    // Traffic is bursty (one announcement per peer per round, rounds of minutes): a required
    // delivery rate would penalise honest peers between rounds, so P3 and P3b are off.
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: PEER_SCORE.invalidMessageWeight,
    invalidMessageDeliveriesDecay: PEER_SCORE.invalidMessageDecay,
  }
  const params: Partial<PeerScoreParams> = {
    topics: Object.fromEntries(topics.map((t) => [t, topic as TopicScoreParams])),
    topicScoreCap: PEER_SCORE.topicScoreCap,
    appSpecificScore: (peer: string) => -appPenalty(peer),
    appSpecificWeight: PEER_SCORE.appSpecificWeight,
    decayInterval: 1000,
    decayToZero: 0.01,
    // A banned peer's score is remembered as long as its ban lasts.
    retainScore: PEER_SCORE.banMs,
  }
  const thresholds: Partial<PeerScoreThresholds> = {
    gossipThreshold: PEER_SCORE.gossipThreshold,
    publishThreshold: PEER_SCORE.publishThreshold,
    graylistThreshold: PEER_SCORE.graylistThreshold,
  }
  return { params, thresholds }
}

/**
 * dtrain's own per-peer penalties (decaying with a half-life) and the ban list. Pure bookkeeping
 * with an injectable clock; the node asks it whom to hang up (`due`) and the connection gater
 * asks it whom to refuse (`isBanned`).
 */
export class PeerGuard {
  private readonly penalties = new Map<string, { value: number; at: number }>()
  private readonly bans = new Map<string, number>()

  constructor(private readonly now: () => number = Date.now) {}

  /** Adds a penalty for `reason` to `peer`. */
  penalize(peer: string, reason: PenaltyReason): void {
    const value = this.penalty(peer) + PENALTY_WEIGHT[reason]
    this.penalties.set(peer, { value, at: this.now() })
    if (this.penalties.size > MAX_TRACKED_PEERS) this.forgetSmallest()
  }

  /** The peer's penalty now: each one halves every `penaltyHalfLifeMs`. */
  penalty(peer: string): number {
    const entry = this.penalties.get(peer)
    if (entry === undefined) return 0
    return entry.value * 0.5 ** ((this.now() - entry.at) / PEER_SCORE.penaltyHalfLifeMs)
  }

  /** Bans a peer for `banMs`. */
  ban(peer: string): void {
    this.bans.set(peer, this.now() + PEER_SCORE.banMs)
    if (this.bans.size > MAX_TRACKED_PEERS) this.bans.delete(this.bans.keys().next().value as string)
  }

  isBanned(peer: string): boolean {
    const until = this.bans.get(peer)
    if (until === undefined) return false
    if (this.now() < until) return true
    this.bans.delete(peer)
    return false
  }

  /** The peers among `connected` whose gossip score is below the graylist threshold. */
  due(connected: Iterable<string>, score: (peer: string) => number): string[] {
    const out: string[] = []
    for (const peer of connected) if (score(peer) < PEER_SCORE.graylistThreshold) out.push(peer)
    return out
  }

  /**
   * Checks the connected peers every `intervalMs`: each one whose score (gossipsub's, dtrain's
   * penalties included) is below the graylist threshold is banned and hung up. Returns a stop
   * function.
   */
  watch(
    host: Pick<Libp2p, 'getPeers' | 'hangUp'>,
    score: (peer: string) => number,
    onBan: (peer: string, score: number) => void,
    intervalMs = 1000,
  ): () => void {
    const timer = setInterval(() => {
      const connected = host.getPeers()
      const byId = new Map(connected.map((p) => [p.toString(), p]))
      for (const peer of this.due(byId.keys(), score)) {
        const at = score(peer)
        this.ban(peer)
        onBan(peer, at)
        host.hangUp(byId.get(peer)!).catch(() => {})
      }
    }, intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }

  private forgetSmallest(): void {
    let smallest: string | undefined
    let least = Number.POSITIVE_INFINITY
    for (const peer of this.penalties.keys()) {
      const p = this.penalty(peer)
      if (p < least) {
        least = p
        smallest = peer
      }
    }
    if (smallest !== undefined) this.penalties.delete(smallest)
  }
}
