import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { beforeAll, describe, expect, it } from 'vitest'
import { LIMITS } from '../../src/constants.js'
import { sha256 } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import {
  type AnnouncementContext,
  checkAnnouncement,
  checkCommit,
  checkHave,
  validate,
} from '../../src/gossip/validate.js'
import {
  type Announcement,
  encodeAnnouncementBody,
  encodeEnvelope,
  type Have,
  signAnnouncement,
  signCommit,
  signHave,
} from '../../src/wire/messages.js'

const runId = sha256(new Uint8Array([1]))
let key: PrivateKey
let base: Announcement

function context(overrides: Partial<AnnouncementContext> = {}): AnnouncementContext {
  return {
    runId,
    currentRound: 5,
    encoding: 'fp32',
    encodedSize: 1008,
    knownDeltaHash: () => undefined,
    ...overrides,
  }
}

async function verdictOf(bytes: Uint8Array, ctx = context(), origin = peerIdFromPrivateKey(key)) {
  const v = await validate(() => checkAnnouncement(bytes, origin, ctx))
  return v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`
}

beforeAll(async () => {
  key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
  base = {
    version: 1,
    runId,
    round: 5,
    peerId: peerIdBytes(peerIdFromPrivateKey(key)),
    baseHash: sha256(new Uint8Array([2])),
    deltaHash: sha256(new Uint8Array([3])),
    encodedSize: 1008,
    encoding: 'fp32',
    trainLoss: 2.5,
    sampleCount: 64,
    proofRoot: new Uint8Array(32).fill(5),
  }
})

describe('announcement validation (SPEC.md 5.3)', () => {
  it('accepts a well-formed announcement and returns its signer', async () => {
    const signed = await signAnnouncement(key, base)
    const v = await validate(() => checkAnnouncement(signed, undefined, context()))
    expect(v.action === 'accept' && v.value.signer.toString()).toBe(peerIdFromPrivateKey(key).toString())
  })

  it.each<[string, (a: Announcement) => Announcement, string]>([
    ['another run', (a) => ({ ...a, runId: sha256(new Uint8Array([9])) }), 'reject: wrong-run'],
    ['an old round', (a) => ({ ...a, round: 4 }), 'ignore: stale-round'],
    ['a round too far ahead', (a) => ({ ...a, round: 8 }), 'ignore: future-round'],
    ['the next round', (a) => ({ ...a, round: 6 }), 'accept'],
    ['another encoding', (a) => ({ ...a, encoding: 'int8-block' }), 'reject: wrong-encoding'],
    ['a wrong size', (a) => ({ ...a, encodedSize: 1009 }), 'reject: wrong-size'],
    ['a NaN train loss', (a) => ({ ...a, trainLoss: Number.NaN }), 'reject: malformed'],
    ['a short delta hash', (a) => ({ ...a, deltaHash: new Uint8Array(31) }), 'reject: malformed'],
    ['another protocol version', (a) => ({ ...a, version: 2 }), 'ignore: unsupported-version'],
    [
      'a non-Ed25519 peer id',
      (a) => ({ ...a, peerId: new Uint8Array([0x12, 0x20, ...new Uint8Array(32)]) }),
      'reject: bad-peer-id',
    ],
  ])('answers an announcement with %s', async (_name, change, expected) => {
    expect(await verdictOf(await signAnnouncement(key, change(base)))).toBe(expected)
  })

  it('rejects a flipped signature bit, a flipped body bit and a foreign signer', async () => {
    const signed = await signAnnouncement(key, base)
    const sigFlip = new Uint8Array(signed)
    sigFlip[sigFlip.length - 1] ^= 1
    expect(await verdictOf(sigFlip)).toBe('reject: bad-signature')
    const bodyFlip = new Uint8Array(signed)
    bodyFlip[bodyFlip.length - 70] ^= 1 // inside sample_count / train_loss of the body
    expect(await verdictOf(bodyFlip)).toMatch(/^reject: (bad-signature|malformed)$/)
    const other = await generateKeyPair('Ed25519')
    const body = encodeAnnouncementBody(base)
    const forged = encodeEnvelope(body, await other.sign(body))
    expect(await verdictOf(forged)).toBe('reject: bad-signature')
  })

  it('rejects a message whose signer is not its gossip origin', async () => {
    const other = await generateKeyPair('Ed25519')
    expect(await verdictOf(await signAnnouncement(key, base), context(), peerIdFromPrivateKey(other))).toBe(
      'reject: origin-mismatch',
    )
  })

  it('rejects oversize and undecodable bytes', async () => {
    expect(await verdictOf(new Uint8Array(LIMITS.maxGossipMessageBytes + 1))).toBe('reject: oversize')
    expect(await verdictOf(new Uint8Array([0xff, 0xff, 0xff]))).toBe('reject: malformed')
    expect(await verdictOf(new Uint8Array(0))).toBe('reject: malformed')
  })

  it('ignores a duplicate and flags equivocation', async () => {
    const signed = await signAnnouncement(key, base)
    expect(await verdictOf(signed, context({ knownDeltaHash: () => base.deltaHash }))).toBe(
      'ignore: duplicate',
    )
    expect(await verdictOf(signed, context({ knownDeltaHash: () => sha256(new Uint8Array([4])) }))).toBe(
      'ignore: equivocation',
    )
  })
})

describe('model commit validation (SPEC.md 5.5)', () => {
  it('accepts the largest commit the protocol allows: limits.maxCommitDeltaHashes deltas, the longest fields', async () => {
    // Before revision 1.14 the message limit (4096 bytes) held about 115 hashes, so a run of more
    // peers could not commit its set: every peer rejected the commit as oversize.
    const deltaHashes = Array.from({ length: LIMITS.maxCommitDeltaHashes }, (_, i) =>
      sha256(new Uint8Array([i & 0xff, i >> 8])),
    ).sort(Buffer.compare)
    const commit = {
      version: 1,
      runId,
      round: 2 ** 53 - 1,
      peerId: base.peerId,
      weightsHash: sha256(new Uint8Array([5])),
      deltaHashes,
      stateRoot: sha256(new Uint8Array([8])),
      stateSize: LIMITS.maxObjectBytes,
    }
    const signed = await signCommit(key, commit)
    expect(signed.length).toBeLessThanOrEqual(LIMITS.maxGossipMessageBytes)
    const v = await validate(() =>
      checkCommit(signed, undefined, { runId, currentRound: 2 ** 53 - 1, stateSize: LIMITS.maxObjectBytes }),
    )
    expect(v.action).toBe('accept')
  })

  it('accepts a commit of the previous round and rejects a bad signature', async () => {
    const commit = {
      version: 1,
      runId,
      round: 4,
      peerId: base.peerId,
      weightsHash: sha256(new Uint8Array([5])),
      deltaHashes: [sha256(new Uint8Array([6]))],
      stateRoot: sha256(new Uint8Array([8])),
      stateSize: 1234,
    }
    const signed = await signCommit(key, commit)
    expect(
      (await validate(() => checkCommit(signed, undefined, { runId, currentRound: 5, stateSize: 1234 })))
        .action,
    ).toBe('accept')
    const flipped = new Uint8Array(signed)
    flipped[flipped.length - 2] ^= 1
    const v = await validate(() =>
      checkCommit(flipped, undefined, { runId, currentRound: 5, stateSize: 1234 }),
    )
    expect(v.action === 'reject' && v.reason).toBe('bad-signature')
    // The state's size follows from the model (SPEC.md 5.5, 12.1): another size is refused
    // before any node would allocate it.
    const otherSize = await validate(() =>
      checkCommit(signed, undefined, { runId, currentRound: 5, stateSize: 1233 }),
    )
    expect(otherSize.action === 'reject' && otherSize.reason).toBe('wrong-size')
    // An announcement's signature does not verify as a commit: the domains differ.
    const asAnnouncement = await signAnnouncement(key, base)
    expect(
      (
        await validate(() =>
          checkCommit(asAnnouncement, undefined, { runId, currentRound: 5, stateSize: 1234 }),
        )
      ).action,
    ).toBe('reject')
  })
})

describe('have validation (SPEC.md 5.7)', () => {
  const have = (overrides: Partial<Have> = {}): Have => ({
    version: 1,
    runId,
    round: 5,
    peerId: peerIdBytes(peerIdFromPrivateKey(key)),
    deltaHashes: [sha256(new Uint8Array([3])), sha256(new Uint8Array([4]))],
    ...overrides,
  })
  const ctx = { runId, currentRound: 5, stateSize: 1234 }
  const verdict = async (bytes: Uint8Array, origin = peerIdFromPrivateKey(key)) => {
    const v = await validate(() => checkHave(bytes, origin, ctx))
    return v.action === 'accept' ? 'accept' : `${v.action}: ${v.reason}`
  }

  it('accepts a signed have of the current or the previous round and names its signer', async () => {
    const v = await validate(async () => checkHave(await signHave(key, have()), undefined, ctx))
    expect(v.action).toBe('accept')
    if (v.action === 'accept') {
      expect(v.value.signer.toString()).toBe(peerIdFromPrivateKey(key).toString())
      expect(v.value.message.deltaHashes).toHaveLength(2)
    }
    expect(await verdict(await signHave(key, have({ round: 4 })))).toBe('accept')
  })

  it('rejects or ignores a bad one, with the reason of the spec', async () => {
    const other = await generateKeyPair('Ed25519')
    expect(await verdict(await signHave(key, have({ round: 3 })))).toBe('ignore: stale-round')
    expect(await verdict(await signHave(key, have({ round: 8 })))).toBe('ignore: future-round')
    expect(await verdict(await signHave(key, have({ runId: sha256(new Uint8Array([9])) })))).toBe(
      'reject: wrong-run',
    )
    expect(await verdict(await signHave(other, have()))).toBe('reject: bad-signature')
    expect(await verdict(await signHave(key, have()), peerIdFromPrivateKey(other))).toBe(
      'reject: origin-mismatch',
    )
    expect(await verdict(await signHave(key, have({ deltaHashes: [] })))).toBe('reject: malformed')
    const tooMany = Array.from({ length: LIMITS.maxHaveHashes + 1 }, (_, i) => sha256(new Uint8Array([i])))
    expect(await verdict(await signHave(key, have({ deltaHashes: tooMany })))).toBe('reject: malformed')
    expect(await verdict(await signHave(key, have({ deltaHashes: [new Uint8Array(31)] })))).toBe(
      'reject: malformed',
    )
  })
})
