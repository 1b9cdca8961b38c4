// Signed envelopes (SPEC.md 4.3): signature = Ed25519(key, SHA-256(domain || 0x00 || body)).
// The signer is the peer's libp2p Ed25519 identity, so a verifier needs only the peer id.

import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { domainHash } from './hash.js'

export const SIGNATURE_LENGTH = 64

export class InvalidPeerIdError extends Error {
  override name = 'InvalidPeerIdError'
}

export async function signBody(key: PrivateKey, domain: string, body: Uint8Array): Promise<Uint8Array> {
  if (key.type !== 'Ed25519') throw new TypeError(`dtrain signs with Ed25519 keys only (got ${key.type})`)
  return await key.sign(domainHash(domain, body))
}

export async function verifyBody(
  publicKey: PublicKey,
  domain: string,
  body: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (signature.length !== SIGNATURE_LENGTH) return false
  return await publicKey.verify(domainHash(domain, body), signature)
}

/** Peer id from its multihash bytes; only Ed25519 identities (inline public key) are accepted. */
export function peerIdFromBytes(bytes: Uint8Array): PeerId & { publicKey: PublicKey } {
  let peerId: PeerId
  try {
    peerId = peerIdFromMultihash(Digest.decode(bytes))
  } catch (err) {
    throw new InvalidPeerIdError(`peer id bytes do not decode: ${(err as Error).message}`)
  }
  if (peerId.type !== 'Ed25519' || peerId.publicKey == null) {
    throw new InvalidPeerIdError(`peer id must be an Ed25519 identity (got ${peerId.type})`)
  }
  return peerId as PeerId & { publicKey: PublicKey }
}

export function peerIdBytes(peerId: PeerId): Uint8Array {
  return peerId.toMultihash().bytes
}
