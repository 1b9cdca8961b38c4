// Keeps a node connected to the network (SPEC.md 2.6): the bootstrap peers, and every peer it has
// been connected to or heard from whose addresses it knows, are redialed with exponential backoff
// whenever no connection to them is open. Without it a node that lost its connections (a
// partition, a restarted bootstrap node, a link down for longer than libp2p's connection monitor
// tolerates) never came back: libp2p itself does not redial a peer it once dialed.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { describeError } from '../log.js'

export interface PeerKeeperOptions {
  /** bootstrap multiaddrs, each ending in /p2p/<peer id> */
  bootstrap: readonly string[]
  /** how often the keeper looks for lost peers */
  intervalMs?: number
  /** first wait after a failed dial; doubles with every failure up to maxBackoffMs */
  minBackoffMs?: number
  maxBackoffMs?: number
  /** peers kept at most (the oldest learned are forgotten first) */
  maxPeers?: number
  dialTimeoutMs?: number
  /**
   * how long a connection must last before the peer counts as reached again: a peer that accepts
   * and hangs up at once (it banned us, or refuses us otherwise) is redialed with backoff, not
   * every tick
   */
  stableMs?: number
  /** called with the outcome of every redial */
  onRedial?: (result: 'connected' | 'failed') => void
  /**
   * gossipsub's outbound streams by peer id (public on its GossipSub class). js gossipsub opens
   * one when a peer connects and does not open another when that stream's connection dies while
   * a newer connection to the peer stays up (a partition that heals leaves exactly that): the
   * peer is then connected but gets no gossip. A kept peer that had a stream and has been
   * without one for `gossipGraceTicks` ticks while connected is hung up, and redialed.
   */
  gossipStreams?: ReadonlyMap<string, unknown>
  gossipGraceTicks?: number
  /**
   * Gives gossipsub a connected peer it lost track of again, on one of its open connections
   * (halfway through the grace), so that the keeper hangs up only if that did not help: hanging
   * up makes both sides redial at once, which leaves two connections, which is how gossipsub
   * lost the peer in the first place.
   */
  reopenGossip?: (peer: PeerId) => Promise<void>
  /**
   * Tried when a redial of a peer's known addresses fails: reach it another way (through a
   * relay, SPEC.md 2.9). Resolves when connected, rejects otherwise.
   */
  fallback?: (peer: PeerId, signal: AbortSignal) => Promise<void>
}

export const PEER_KEEPER_DEFAULTS = {
  intervalMs: 1000,
  minBackoffMs: 1000,
  maxBackoffMs: 30_000,
  maxPeers: 256,
  dialTimeoutMs: 5000,
  stableMs: 10_000,
  // Long enough for a loaded machine to open the stream of a new connection (16 nodes on 2 cores took
  // more than 3 s, and hanging up made it worse).
  gossipGraceTicks: 10,
}

interface Kept {
  peer: PeerId
  /** where to dial when the peer store has no address (bootstrap entries) */
  address?: Multiaddr
  failures: number
  nextAttempt: number
  dialing: boolean
  /** whether gossipsub ever had an outbound stream to it (it speaks gossipsub) */
  hadGossip: boolean
  /** consecutive ticks connected without a gossip stream */
  gossipless: number
  /** when its current connection opened (0: none open that the keeper saw) */
  connectedAt: number
  /** its last connection closed before it lasted stableMs (the peer refuses us) */
  flapping: boolean
  /** ever connected since the node started */
  reached: boolean
}

export class PeerKeeper {
  private readonly kept = new Map<string, Kept>()
  private timer: NodeJS.Timeout | undefined
  private readonly settings: typeof PEER_KEEPER_DEFAULTS

  constructor(
    private readonly host: Libp2p,
    private readonly options: PeerKeeperOptions,
    private readonly log: Logger,
  ) {
    this.settings = { ...PEER_KEEPER_DEFAULTS, ...definedOnly(options) }
    for (const entry of options.bootstrap) {
      const address = multiaddr(entry)
      const id = address.getComponents().find((c) => c.name === 'p2p')?.value
      if (id === undefined) throw new Error(`bootstrap address ${entry} must end in /p2p/<peer id>`)
      this.keep(peerIdFromString(id), address)
    }
  }

