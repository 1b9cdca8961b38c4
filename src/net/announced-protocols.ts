// The protocols each peer says it speaks, as its last identify (or identify push) announced them.
// libp2p's peer store is not that list: it also adds every protocol a peer opened a stream for on
// this node (libp2p's connection.js, onIncomingStream). On a relay, every client that reserved a
// slot opened a hop stream, so the relay's peer store listed all of its clients as relays; a
// relay without a public address then reserved on them, was refused by each, and libp2p's relay
// discovery walked the DHT without end (about 300 FIND_NODE requests a second from the bootstrap
// node of every loopback testnet, most of its DHT traffic; test/e2e/relay-search.test.ts).
import type { IdentifyResult, Libp2p, PeerId } from '@libp2p/interface'

const books = new WeakMap<Libp2p, Map<string, readonly string[]>>()

/**
 * Starts recording what each connected peer announces; call before the host dials anyone. A peer
 * is forgotten when its last connection closes (identify runs again on the next one), so a
 * long-lived relay keeps only its connected peers.
 */
export function trackAnnouncedProtocols(host: Libp2p): void {
  if (books.has(host)) return
  const book = new Map<string, readonly string[]>()
  books.set(host, book)
  host.addEventListener('peer:identify', (event: CustomEvent<IdentifyResult>) => {
    book.set(event.detail.peerId.toString(), [...event.detail.protocols])
  })
  host.addEventListener('peer:disconnect', (event: CustomEvent<PeerId>) => {
    book.delete(event.detail.toString())
  })
}

/**
 * What `peer` announced in its last identify; undefined when it never identified itself to this
 * host (or the host is not tracked): then nothing is known of what it speaks.
 */
export function announcedProtocols(host: Libp2p, peer: PeerId): readonly string[] | undefined {
  return books.get(host)?.get(peer.toString())
}
