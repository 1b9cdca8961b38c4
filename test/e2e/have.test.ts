// `have` messages (SPEC.md 5.7, 10.4): a delta its announcer does not deliver is fetched from a
// peer that says it holds it. Node N, an announcer X that serves nothing, and a holder Y that has
// X's delta but is not subscribed to the delta topic (so N would never ask it otherwise): N's fetch
// fails as `unavailable`; once Y publishes a signed `have`, N fetches the delta from Y, verifies
// it against the announced root and aggregates it. X never commits, so N's round is not decided
// (no majority of the two expected peers): N holds it open rather than train on alone (SPEC.md
// 12.5), and the test reads what N aggregated from N's signed commit.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeDelta } from '../../src/codec/delta.js'
import { commitTopic, haveTopic, PROTOCOL } from '../../src/constants.js'
import { toHex } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { createHost, type Host } from '../../src/net/host.js'
import { serveChunks } from '../../src/net/transfer.js'
import type { DtrainNode } from '../../src/node/node.js'
import { DeltaStore } from '../../src/store/delta-store.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis, runIdHex, runIdOf } from '../../src/wire/genesis.js'
import { type Commit, decodeCommit, signHave } from '../../src/wire/messages.js'
import { attackerAnnouncement, expectPeers, startAttacker, startNodes } from './helpers.js'

describe('have', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 4,
    batchSize: 4,
    expectedPeers: 2,
    minPeers: 1,
    minCollectMs: 100,
    collectTimeoutMs: 40_000,
    evalWindows: 4,
    salt: 'have',
  })
  const hosts: Host[] = []
  let node: DtrainNode | undefined
  afterAll(async () => {
    await Promise.all([node?.stop(), ...hosts.map((h) => h.stop())])
  })

  it('a delta its announcer does not serve is fetched from the peer that says it holds it', async () => {
    ;[node] = await startNodes(genesis, 1)
    const n = node
    const delta = encodeDelta(new Float32Array(parameterCount(genesis.model)).fill(1e-4), {
      encoding: 'fp32',
    })
    const holderStore = new DeltaStore()
    const root = holderStore.put(0, delta)
    // X announces the delta but serves nothing.
    const x = await startAttacker(genesis, [n], new DeltaStore())
    hosts.push(x.host)
    // Y holds it, serves chunks, and takes no part in the delta topic.
    const yKey = await generateKeyPair('Ed25519')
    const y = await createHost({ privateKey: yKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    hosts.push(y)
    let servedByY = 0
    await serveChunks(
      y,
      holderStore,
      { bytesSent: (b) => (servedByY += b), bytesReceived: () => {} },
      () => {},
    )
    y.services.pubsub.subscribe(haveTopic(runIdHex(genesis)))
    y.services.pubsub.subscribe(commitTopic(runIdHex(genesis)))
    const commits: Commit[] = []
    y.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic === commitTopic(runIdHex(genesis))) commits.push(decodeCommit(e.detail.data).message)
    })
    await y.dial(multiaddr(n.addresses()[0]))
    await expectPeers([n], 2)
    // X and Y know that N takes part in the topics they publish to.
    const start = Date.now()
    const knows = (h: Host, topic: string) =>
      h.services.pubsub.getSubscribers(topic).some((p) => p.equals(n.peerId))
    while (!knows(x.host, x.topic) || !knows(y, haveTopic(runIdHex(genesis)))) {
      if (Date.now() - start > 10_000) throw new Error('X or Y never saw N subscribe')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    const round = n.runRound().catch((err: Error) => err)
    const sent = await x.host.services.pubsub.publish(x.topic, await attackerAnnouncement(genesis, x, root))
    expect(sent.recipients.map(String)).toContain(n.peerId.toString())
    // N gives up on X's delta: nobody it knows of holds it.
    const deadline = Date.now() + 30_000
    while ((await n.metrics.total(n.metrics.deltaRejections, { reason: 'unavailable' })) < 1) {
      if (Date.now() > deadline) throw new Error('the fetch from the announcer never failed')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(servedByY).toBe(0)
    const have = await signHave(yKey, {
      version: PROTOCOL.protocolVersion,
      runId: runIdOf(genesis),
      round: 0,
      peerId: peerIdBytes(y.peerId),
      deltaHashes: [root],
    })
    await y.services.pubsub.publish(haveTopic(runIdHex(genesis)), have)

    // N's commit of round 0 lists its own delta and X's, fetched from Y.
    const until = Date.now() + 60_000
    while (!commits.some((c) => c.round === 0 && c.deltaHashes.length === 2)) {
      if (Date.now() > until) throw new Error(`N never committed both deltas (commits: ${commits.length})`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const committed = commits.find((c) => c.deltaHashes.length === 2)!
    expect(committed.deltaHashes.map(toHex)).toContain(toHex(root))
    expect(servedByY).toBe(delta.length)
    // Nobody else committed: N holds the round open (and re-publishes its commit) instead of
    // starting round 1 alone.
    while ((await n.metrics.total(n.metrics.heldRounds)) < 1) {
      if (Date.now() > until) throw new Error('N never held its undecided round')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(n.round).toBe(0)
    const seen = commits.length
    while (commits.length === seen) {
      if (Date.now() > until) throw new Error('N never re-published its commit while holding')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    await n.stop()
    expect(await round).toBeInstanceOf(Error) // stopped while held: the round is not closed
  })
})