  start(): void {
    this.host.addEventListener('peer:connect', this.onConnect)
    this.timer = setInterval(() => this.tick(), this.settings.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    this.host.removeEventListener('peer:connect', this.onConnect)
    if (this.timer) clearInterval(this.timer)
  }

  /** Keeps `peer` connected from now on (a peer heard from; dialed through the peer store). */
  keep(peer: PeerId, address?: Multiaddr): void {
    if (peer.equals(this.host.peerId)) return
    const key = peer.toString()
    const existing = this.kept.get(key)
    if (existing) {
      if (address && !existing.address) existing.address = address
      return
    }
    if (this.kept.size >= this.settings.maxPeers) {
      const oldest = [...this.kept.entries()].find(([, k]) => k.address === undefined)
      if (oldest === undefined) return
      this.kept.delete(oldest[0])
    }
    this.kept.set(key, {
      peer,
      address,
      failures: 0,
      nextAttempt: 0,
      dialing: false,
      hadGossip: false,
      gossipless: 0,
      connectedAt: 0,
      flapping: false,
      reached: false,
    })
  }

  /** Dials a kept, unconnected peer at the next tick, whatever its backoff (new addresses for it). */
  retrySoon(peer: PeerId): void {
    const kept = this.kept.get(peer.toString())
    if (kept && this.host.getConnections(peer).length === 0) kept.nextAttempt = 0
  }

  /** Stops keeping `peer` (a banned peer, SPEC.md 2.7). */
  forget(peer: string): void {
    this.kept.delete(peer)
  }

  private readonly onConnect = (event: CustomEvent<PeerId>) => {
    this.keep(event.detail)
    const kept = this.kept.get(event.detail.toString())
    // Connected is not yet reached: the backoff resets once the connection has lasted (tick).
    if (kept) {
      kept.connectedAt = Date.now()
      kept.reached = true
    }
  }

  private tick(): void {
    const now = Date.now()
    let pending: Set<string> | undefined
    for (const kept of this.kept.values()) {
      if (kept.dialing) continue
      if (this.host.getConnections(kept.peer).length > 0) {
        if (kept.connectedAt > 0 && now - kept.connectedAt >= this.settings.stableMs) {
          kept.failures = 0
          kept.nextAttempt = 0
        }
        this.checkGossip(kept)
        continue
      }
      if (kept.connectedAt > 0) kept.flapping = now - kept.connectedAt < this.settings.stableMs
      kept.connectedAt = 0
      if (now < kept.nextAttempt) continue
      // A dial already under way (the bootstrap dial of a loaded machine) would end in a second
      // connection, and js gossipsub loses track of a peer when one of two connections closes.
      pending ??= new Set(this.host.getDialQueue().flatMap((d) => (d.peerId ? [d.peerId.toString()] : [])))
      if (!pending.has(kept.peer.toString())) void this.redial(kept)
    }
  }

  private checkGossip(kept: Kept): void {
    const streams = this.options.gossipStreams
    if (streams === undefined) return
    if (streams.has(kept.peer.toString())) {
      kept.hadGossip = true
      kept.gossipless = 0
      return
    }
    if (!kept.hadGossip) return
    kept.gossipless++
    if (kept.gossipless === Math.ceil(this.settings.gossipGraceTicks / 2) && this.options.reopenGossip) {
      this.log.info({ peer: kept.peer.toString() }, 'connected peer without a gossip stream: opening one')
      void this.options.reopenGossip(kept.peer).catch(() => {})
    }
    if (kept.gossipless < this.settings.gossipGraceTicks) return
    kept.gossipless = 0
    kept.nextAttempt = Date.now() + this.settings.minBackoffMs
    this.log.warn({ peer: kept.peer.toString() }, 'connected peer without a gossip stream: reconnecting')
    void this.host.hangUp(kept.peer).catch(() => {})
  }

  private async redial(kept: Kept): Promise<void> {
    kept.dialing = true
    // Every redial waits longer than the last until a connection lasts (stableMs): a peer that
    // refuses us right after connecting is not dialed once a second.
    kept.failures++
    // A bootstrap peer not reached yet is most likely starting up too (nodes of a testnet start
    // together, in any order): it is dialed every minBackoffMs until first contact, so that the
    // node is in the mesh before its peers stop waiting for more (LIMITS.peerSettleMs).
    const growth = kept.address !== undefined && !kept.reached ? 0 : kept.failures - 1
    const backoff = Math.min(this.settings.maxBackoffMs, this.settings.minBackoffMs * 2 ** growth)
    kept.nextAttempt = Date.now() + backoff
    try {
      const known = (await this.host.peerStore.get(kept.peer).catch(() => undefined))?.addresses.length ?? 0
      const target = known > 0 || kept.address === undefined ? kept.peer : kept.address
      try {
        await this.host.dial(target, { signal: AbortSignal.timeout(this.settings.dialTimeoutMs) })
      } catch (err) {
        if (!this.options.fallback) throw err
        await this.options.fallback(kept.peer, AbortSignal.timeout(this.settings.dialTimeoutMs))
      }
      this.options.onRedial?.('connected')
      const peer = kept.peer.toString()
      if (!kept.flapping) this.log.info({ peer }, 'reconnected to a lost peer')
      else
        this.log.debug(
          { peer, attempt: kept.failures },
          'reconnected again: the last connection did not last',
        )
    } catch (err) {
      this.options.onRedial?.('failed')
      this.log.debug(
        { peer: kept.peer.toString(), err: describeError(err), retryInMs: backoff },
        'redial failed',
      )
    } finally {
      kept.dialing = false
    }
  }
}

function definedOnly(options: PeerKeeperOptions): Partial<typeof PEER_KEEPER_DEFAULTS> {
  return Object.fromEntries(
    Object.entries(options).filter(([k, v]) => k in PEER_KEEPER_DEFAULTS && v !== undefined),
  ) as Partial<typeof PEER_KEEPER_DEFAULTS>
}
