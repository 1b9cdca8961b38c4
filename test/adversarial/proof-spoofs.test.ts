// Proof of learning (SPEC.md 17): honest proofs pass; each spoof of the issue is built with real
// training and real signatures, then caught by the auditor.
import { execFileSync } from 'node:child_process'
import { mkdir, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compressWithFeedback } from '../../src/codec/error-feedback.js'
import { PROTOCOL } from '../../src/constants.js'
import { toHex, weightsHash } from '../../src/crypto/hash.js'
import { peerIdBytes } from '../../src/crypto/sign.js'
import { judgeAnnounced, readAnnounced } from '../../src/proof/announced-record.js'
import { type AuditOptions, type AuditReport, audit } from '../../src/proof/audit.js'
import { StoreProofSource } from '../../src/proof/protocol.js'
import { reachOf } from '../../src/proof/reachable.js'
import { ProofRecorder, type RoundProof } from '../../src/proof/recorder.js'
import { ProofStore } from '../../src/proof/store.js'
import { pseudoGradient } from '../../src/round/outer.js'
import { deltaRoot } from '../../src/store/delta-store.js'
import { selectBackend } from '../../src/train/backend.js'
import { type Corpus, loadCorpus } from '../../src/train/corpus.js'
import { InnerTrainer, type OptimizerState, type TrainingSnapshot } from '../../src/train/inner-loop.js'
import { initialWeights } from '../../src/train/parameters.js'
import { TfjsTrainer } from '../../src/train/tfjs-trainer.js'
import { defaultGenesis, encodeOptionsFor, type Genesis, runIdOf } from '../../src/wire/genesis.js'
import { type Announcement, decodeAnnouncement, signAnnouncement } from '../../src/wire/messages.js'
import { tempDir } from '../fixtures/temp.js'

const genesis = defaultGenesis({
  preset: 'tiny',
  dataset: 'synthetic',
  innerSteps: 20,
  batchSize: 4,
  salt: 'proof-spoofs',
  // a run on CPUs: it admits the backends whose replay tolerance is measured (SPEC.md 17.6)
  proofBackends: ['wasm', 'cpu', 'torch-cpu'],
})
const corpus = loadCorpus(genesis.dataset)
const runId = runIdOf(genesis)

interface Prover {
  key: PrivateKey
  peer: Uint8Array
  trainer: InnerTrainer
}

interface Forgery {
  /** the genesis the prover trains with (another learning rate, for instance) */
  trainWith?: Genesis
  /** the genesis whose hyperparameters the proof declares */
  declare?: Genesis
  /** train on other text than the run's */
  trainCorpus?: Corpus
  /** batches of another peer (a copied proof) */
  batchPeer?: Uint8Array
  /** rewrite the checkpoints before they are committed */
  snapshots?: (s: TrainingSnapshot[]) => TrainingSnapshot[]
  /** announce another delta than the one the checkpoints give */
  delta?: (d: Float32Array) => Float32Array
  /** announce this proof root instead of the manifest's */
  proofRoot?: Uint8Array
  /** train on the batches of another round (an earlier proof passed off as this round's) */
  trainRound?: number
  /** the backend the header names */
  backend?: string
}

