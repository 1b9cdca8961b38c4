// Gossip in the simulator (issue 20 §4): gossipsub's mesh, as a random graph of about `degree`
// links per node, over which a message floods: a node that receives a message for the first time
// hands it to the application and forwards it to every other mesh peer. This models gossipsub's
// eager push, and a node's re-publication of a message its peers already hold (sent once to each,
// ignored, not forwarded); its lazy IHAVE/IWANT repair and heartbeats are not modelled (they are a
// few hundred bytes a second per peer, beside rounds of megabytes).
import { HashStream } from '../crypto/prng.js'
import { type SimNetwork, wireBytes } from './network.js'

/** A connected random mesh: a ring (so every node is reached) plus random links up to `degree`. */
export function randomMesh(nodes: number, degree: number, seed: Uint8Array): number[][] {
  const links = Array.from({ length: nodes }, () => new Set<number>())
  const link = (a: number, b: number) => {
    if (a === b) return
    links[a].add(b)
    links[b].add(a)
  }
  for (let i = 0; i < nodes; i++) link(i, (i + 1) % nodes)
  const stream = new HashStream('dtrain-sim/mesh', seed)
  for (let i = 0; i < nodes; i++) {
    let tries = 0
    while (links[i].size < Math.min(degree, nodes - 1) && tries++ < 4 * degree)
      link(i, stream.nextBelow(nodes))
  }
  return links.map((s) => [...s].sort((a, b) => a - b))
}

export class SimGossip {
  private readonly hops = new Map<number, Int32Array>()

  constructor(
    private readonly network: SimNetwork,
    readonly mesh: readonly number[][],
  ) {}

  /**
   * A flood whose bytes are counted but whose copies are not simulated one by one: every node
   * sends the message to its mesh peers but the one it came from (the origin to all of them) and
   * receives as many. Returns when it reached the farthest node: (hops) x (latency + the
   * message's time on the wire). For frequent small messages (haves) whose timing matters little,
   * at a fraction of the events (a have per node per 250 ms at 256 nodes would be millions of
   * copies a round).
   */
  flood(origin: number, bytes: number): number {
    const hops = this.hopsFrom(origin)
    const wire = wireBytes(bytes)
    let farthest = 0
    for (let v = 0; v < this.mesh.length; v++) {
      const copies = this.mesh[v].length - (v === origin ? 0 : 1)
      this.network.sent[v] += copies * wire
      this.network.received[v] += copies * wire
      this.network.receivedByKind.gossip += copies * wire
      const link = this.network.links[v]
      farthest = Math.max(farthest, hops[v] * (link.latencySeconds + wire / link.downBytesPerSecond))
    }
    return farthest
  }

  /**
   * A message every node already holds, published again by `origin` (a re-announcement, SPEC.md
   * 11 step 3): gossipsub's flood publish sends it to every peer, each of which ignores it as a
   * duplicate and forwards nothing. Counted, not simulated copy by copy.
   */
  republish(origin: number, bytes: number): void {
    const wire = wireBytes(bytes)
    const n = this.mesh.length
    this.network.sent[origin] += (n - 1) * wire
    for (let v = 0; v < n; v++) if (v !== origin) this.network.received[v] += wire
    this.network.receivedByKind.gossip += (n - 1) * wire
  }

  private hopsFrom(origin: number): Int32Array {
    let hops = this.hops.get(origin)
    if (hops) return hops
    hops = new Int32Array(this.mesh.length).fill(-1)
    hops[origin] = 0
    const queue = [origin]
    for (let i = 0; i < queue.length; i++) {
      for (const peer of this.mesh[queue[i]]) {
        if (hops[peer] >= 0) continue
        hops[peer] = hops[queue[i]] + 1
        queue.push(peer)
      }
    }
    this.hops.set(origin, hops)
    return hops
  }

  /**
   * Floods a message of `bytes` from `origin`; `deliver(node)` runs once per node as the message
   * first reaches it (the origin at once).
   */
  publish(origin: number, bytes: number, deliver: (node: number) => void): void {
    const seen = new Uint8Array(this.mesh.length)
    const reach = (node: number, from: number) => {
      if (seen[node]) return
      seen[node] = 1
      deliver(node)
      for (const peer of this.mesh[node]) {
        // like gossipsub, a node does not know who has the message: every mesh peer but the one
        // it came from gets a copy, and duplicates cost their bytes
        if (peer === from) continue
        this.network.send(node, peer, bytes, () => reach(peer, node), 'gossip')
      }
    }
    reach(origin, -1)
  }
}
