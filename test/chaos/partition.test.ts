// Chaos drill: a partition. Four `dtrain start` processes, each in its own network namespace on a
// LAN the test builds (virtual-lan.ts), train together; then the LAN is split into two halves of
// two nodes for two rounds (no packet crosses), and healed. Each half goes on alone (quorum 2) and
// the halves' weights diverge; after the heal the decided-state rule of SPEC.md 12.2 (a majority,
// else a plurality backed by more than the tolerated faults, ties to the lowest state root) must
// bring every node back to one weights hash, and the last rounds must agree.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  doneOf,
  drillRun,
  lastRound,
  listeningOf,
  type NodeProcess,
  roundEvents,
  startNodeProcess,
  until,
} from '../e2e/node-process.js'
import { VirtualLan } from './virtual-lan.js'

const ROUNDS = 18
const NODES = 4

describe('chaos drill: partition', () => {
  const procs: NodeProcess[] = []
  let lan: VirtualLan | undefined
  afterAll(() => {
    for (const p of procs) p.child.kill('SIGKILL')
    lan?.destroy()
  })

  it('a testnet split into two equal halves converges on one weights hash after the split heals', async () => {
    lan = VirtualLan.create(NODES)
    const { root, genesisPath } = drillRun('partition', {
      expectedPeers: NODES,
      collectTimeoutMs: 3000,
    })
    const start = (i: number, bootstrap: string[]) => {
      const p = startNodeProcess({
        dir: join(root, `node-${i}`),
        genesisPath,
        bootstrap,
        rounds: ROUNDS,
        netns: lan!.namespace(i),
        listen: `/ip4/${lan!.address(i)}/tcp/4100`,
      })
      procs.push(p)
      return p
    }
    const first = start(0, [])
    const { addresses } = await listeningOf(first)
    const nodes = [first, ...Array.from({ length: NODES - 1 }, (_, i) => start(i + 1, addresses))]
    // The weights a node holds after round r: those of its own round r, or, when it then adopted
    // the decided state of round r (SPEC.md 12.2; a minority, or a node that fell behind), those.
    const hashOf = (p: NodeProcess, round: number): string | undefined => {
      let hash: string | undefined
      for (const e of p.events) {
        if (e.type === 'round' && e.report.round === round) hash = e.report.weightsHash
        if (e.type === 'synced' && e.round === round) hash = e.weightsHash
      }
      return hash
    }
    const table = () =>
      Array.from(
        { length: ROUNDS },
        (_, r) => `${r}: ${nodes.map((p) => hashOf(p, r)?.slice(0, 8) ?? '-').join(' ')}`,
      ).join('\n')

    // A few rounds together, then the split.
    await until(
      'every node to finish 3 rounds',
      () => (nodes.every((p) => lastRound(p) >= 2) ? true : undefined),
      90_000,
    )
    const splitAfter = Math.max(...nodes.map(lastRound))
    lan.split([2, 3])
    // Each half completes two rounds on its own.
    await until(
      'both halves to complete two rounds apart',
      () =>
        lastRound(nodes[0]) >= splitAfter + 2 && lastRound(nodes[2]) >= splitAfter + 2 ? true : undefined,
      60_000,
    )
    const healedAfter = Math.max(...nodes.map(lastRound))
    lan.heal()
    expect(healedAfter, 'the split lasted until too close to the end of the run').toBeLessThan(ROUNDS - 6)

    const done = await Promise.all(nodes.map((p) => doneOf(p, 180_000)))
    expect(await Promise.all(nodes.map((p) => p.exit))).toEqual([0, 0, 0, 0])

    // The split was real: some round closed with different weights in the two halves, each half
    // aggregating its own two deltas.
    const splitRounds = Array.from({ length: healedAfter - splitAfter }, (_, k) => splitAfter + 1 + k)
    const diverged = splitRounds.filter((r) => {
      const a = hashOf(nodes[0], r)
      const b = hashOf(nodes[2], r)
      return a !== undefined && b !== undefined && a !== b
    })
    expect(diverged.length, `rounds ${splitRounds.join(', ')}`).toBeGreaterThan(0)
    const halfRounds = splitRounds.filter(
      (r) => roundEvents(nodes[0]).find((e) => e.report.round === r)?.report.contributors === 2,
    )
    expect(halfRounds.length, 'no round of the split closed with the two deltas of one half').toBeGreaterThan(
      0,
    )

    // It healed: one hash at the end, and agreement again within a few rounds of the heal.
    expect(new Set(done.map((d) => d.weightsHash)).size).toBe(1)
    // ... and from some round after the heal on, every node reports the same weights every round.
    const agreeIn = (r: number) =>
      nodes.every((p) => hashOf(p, r) !== undefined && hashOf(p, r) === hashOf(nodes[0], r))
    let agreedAgain = ROUNDS - 1
    while (agreedAgain - 1 > healedAfter && agreeIn(agreedAgain - 1)) agreedAgain--
    expect(agreeIn(ROUNDS - 1), `the last round must agree; weights after each round:\n${table()}`).toBe(true)
    expect(agreeIn(ROUNDS - 2), `the last two rounds must agree; weights after each round:\n${table()}`).toBe(
      true,
    )
    process.stderr.write(
      `partition drill: split after round ${splitAfter}, healed after round ${healedAfter}, halves diverged in rounds ${diverged.join(', ')}, all agree again from round ${agreedAgain} on\n`,
    )
  })
})