/** One round as a node does it (src/node/node.ts), with the hooks a forger would use. */
async function proveRound(
  prover: Prover,
  round: number,
  base: Float32Array,
  previousRound: number | null,
  forgery: Forgery = {},
  startState?: OptimizerState,
): Promise<{ proof: RoundProof; final: Float32Array; snapshots: TrainingSnapshot[] }> {
  if (startState) prover.trainer.setOptimizerState(startState)
  const baseHash = weightsHash(base)
  const trainer =
    forgery.trainWith || forgery.trainCorpus
      ? new InnerTrainer(forgery.trainWith ?? genesis, forgery.trainCorpus ?? corpus)
      : prover.trainer
  if (trainer !== prover.trainer) trainer.setOptimizerState(prover.trainer.optimizerState())
  const seed = { runId, baseHash, peerId: prover.peer, round }
  const trainSeed = { ...seed, peerId: forgery.batchPeer ?? prover.peer, round: forgery.trainRound ?? round }
  const snapshots: TrainingSnapshot[] = []
  const trained = await trainer.trainRound(base, trainSeed, {
    checkpointEvery: genesis.proof.checkpointInterval,
    onCheckpoint: (s) => snapshots.push(s),
  })
  if (trainer !== prover.trainer) {
    prover.trainer.setOptimizerState(trainer.optimizerState())
    trainer.dispose()
  }
  const committed = forgery.snapshots ? forgery.snapshots(snapshots) : snapshots
  const recorder = new ProofRecorder()
  for (const s of committed) recorder.onCheckpoint(s)
  const final = committed.at(-1)!.weights
  let delta = pseudoGradient(base, final)
  if (forgery.delta) delta = forgery.delta(delta)
  const encoded = compressWithFeedback(delta, undefined, encodeOptionsFor(genesis.delta, delta.length)).bytes
  const deltaHash = deltaRoot(encoded).root
  const proof = recorder.finish({
    genesis: forgery.declare ?? genesis,
    seed,
    trainTokens: corpus.train.length,
    backend: forgery.backend ?? 'wasm',
    deltaHash,
    previousRound,
  })
  const announcement: Announcement = {
    version: PROTOCOL.protocolVersion,
    runId,
    round,
    peerId: prover.peer,
    baseHash,
    deltaHash,
    encodedSize: encoded.length,
    encoding: genesis.delta.encoding,
    trainLoss: trained.meanLoss,
    sampleCount: trained.samples,
    proofRoot: forgery.proofRoot ?? proof.root,
  }
  proof.announcement = await signAnnouncement(prover.key, announcement)
  return { proof, final: trained.weights, snapshots: committed }
}

async function newProver(): Promise<Prover> {
  const key = await generateKeyPair('Ed25519')
  return { key, peer: peerIdBytes(peerIdFromPrivateKey(key)), trainer: new InnerTrainer(genesis, corpus) }
}

let auditor: InnerTrainer
const provers: Prover[] = []

async function auditOf(
  proof: RoundProof,
  options: Partial<AuditOptions> = {},
  extra: RoundProof[] = [],
): Promise<AuditReport> {
  const store = new ProofStore({ retention: 100 })
  for (const p of extra) await store.put(p)
  await store.put({ ...proof, round: options.round ?? proof.round })
  return audit(new StoreProofSource(store), {
    genesis,
    data: corpus,
    round: proof.round,
    segments: 2,
    tolerance: 'auto',
    replayBackend: tf.getBackend() === 'wasm' ? 'wasm' : 'cpu',
    trainer: new TfjsTrainer(auditor, tf.getBackend() === 'wasm' ? 'wasm' : 'cpu'),
    ...options,
  })
}

beforeAll(async () => {
  await selectBackend('wasm')
  auditor = new InnerTrainer(genesis, corpus)
  provers.push(await newProver(), await newProver())
})

afterAll(() => {
  auditor.dispose()
  for (const p of provers) p.trainer.dispose()
})

