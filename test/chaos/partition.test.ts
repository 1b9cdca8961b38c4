// Chaos drill: a partition. Four `dtrain start` processes, each in its own network namespace on a
// LAN the test builds (virtual-lan.ts), train together; then the LAN is split into two halves of
// two nodes (no packet crosses), and healed. Neither half holds a majority of the four expected
// peers, so neither may close a round: each holds its round open (SPEC.md 12.5) instead of going
// on alone and diverging. After the heal the held round closes (on the union of the halves'
// deltas, or on one half's state by the tie rule of 12.2), and every round from two after it on
// agrees.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  doneOf,
  drillRun,
  lastRound,
  listeningOf,
  type NodeProcess,
  nodeLogLines,
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
    // Split for 20 s, several rounds' time: no state of a later round than the one in progress can
    // be decided (two votes of four expected are no majority), so no node reports one.
    await new Promise((resolve) => setTimeout(resolve, 20_000))
    const duringSplit = nodes.map(lastRound)
    expect(
      Math.max(...duringSplit),
      `a half closed rounds alone; weights after each round:\n${table()}`,
    ).toBeLessThanOrEqual(splitAfter + 1)
    lan.heal()

    const done = await Promise.all(nodes.map((p) => doneOf(p, 180_000)))
    expect(await Promise.all(nodes.map((p) => p.exit))).toEqual([0, 0, 0, 0])

    // The held round closes on the union of both halves' deltas (their sets grow), or on one
    // half's state, decided by the tie rule of SPEC.md 12.2 while the halves' votes were two and
    // two. A node can close it on that tie and see the votes move a moment later (its half-mate
    // recomputed): it then adopts the majority's state at its next round's start. The round after
    // the held one can go the same way: the half that adopted the other's state starts it late,
    // and until its re-commits arrive the others wait only for the held state's voters (seen in
    // 2 of 4 runs: one node one round late). From two rounds after the held one every round
    // agrees on every node, and the run ends on one state.
    const held = Math.max(...duringSplit) + 1
    const heldReports = nodes.map((p) => roundEvents(p).find((e) => e.report.round === held)?.report)
    expect(new Set(done.map((d) => d.weightsHash)).size).toBe(1)
    const agreeIn = (r: number) =>
      nodes.every((p) => hashOf(p, r) !== undefined && hashOf(p, r) === hashOf(nodes[0], r))
    const disagreed = Array.from({ length: ROUNDS - held - 2 }, (_, k) => held + 2 + k).filter(
      (r) => !agreeIn(r),
    )
    expect(
      disagreed,
      `rounds from two after the held one that disagree; weights after each round:\n${table()}`,
    ).toEqual([])
    // Each node said it held the round open, and which connected peers it had no commit from,
    // with what gossipsub knew of them (a connected but unheard peer points at gossip).
    for (let i = 0; i < nodes.length; i++) {
      const holds = nodeLogLines(join(root, `node-${i}`))
        .filter((l) => l.includes('holding the round open'))
        .map((l) => JSON.parse(l))
      expect(holds.length, `node ${i}'s hold warnings`).toBeGreaterThan(0)
      for (const hold of holds) {
        expect(Array.isArray(hold.connectedWithoutCommit), JSON.stringify(hold)).toBe(true)
        for (const peer of hold.connectedWithoutCommit)
          expect(Object.keys(peer).sort()).toEqual(['outboundStream', 'peer', 'score', 'subscribed'])
      }
    }
    process.stderr.write(
      `partition drill: split after round ${splitAfter}; during 20 s of split no node closed a round after ${Math.max(...duringSplit)}; held round ${held} closed with ${heldReports.map((r) => r?.contributors ?? '-').join('/')} deltas${agreeIn(held) ? ' on one state' : ', not yet on one state'}; round ${held + 1} ${agreeIn(held + 1) ? 'agrees' : 'does not agree yet'}; every round from ${held + 2} on agrees\n`,
    )
  })
})
