import { afterAll, describe, expect, it } from 'vitest'
import { encodeDelta, encodedDeltaSize } from '../../src/codec/delta.js'
import { PROTOCOL } from '../../src/constants.js'
import { toHex } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import type { Host } from '../../src/net/host.js'
import type { DtrainNode } from '../../src/node/node.js'
import { deltaRoot } from '../../src/store/delta-store.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis, runIdOf } from '../../src/wire/genesis.js'
import { type Announcement, signAnnouncement } from '../../src/wire/messages.js'
import { expectPeers, startAttacker, startNodes } from './helpers.js'

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('a dishonest fourth peer', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 6,
    batchSize: 8,
    expectedPeers: 3,
    salt: 'adversarial',
    collectTimeoutMs: 30_000,
    evalWindows: 8,
  })
  const runId = runIdOf(genesis)
  const count = parameterCount(genesis.model)
  let nodes: DtrainNode[] = []
  let attacker: Host | undefined
  afterAll(async () => {
    await Promise.all([...nodes.map((n) => n.stop()), attacker?.stop()])
  })

  it('is caught for a bad signature, lying chunks, a NaN delta and equivocation; the rounds complete without it', async () => {
    nodes = await startNodes(genesis, 3)
    const realBytes = encodeDelta(new Float32Array(count).fill(0.01), { encoding: 'fp32' })
    const servedBytes = encodeDelta(new Float32Array(count).fill(-5), { encoding: 'fp32' })
    const validBytes = encodeDelta(new Float32Array(count).fill(-0.001), { encoding: 'fp32' })
    const nanBytes = new Uint8Array(realBytes)
    new DataView(nanBytes.buffer).setFloat32(8 + 4 * 7, Number.NaN, true)
    const claimed = deltaRoot(realBytes)
    const served = deltaRoot(servedBytes)
    const nan = deltaRoot(nanBytes)
    const valid = deltaRoot(validBytes)
    // Asked for the root of realBytes, the attacker sends the chunks (and proofs) of other bytes of
    // the same size; it serves the NaN delta and a valid delta as they are.
    const lyingStore = {
      get: (root: Uint8Array) => {
        const hex = toHex(root)
        if (hex === toHex(claimed.root))
          return { size: servedBytes.length, bytes: servedBytes, tree: served.tree }
        if (hex === toHex(nan.root)) return { size: nanBytes.length, bytes: nanBytes, tree: nan.tree }
        if (hex === toHex(valid.root)) return { size: validBytes.length, bytes: validBytes, tree: valid.tree }
        return undefined
      },
    }
    const { host, key, topic } = await startAttacker(genesis, nodes, lyingStore)
    attacker = host
    await until(async () => attacker!.services.pubsub.getSubscribers(topic).length === 3, 10_000)
    await expectPeers(nodes, 3)

    const base: Announcement = {
      version: PROTOCOL.protocolVersion,
      runId,
      round: 0,
      peerId: peerIdBytes(attacker.peerId),
      baseHash: new Uint8Array(32),
      deltaHash: claimed.root,
      encodedSize: encodedDeltaSize(count, { encoding: 'fp32' }),
      encoding: 'fp32',
      trainLoss: 0.1,
      sampleCount: 8,
      proofRoot: new Uint8Array(32),
    }
    const publish = async (a: Announcement, corruptSignature = false) => {
      const bytes = await signAnnouncement(key, a)
      if (corruptSignature) bytes[bytes.length - 1] ^= 0x01 // the signature is the envelope's last field
      await attacker!.services.pubsub.publish(topic, bytes)
    }
    await publish({ ...base, round: 1 }, true)
    await publish(base)
    await publish({ ...base, round: 1, deltaHash: nan.root })
    await publish({ ...base, round: 2, deltaHash: valid.root })
    await publish({ ...base, round: 2, deltaHash: claimed.root })

    for (const node of nodes) {
      await until(async () => {
        const m = node.metrics
        return (
          (await m.total(m.gossipVerdicts, { reason: 'bad-signature' })) === 1 &&
          (await m.total(m.deltaRejections, { reason: 'bad-chunk' })) === 1 &&
          (await m.total(m.deltaRejections, { reason: 'NonFiniteDeltaError' })) === 1 &&
          (await m.total(m.equivocations)) === 1
        )
      }, 15_000)
      expect(node.evidence.get(2)?.[0].signer.toString()).toBe(attacker.peerId.toString())
    }

    for (let round = 0; round < 3; round++) {
      const reports = await Promise.all(nodes.map((n) => n.runRound()))
      for (const r of reports) {
        expect(r.contributors).toBe(3)
        expect(r.deadlineHit).toBe(false)
        expect(Number.isFinite(r.evalLoss)).toBe(true)
      }
    }
    expect(new Set(nodes.map((n) => n.globalWeightsHash)).size).toBe(1)
    for (const node of nodes) expect(node.globalWeights.every(Number.isFinite)).toBe(true)
  })
})