describe('proof of learning: honest proofs', () => {
  it('passes 24 audits of honest rounds, replayed on wasm and on cpu, with every segment count', async () => {
    const reports: AuditReport[] = []
    let base = initialWeights(genesis.model)
    const proofs: RoundProof[] = []
    const reach = { firstMoment: 0, secondMoment: 0, perCoordinate: 0 }
    for (let round = 0; round < 6; round++) {
      const { proof, final, snapshots } = await proveRound(
        provers[0],
        round,
        base,
        round === 0 ? null : round - 1,
      )
      proofs.push(proof)
      base = final // a stand-in for the next global weights: any agreed weights will do
      for (const s of snapshots) {
        const r = reachOf(s.optimizer, genesis.inner.optimizer)
        for (const k of ['firstMoment', 'secondMoment', 'perCoordinate'] as const)
          reach[k] = Math.max(reach[k], r[k])
      }
    }
    // Honest AdamW states stay inside the reachable bounds of SPEC.md 17.4 step 4 (1 = on a bound).
    console.log(`honest proofs, largest fraction of each reachable bound: ${JSON.stringify(reach)}`)
    for (const value of Object.values(reach)) expect(value).toBeLessThanOrEqual(1)
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend)
      for (const [i, proof] of proofs.entries()) {
        for (const segments of [2, 4]) {
          const report = await auditOf(proof, { segments, replayBackend: backend }, proofs.slice(0, i))
          expect(report.verdict, `${backend} round ${proof.round}: ${report.reasons.join('; ')}`).toBe(
            'valid',
          )
          expect(report.segments).toHaveLength(segments)
          expect(report.notes).toEqual([]) // the chain to the previous round was checked
          reports.push(report)
        }
      }
    }
    await tf.setBackend('wasm')
    expect(reports).toHaveLength(24)
    const worstCross = Math.max(
      ...reports
        .filter((r) => r.replayBackend === 'cpu')
        .flatMap((r) => r.segments.map((s) => s.relativeDistance)),
    )
    const worstSame = Math.max(
      ...reports
        .filter((r) => r.replayBackend === 'wasm')
        .flatMap((r) => r.segments.map((s) => s.relativeDistance)),
    )
    expect(worstSame).toBe(0) // the same backend replays bit for bit
    expect(worstCross).toBeGreaterThan(0)
    expect(worstCross).toBeLessThan(1e-4) // far inside the 1e-3 tolerance of the pair
    // The audit replayed a tenth of the training with Q = 2 (H = 20, a checkpoint every step).
    const two = await auditOf(proofs[1], { segments: 2 }, proofs.slice(0, 1))
    expect(two.stepsReplayed / two.stepsTrained!).toBeCloseTo(0.1)
  })
})

