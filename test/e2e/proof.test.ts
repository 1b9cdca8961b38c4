// Proofs of learning over the network (SPEC.md 17.5): nodes record and serve their proofs; a
// light auditor (a bare libp2p host, no training role) fetches and checks them over real TCP.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { silentLogger } from '../../src/log.js'
import { createHost, type Host } from '../../src/net/host.js'
import { DtrainNode } from '../../src/node/node.js'
import { audit } from '../../src/proof/audit.js'
import { NetworkProofSource, StoreProofSource } from '../../src/proof/protocol.js'
import { ProofStore } from '../../src/proof/store.js'
import { loadCorpus } from '../../src/train/corpus.js'
import { defaultGenesis, runIdOf } from '../../src/wire/genesis.js'
import { expectPeers, startNodes } from './helpers.js'

describe('proofs of learning on a live network', () => {
  const genesis = defaultGenesis({
    preset: 'tiny',
    dataset: 'synthetic',
    innerSteps: 8,
    batchSize: 4,
    expectedPeers: 2,
    minCollectMs: 500,
    collectTimeoutMs: 5000,
    evalWindows: 4,
    checkpointInterval: 2,
    salt: 'proof-network',
  })
  const corpus = loadCorpus(genesis.dataset)
  let nodes: DtrainNode[] = []
  let auditor: Host | undefined
  let stateDir = ''
  afterAll(async () => {
    await Promise.all([...nodes.map((n) => n.stop()), auditor?.stop()])
    if (stateDir) await rm(stateDir, { recursive: true, force: true })
  })

  it('a light auditor checks a peer over /dtrain/proof; a node keeps its proofs on disk with retention', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'dtrain-proof-'))
    const [first] = await startNodes(genesis, 1)
    const second = await DtrainNode.create({
      genesis,
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: first.addresses(),
      logger: silentLogger(),
      stateDir,
      proofRetention: 2,
    })
    nodes = [first, second]
    await expectPeers(nodes, 2)
    for (let r = 0; r < 3; r++) await Promise.all(nodes.map((n) => n.runRound()))
    expect(first.globalWeightsHash).toBe(second.globalWeightsHash)

    // Retention 2: rounds 1 and 2 on disk, round 0 pruned; the space is reported.
    expect(await second.proofs.rounds()).toEqual([1, 2])
    const perRound = 5 * (16 + 12 * second.globalWeights.length) // H / k + 1 checkpoints
    expect(await second.metrics.total(second.metrics.proofBytes)).toBeGreaterThan(2 * perRound)

    auditor = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [], bootstrap: [] })
    await auditor.dial(second.host.getMultiaddrs()[0])
    const source = new NetworkProofSource(auditor, second.peerId, runIdOf(genesis))
    const options = {
      genesis,
      data: corpus,
      peerId: peerIdBytes(second.peerId),
      segments: 2,
      tolerance: 'auto' as const,
      replayBackend: second.backend.backend,
    }
    const report = await audit(source, { ...options, round: 2 })
    expect(report.verdict, report.reasons.join('; ')).toBe('valid')
    expect(report.segments.map((s) => s.verdict)).toEqual(['pass', 'pass'])
    expect(report.notes).toEqual([]) // round 1's manifest was fetched for the chain
    expect(report.bytesRead).toBeGreaterThan((3 * perRound) / 5) // first, last and segment checkpoints

    // The auditor asks for the wrong peer's proof: the signer is not who it audits.
    const wrongPeer = await audit(new NetworkProofSource(auditor, second.peerId, runIdOf(genesis)), {
      ...options,
      peerId: peerIdBytes(first.peerId),
      round: 1,
    })
    expect(wrongPeer.verdict).toBe('invalid')

    // Pruned and never-recorded rounds are said so explicitly: "could not audit".
    const pruned = await audit(source, { ...options, round: 0 })
    expect(pruned.verdict).toBe('unavailable')
    expect(pruned.reasons[0]).toMatch(/pruned.*last 2 rounds/)
    const future = await audit(source, { ...options, round: 9 })
    expect(future.verdict).toBe('unavailable')
    expect(future.reasons[0]).toMatch(/no proof of round 9/)

    // The same proof read from the node's state directory (dtrain audit --proof).
    const fromDisk = await audit(new StoreProofSource(new ProofStore({ dir: stateDir, retention: 100 })), {
      ...options,
      round: 2,
    })
    expect(fromDisk.verdict).toBe('valid')
    expect(fromDisk.proofRoot).toBe(report.proofRoot)

    // A peer that serves its manifest and then stalls on the checkpoints it committed to (as one
    // would on exactly those that convict it) fails the proof at the audit's deadline: withheld,
    // not "could not audit" (issue 19 §1).
    second.proofs.item = () => new Promise(() => {})
    const stalled = await audit(new NetworkProofSource(auditor, second.peerId, runIdOf(genesis), 1500), {
      ...options,
      round: 2,
    })
    expect(stalled.verdict).toBe('invalid')
    expect(stalled.reasons.join('; ')).toMatch(
      /was withheld: .* did not deliver checkpoint \d+ of round 2 within the audit's deadline of 1.5 s after its manifest/,
    )
  })
})
