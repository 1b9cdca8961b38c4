// The run's peers (SPEC.md 2.7-2.9): kept connected (PeerKeeper), reachable through relays when
// they must be (Reachability), scored and banned (PeerGuard), and waited for before the first
// round.

import type { Logger } from 'pino'
import { deltaTopic, LIMITS } from '../constants.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import { peersDecision } from '../round/policy.js'
import type { Changes, Clock } from '../util/clock.js'
import type { Genesis } from '../wire/genesis.js'
import { gossipScore, gossipStreams, reopenGossip } from './gossip-internals.js'
import type { Host } from './host.js'
import { PEER_SCORE, type PeerGuard } from './peer-guard.js'
import { PeerKeeper } from './peer-keeper.js'
import { dialThroughRelays, Reachability, type RelayClientMode } from './reachability.js'

export interface RunPeersComponents {
  host: Host
  genesis: Genesis
  runIdHex: string
  metrics: NodeMetrics
  logger: Logger
  clock: Clock
  changes: Changes
  signal: AbortSignal
  guard: PeerGuard
}

export interface RunPeersInit {
  bootstrap: string[]
  relayClient: RelayClientMode
  onRelayed?: (addresses: string[]) => void
}

export class RunPeers {
  private keeper?: PeerKeeper
  private reachability?: Reachability
  private unwatch?: () => void

  constructor(
    private readonly components: RunPeersComponents,
    private readonly init: RunPeersInit,
  ) {}

  start(): void {
    const { host, runIdHex, genesis, logger, metrics, guard } = this.components
    const keeper = new PeerKeeper(
      host,
      {
        bootstrap: this.init.bootstrap,
        onRedial: (result) => metrics.redials.inc({ result }),
        gossipStreams: gossipStreams(host.services.pubsub),
        reopenGossip: (peer) => reopenGossip(host, host.services.pubsub, peer),
        fallback: (peer, signal) => dialThroughRelays(host, peer, signal),
      },
      logger.child({ component: 'peers' }),
    )
    this.keeper = keeper
    keeper.start()
    this.reachability = new Reachability(
      host,
      {
        relayClient: this.init.relayClient,
        targetPeers: genesis.round.expectedPeers - 1,
        runPeers: () => host.services.pubsub.getSubscribers(deltaTopic(runIdHex)).length,
        keep: (peer, fresh) => {
          keeper.keep(peer)
          if (fresh) keeper.retrySoon(peer)
        },
        onRelayed: this.init.onRelayed,
      },
      logger.child({ component: 'reachability' }),
    )
    this.reachability.start()
    this.unwatch = guard.watch(
      host,
      (peer) => gossipScore(host.services.pubsub, peer),
      (peer, score) => {
        keeper.forget(peer)
        metrics.bannedPeers.inc()
        logger.warn(
          { remote: peer, score, banSeconds: PEER_SCORE.banMs / 1000 },
          'peer score below the graylist threshold: hung up and banned',
        )
      },
    )
  }

  /** A peer whose message passed validation takes part in the run: keep a connection to it. */
  keep(peer: Parameters<PeerKeeper['keep']>[0]): void {
    this.keeper?.keep(peer)
  }

  /**
   * Waits before the first round until `count` peers (this node included) are directly
   * subscribed to the delta topic, or until at least one is and no more arrived for
   * LIMITS.peerSettleMs, or timeout (peersDecision). Returns the subscribed peers plus one.
   */
  async waitFor(count: number, timeoutMs: number): Promise<number> {
    const { host, clock, changes, signal, runIdHex } = this.components
    const topic = deltaTopic(runIdHex)
    const pubsub = host.services.pubsub
    const onChange = () => changes.notify()
    pubsub.addEventListener('subscription-change', onChange)
    try {
      const deadline = clock.now() + timeoutMs
      let last = 0
      let lastChange = clock.now()
      for (;;) {
        const peers = pubsub.getSubscribers(topic).length + 1
        const now = clock.now()
        if (peers !== last) {
          last = peers
          lastChange = now
        }
        const settleMs = LIMITS.peerSettleMs
        if (peersDecision({ now, deadline, peers, count, lastChange, settleMs, stopped: signal.aborted }))
          return peers
        // woken by a subscription, at the settle time, or after a second at the latest (a peer
        // that left drops out of the count without an event)
        await changes.changed(
          Math.min(deadline, peers > 1 ? lastChange + settleMs : deadline, now + 1000) - now,
        )
      }
    } finally {
      pubsub.removeEventListener('subscription-change', onChange)
    }
  }

  stop(): void {
    this.unwatch?.()
    this.reachability?.stop()
    this.keeper?.stop()
  }
}

export const createRunPeers =
  (init: RunPeersInit) =>
  (components: RunPeersComponents): RunPeers =>
    new RunPeers(components, init)