describe('proof of learning: spoofs are caught', () => {
  let base: Float32Array
  const first: RoundProof[] = []
  const after: OptimizerState[] = []
  beforeAll(async () => {
    // Both provers have trained round 0 honestly: every spoof below continues that chain, from
    // live optimizer state, as a cheating node would.
    base = initialWeights(genesis.model)
    for (const p of provers) {
      first.push((await proveRound(p, 0, base, null)).proof)
      after.push(p.trainer.optimizerState())
    }
  })
  /** Round `round` by prover `p`, continuing its round-0 proof. */
  const spoof = (p: number, round: number, from: Float32Array, forgery: Forgery = {}) =>
    proveRound(provers[p], round, from, 0, forgery, after[p])
  const auditSpoof = (proof: RoundProof, options: Partial<AuditOptions> = {}, p = 0) =>
    auditOf(proof, options, [first[p]])

  const expectInvalid = (report: AuditReport, why: RegExp) => {
    expect(report.verdict).toBe('invalid')
    expect(report.reasons.join('; ')).toMatch(why)
  }

  it('10. a proof computed without gradients: inflated AdamW moments, entered through a previous round nobody serves', async () => {
    // |m| = 1e9 and v = 1e30 make beta1 m + (1 - beta1) g round to beta1 m: every step replays bit
    // for bit as a step with no gradient. The declared previous round (3) has no proof to fetch.
    const inflated: OptimizerState = {
      step: after[0].step,
      firstMoment: Float32Array.from(after[0].firstMoment, (_, i) => (i % 2 ? 1e9 : -1e9)),
      secondMoment: new Float32Array(after[0].firstMoment.length).fill(1e30),
    }
    const { proof } = await proveRound(provers[0], 5, base, 3, {}, inflated)
    const report = await auditSpoof(proof)
    expectInvalid(
      report,
      /checkpoint 0: no honest training reaches its optimizer state: the first moment's norm/,
    )
  })

  it('11. inflated moments entered through one segment are caught at the last checkpoint, whichever segments are drawn', async () => {
    const { proof } = await spoof(0, 1, base, {
      snapshots: (s) =>
        s.map((cp, i) =>
          i < 10
            ? cp
            : {
                ...cp,
                optimizer: {
                  step: cp.optimizer.step,
                  firstMoment: cp.optimizer.firstMoment.map((m) => m * 1e6),
                  secondMoment: cp.optimizer.secondMoment.map((v) => v * 1e12),
                },
              },
        ),
    })
    for (const fill of [1, 2, 3]) {
      const report = await auditSpoof(proof, { nonce: new Uint8Array(32).fill(fill) })
      expectInvalid(report, /checkpoint 20: no honest training reaches its optimizer state/)
    }
  })

  it('12. an unchecked chain is never valid: the audit of an honest round whose previous proof is not served could not audit', async () => {
    const { proof } = await spoof(0, 1, base)
    const report = await auditOf(proof, { segments: 2 }) // round 0's proof is not in the store
    expect(report.verdict).toBe('unavailable')
    expect(report.reasons.join('; ')).toMatch(/the chain to the peer's proof of round 0 could not be checked/)
    expect(report.segments.every((s) => s.verdict === 'pass')).toBe(true) // the rest was checked
  })

  it('13. refuses to audit a single segment', async () => {
    await expect(auditSpoof(first[0], { segments: 1 })).rejects.toThrow(/at least 2 segments/)
  })

  it('14. withholding a committed checkpoint fails the proof; a checkpoint path that is no regular file fails it without a crash or a hang', async () => {
    const { proof } = await spoof(0, 1, base)
    const shapes: Array<[string, (path: string) => Promise<void>, RegExp]> = [
      ['deleted', (path) => rm(path), /checkpoint 20 was withheld: round 1 has no checkpoint 20/],
      [
        'a directory',
        async (path) => {
          await rm(path)
          await mkdir(path)
        },
        /checkpoint 20 was withheld: .* is not a regular file/,
      ],
      [
        'a FIFO (reading it would hang)',
        async (path) => {
          await rm(path)
          execFileSync('mkfifo', [path])
        },
        /is not a regular file/,
      ],
      [
        'a link to /dev/zero (reading it would grow without end)',
        async (path) => {
          await rm(path)
          await symlink('/dev/zero', path)
        },
        /is not a regular file/,
      ],
      ['cut short', (path) => truncate(path, 100), /checkpoint 20/],
    ]
    for (const [shape, change, why] of shapes) {
      const dir = tempDir('withheld')
      const store = new ProofStore({ dir, retention: 10 })
      await store.open()
      await store.put(first[0])
      await store.put(proof)
      await change(join(dir, 'proofs', 'round-1', 'checkpoint-20'))
      const report = await audit(new StoreProofSource(store), {
        genesis,
        data: corpus,
        round: 1,
        segments: 2,
        tolerance: 'auto',
        replayBackend: 'wasm',
        trainer: new TfjsTrainer(auditor, 'wasm'),
      })
      expect(report.verdict, shape).toBe('invalid')
      expect(report.reasons.join('; '), shape).toMatch(why)
    }
  })

  it('15. a wrong step counter is named as the reason', async () => {
    const { proof } = await spoof(0, 1, base, {
      snapshots: (s) =>
        s.map((cp, i) =>
          i === 7 ? { ...cp, optimizer: { ...cp.optimizer, step: cp.optimizer.step + 1 } } : cp,
        ),
    })
    expectInvalid(
      await auditSpoof(proof, { segments: 1000 }),
      /segment 6: checkpoint 7 declares AdamW's step counter t = \d+, the replay from checkpoint 6 reaches t = \d+/,
    )
  })

  it('16. a proof naming a backend nobody knows (to pick its own tolerance) is refused', async () => {
    for (const backend of ['x', 'tensorflow-gpu '.repeat(2000)]) {
      const { proof } = await spoof(0, 1, base, { backend })
      expectInvalid(await auditSpoof(proof), /unknown training backend/)
    }
  })

  it('17. a proof claiming a backend the run does not admit (to buy its wide tolerance) is refused', async () => {
    for (const backend of ['tensorflow-gpu', 'torch-cuda', 'tensorflow']) {
      const { proof } = await spoof(0, 1, base, { backend })
      expectInvalid(
        await auditSpoof(proof),
        new RegExp(
          `names training backend ${backend}, which this run does not admit \\(genesis proof.backends: wasm, cpu, torch-cpu\\)`,
        ),
      )
    }
  })

  it('18. proof equivocation: a second, honestly trained proof of another delta for the same round is refused against the record of what the peer announced', async () => {
    // Both proofs are real training of round 1 (the second from other weights), so each alone
    // replays; the network received only the first announcement.
    const sent = (await spoof(0, 1, base)).proof
    const other = (
      await spoof(
        0,
        1,
        Float32Array.from(base, (x) => x * 0.99),
      )
    ).proof
    const hex = (p: RoundProof) => toHex(decodeAnnouncement(p.announcement!).message.deltaHash)
    expect(hex(other)).not.toBe(hex(sent))
    const peer = peerIdFromPrivateKey(provers[0].key).toString()
    // What a node writes: one rounds.jsonl line per round, naming each peer's announced delta.
    const dir = tempDir('equivocation-record')
    await writeFile(
      join(dir, 'rounds.jsonl'),
      `${JSON.stringify({ round: 0, announced: { [peer]: hex(first[0]) } })}\n${JSON.stringify({ round: 1, announced: { [peer]: hex(sent) } })}\n{"round": 1, "annou`,
    )
    const record = await readAnnounced(dir, 1)
    expect(record?.announced.get(peer)).toBe(hex(sent))
    const proofOnly = await auditSpoof(other)
    expect(proofOnly.verdict).toBe('valid') // the proof alone replays: the record is what convicts it
    expectInvalid(
      judgeAnnounced(proofOnly, record),
      new RegExp(
        `proof equivocation: the audited proof is of delta ${hex(other).slice(0, 16)}, but ${peer} announced delta ${hex(sent).slice(0, 16)}`,
      ),
    )
    const honest = judgeAnnounced(await auditSpoof(sent), record)
    expect(honest.verdict, honest.reasons.join('; ')).toBe('valid')
    // Without a record, or with one that never received the peer's announcement: could not audit.
    for (const missing of [undefined, await readAnnounced(dir, 7), { ...record!, announced: new Map() }]) {
      const report = judgeAnnounced(await auditSpoof(sent), missing)
      expect(report.verdict).toBe('unavailable')
      expect(report.reasons.join('; ')).toMatch(/could not be checked|could not check/)
    }
  })

  it('1. final weights replaced by random or scaled weights', async () => {
    for (const replace of [
      (w: Float32Array) => Float32Array.from(w, (x, i) => x + 0.05 * Math.sin(i * 12.9898)),
      (w: Float32Array) => Float32Array.from(w, (x) => 1.5 * x),
    ]) {
      const { proof } = await spoof(0, 1, base, {
        snapshots: (s) => [...s.slice(0, -1), { ...s.at(-1)!, weights: replace(s.at(-1)!.weights) }],
      })
      for (const segments of [2, 3])
        expectInvalid(await auditSpoof(proof, { segments }), /segment 19 .*does not replay/)
    }
  })

  it('2. fewer steps trained than claimed, checkpoints interpolated between start and end', async () => {
    const { proof } = await spoof(0, 1, base, {
      snapshots: (s) => {
        // Train 5 steps for real, then pretend the 20: linear interpolation, the real end moments.
        const start = s[0]
        const end = s[5]
        return s.map((cp, i) => ({
          localStep: cp.localStep,
          weights: Float32Array.from(start.weights, (x, j) => x + (i / 20) * (end.weights[j] - x)),
          optimizer: i === 0 ? start.optimizer : { ...end.optimizer, step: cp.optimizer.step },
        }))
      },
    })
    for (const segments of [2, 3]) expectInvalid(await auditSpoof(proof, { segments }), /does not replay/)
  })

  it('3. training on other data than the committed batches', async () => {
    const shifted: Corpus = { train: corpus.train.map((t) => (t + 1) % 96), heldOut: corpus.heldOut }
    const { proof } = await spoof(0, 1, base, { trainCorpus: shifted })
    expectInvalid(await auditSpoof(proof), /does not replay/)
  })

  it("4. another peer's delta and proof re-signed as one's own", async () => {
    // Prover 1 copies prover 0's training (prover 0's batches) and commits it under its own id.
    const { proof } = await spoof(1, 1, base, { batchPeer: provers[0].peer })
    expectInvalid(await auditSpoof(proof, {}, 1), /does not replay/)
    // Copied outright, manifest and all, under a new signature: the manifest names prover 0.
    const honest = (await spoof(0, 1, base)).proof
    const copied: RoundProof = { ...honest, announcement: await resign(honest, provers[1]) }
    expectInvalid(await auditSpoof(copied), /manifest names another run, round or peer/)
  })

  it('5. a proof from an earlier round replayed', async () => {
    const earlier = await spoof(0, 1, base)
    // As it was, announced again for round 2: the manifest says round 1.
    const again: RoundProof = {
      ...earlier.proof,
      round: 2,
      announcement: await resign(earlier.proof, provers[0], { round: 2 }),
    }
    expectInvalid(await auditSpoof(again, { round: 2 }), /another run, round or peer/)
    // Re-headered for round 2 from the same base: round 1's batches are not round 2's.
    const sameBase = await spoof(0, 2, base, { trainRound: 1 })
    expectInvalid(await auditSpoof(sameBase.proof), /does not replay/)
    // Re-headered for round 2, whose base weights are new: the first checkpoint is not the base.
    const newBase = Float32Array.from(base, (x) => x * 0.999)
    const moved = await spoof(0, 2, newBase, { snapshots: () => earlier.snapshots })
    expectInvalid(await auditSpoof(moved.proof), /first checkpoint is not the global weights/)
  })

  it('6. checkpoints that do not match the committed root', async () => {
    const { proof } = await spoof(0, 1, base)
    const tampered: RoundProof = {
      ...proof,
      checkpoints: proof.checkpoints!.map((c, i) => {
        if (i !== 19) return c
        const copy = Uint8Array.from(c)
        copy[100] ^= 1
        return copy
      }),
    }
    expectInvalid(
      await auditSpoof(tampered, { segments: 20 }),
      /checkpoint 19 does not match its committed root/,
    )
  })

  it('7. a delta that does not match the final checkpoint', async () => {
    const { proof } = await spoof(0, 1, base, {
      delta: (d) => Float32Array.from(d, (x) => 3 * x),
    })
    expectInvalid(await auditSpoof(proof), /announced delta is not the encoding/)
  })

  it("8. hyperparameters other than the genesis's (learning rate scaled down)", async () => {
    const slow = structuredClone(genesis)
    slow.inner.optimizer.lr = genesis.inner.optimizer.lr / 10
    // Declared: the proof states the lower learning rate.
    const declared = await spoof(0, 1, base, { trainWith: slow, declare: slow })
    expectInvalid(await auditSpoof(declared.proof), /hyperparameters other than the genesis/)
    // Hidden: the proof claims the genesis's rate; the replay moves ten times further.
    const hidden = await spoof(0, 1, base, { trainWith: slow })
    for (const segments of [2, 3])
      expectInvalid(await auditSpoof(hidden.proof, { segments }), /does not replay/)
  })

  it('9. a commitment published after the delta', async () => {
    // The announcement went out without the proof's root; a proof made afterwards cannot match it.
    const { proof } = await spoof(0, 1, base, { proofRoot: new Uint8Array(32) })
    expectInvalid(await auditSpoof(proof), /does not hash to the proof root committed/)
  })

  it('also: an optimizer state that does not follow from the previous proof', async () => {
    // Claims a first proof (zero moments) but trains from live moments.
    const fresh = await proveRound(provers[0], 1, base, null, {}, after[0])
    expectInvalid(await auditOf(fresh.proof), /a first proof must start from a zero optimizer state/)
    // Claims to continue round 1, but that round's proof ended with other moments (prover 1's).
    const other = await spoof(1, 1, base)
    const next = await proveRound(provers[0], 2, base, 1, {}, after[0])
    expectInvalid(
      await auditOf(next.proof, {}, [other.proof]),
      /does not continue the peer's proof of round 1/,
    )
  })
})

async function resign(
  proof: RoundProof,
  prover: Prover,
  change: Partial<Announcement> = {},
): Promise<Uint8Array> {
  const { decodeAnnouncement } = await import('../../src/wire/messages.js')
  const original = decodeAnnouncement(proof.announcement!).message
  return signAnnouncement(prover.key, { ...original, peerId: prover.peer, ...change })
}
