// A large model's outer step computed in place of the round's starting state, and its aggregation
// on a worker thread (issue 17): a node with a state directory writes the new weights and momentum
// over the old ones (the starting state stays readable from its state object on disk, for a
// recompute) and aggregates its deltas' files off its event loop; a node without one allocates
// new vectors and aggregates on its own thread, as before. Three real nodes on 127.0.0.1 train an
// MNIST MLP just large enough to be a "large" model (its state is over 64 MiB): two step in place,
// one does not, and all three must hold the same weights, bit for bit, after every round. The two
// with a state directory also park on disk their error-feedback residual once they announced, and
// their outer momentum and reference once each round's state is saved, and read them back for the
// next round's encoding and outer step.
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { stateSize } from '../../src/codec/state.js'
import { toHex, weightsHash } from '../../src/crypto/hash.js'
import type { DtrainNode, RoundReport } from '../../src/node/node.js'
import { parameterCount } from '../../src/train/parameters.js'
import { COLLECT_MIN_BYTES } from '../../src/util/gc.js'
import { defaultGenesis, parseGenesis } from '../../src/wire/genesis.js'
import { tempDir } from '../fixtures/temp.js'
import { expectPeers, startNodes } from './helpers.js'

/** A debug logger whose lines about aggregations and outer steps are kept, for the test to read. */
function outerStepLog(): {
  logger: pino.Logger
  inPlace: boolean[]
  threads: string[]
  parked: Array<{ round?: number; parts?: string[] }>
} {
  const inPlace: boolean[] = []
  const threads: string[] = []
  const parked: Array<{ round?: number; parts?: string[] }> = []
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const entry = JSON.parse(line) as {
          msg?: string
          inPlace?: boolean
          thread?: string
          round?: number
          parts?: string[]
        }
        if (entry.msg === 'parked on disk until the round reads it back')
          parked.push({ round: entry.round, parts: entry.parts })
        if (entry.msg === 'outer step done') inPlace.push(entry.inPlace === true)
        if (entry.msg === 'aggregating') threads.push(entry.thread ?? '?')
      },
    },
  )
  return { logger, inPlace, threads, parked }
}

describe('the outer step in place of the starting state (issue 17)', () => {
  const base = defaultGenesis({
    preset: 'mlp',
    dataset: 'mnist',
    innerSteps: 2,
    batchSize: 8,
    checkpointInterval: 2,
    expectedPeers: 3,
    collectTimeoutMs: 30_000,
    evalWindows: 2,
    encoding: 'int8-block', // with error feedback: a residual to park
    salt: 'outer-in-place',
  })
  // 784-7200-10: 5.7 M parameters, a state of 68.7 MB, just over the size a node treats as large
  const genesis = parseGenesis({ ...base, model: { ...base.model, hiddenSizes: [7200] } })
  let nodes: DtrainNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('gives the same weights, bit for bit, as a node that allocates', async () => {
    expect(stateSize(parameterCount(genesis.model))).toBeGreaterThanOrEqual(COLLECT_MIN_BYTES)
    const logs = [outerStepLog(), outerStepLog(), outerStepLog()]
    nodes = await startNodes(genesis, 3, ['wasm'], (i) => ({
      logger: logs[i].logger,
      ...(i < 2 ? { stateDir: tempDir(`in-place-${i}`) } : {}),
    }))
    await expectPeers(nodes, 3)
    const rounds: RoundReport[][] = []
    for (let r = 0; r < 2; r++) rounds.push(await Promise.all(nodes.map((n) => n.runRound())))
    const summary = rounds
      .map(
        (rs, r) =>
          `round ${r}: ${rs.map((x) => `${x.contributors} ${x.weightsHash.slice(0, 8)}`).join(', ')}`,
      )
      .join('\n')
    for (const rs of rounds) {
      expect(new Set(rs.map((x) => x.weightsHash)).size, summary).toBe(1)
      expect(
        rs.map((x) => x.contributors),
        summary,
      ).toEqual([3, 3, 3])
    }
    // The weights themselves, and the hash each node reports for them (cached per weight vector,
    // which an outer step in place keeps).
    const bytes = nodes.map((n) =>
      Buffer.from(n.globalWeights.buffer, n.globalWeights.byteOffset, n.globalWeights.byteLength),
    )
    expect(bytes[0].equals(bytes[1]) && bytes[0].equals(bytes[2])).toBe(true)
    for (const n of nodes) expect(n.globalWeightsHash).toBe(toHex(weightsHash(n.globalWeights)))
    // Nodes 0 and 1 stepped in place every time (round 0 from W_0, later rounds from their state
    // objects on disk); node 2, without a state directory, never did.
    expect(logs[0].inPlace.length).toBeGreaterThanOrEqual(2)
    expect(logs[0].inPlace.every((x) => x)).toBe(true)
    expect(logs[1].inPlace.every((x) => x)).toBe(true)
    expect(logs[2].inPlace.length).toBeGreaterThanOrEqual(2)
    expect(logs[2].inPlace.some((x) => x)).toBe(false)
    // Nodes 0 and 1 parked their residual once they announced, and their momentum and reference
    // once each round's state was saved; round 1's encoding and outer step read them back, and the
    // nodes agreed.
    for (const i of [0, 1])
      expect(logs[i].parked).toEqual(
        [0, 1].flatMap((round) => [
          { round, parts: ['residual'] },
          { round, parts: ['momentum and reference'] },
        ]),
      )
    expect(logs[2].parked).toEqual([])
    // Nodes 0 and 1 aggregated on a worker thread, from their deltas' files; node 2, whose objects
    // stay in memory, on its own thread: the same aggregates, since the weights agree.
    expect(logs[0].threads.length).toBeGreaterThanOrEqual(2)
    expect(new Set([...logs[0].threads, ...logs[1].threads])).toEqual(new Set(['worker']))
    expect(new Set(logs[2].threads)).toEqual(new Set(['node']))
  }, 240_000)
})
