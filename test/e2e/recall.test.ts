// The recall rule (SPEC.md 12.2), with real node processes: a node whose vote for a round moved
// after a peer had decided the round on its earlier vote and gone on. The third node is gone, so
// no majority forms for any other state: without the rule the two nodes each hold a round with
// one vote, for good (the configuration the fault schedule reached with FAULT_SEED=278299544).
//
// Built from real runs, not timing: a, b and c train rounds 0-1 (b's state directory is copied:
// saved after round 1), then round 2, whose state x all three save. b is put back to its copy
// (it holds round 2 open) with its vote journal of round 2: its real commit of x, then a commit of
// another state y, signed with its key, as a node signs after its set grew with a delta that nobody
// serves any more (c's). Then a and b start without c: a resumes after round 2 and trains round 3
// from x; b holds round 2 with its vote for y, and cannot rebuild x (c's delta is gone).
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/crypto/hash.js'
import { readKeyFile } from '../../src/store/keys.js'
import { decodeCommit, signCommit } from '../../src/wire/messages.js'
import {
  doneOf,
  drillRun,
  listeningOf,
  type NodeProcess,
  processesKilledAfterAll,
  roundEvents,
  startNodeProcess,
  until,
} from './node-process.js'

describe('the recall rule (SPEC.md 12.2)', () => {
  const procs = processesKilledAfterAll()

  it('a node whose vote moved after a peer decided on it gives way, and the two go on without the third', async () => {
    const { root, genesisPath } = drillRun('recall')
    // a, b, c, and the copy of b's directory after round 1
    const dirs = ['a', 'b', 'c', 'b-after-round-1'].map((n) => join(root, n))
    const bSaved = dirs[3]
    // Every node of a phase bootstraps from a, which starts first.
    const phase = async (which: number[], rounds: number): Promise<NodeProcess[]> => {
      const first = startNodeProcess({ dir: dirs[which[0]], genesisPath, bootstrap: [], rounds })
      procs.push(first)
      const { addresses } = await listeningOf(first)
      const rest = which
        .slice(1)
        .map((i) => startNodeProcess({ dir: dirs[i], genesisPath, bootstrap: addresses, rounds }))
      procs.push(...rest)
      return [first, ...rest]
    }
    const finish = async (nodes: NodeProcess[]) => {
      await Promise.all(nodes.map((p) => doneOf(p, 120_000)))
      expect(await Promise.all(nodes.map((p) => p.exit))).toEqual(nodes.map(() => 0))
    }

    await finish(await phase([0, 1, 2], 2))
    cpSync(dirs[1], bSaved, { recursive: true })
    const second = await phase([0, 1, 2], 3)
    await finish(second)
    const x = roundEvents(second[0]).find((e) => e.report.round === 2)!.report.weightsHash
    expect(roundEvents(second[1]).find((e) => e.report.round === 2)?.report.weightsHash).toBe(x)

    // b's journal of round 2: its commit of x, then one of y.
    const votesOf = (dir: string) => join(dir, 'votes')
    const latestOf = (dir: string, round: number) =>
      readdirSync(votesOf(dir))
        .filter((n) => n.startsWith(`commit-${round}-`))
        .sort((p, q) => Number(p.split('-')[2]) - Number(q.split('-')[2]))
        .at(-1)!
    const committedX = readFileSync(join(votesOf(dirs[1]), latestOf(dirs[1], 2)))
    expect(toHex(decodeCommit(committedX).message.weightsHash)).toBe(x)
    const y = await signCommit(await readKeyFile(join(dirs[1], 'key')), {
      ...decodeCommit(committedX).message,
      weightsHash: new Uint8Array(32).fill(0x79),
      stateRoot: new Uint8Array(32).fill(0x79),
    })
    writeFileSync(join(votesOf(bSaved), 'commit-2-0'), committedX)
    writeFileSync(join(votesOf(bSaved), 'commit-2-1'), y)
    const [a, b] = await phase([0, 3], 6)

    // b recalls its vote for x (a trains round 3 from it), adopts x, and the two decide rounds 3-5.
    await until(
      'b to adopt x for round 2 and both to finish round 5',
      () =>
        b.events.some((e) => e.type === 'done') && a.events.some((e) => e.type === 'done') ? true : undefined,
      150_000,
    ).catch((err) => {
      throw new Error(
        `${(err as Error).message}: a finished rounds ${roundEvents(a).map((e) => e.report.round)}, b ${roundEvents(b).map((e) => e.report.round)}; logs in ${root}`,
      )
    })
    const synced = b.events.find((e) => e.type === 'synced')
    expect(synced).toMatchObject({ round: 2, weightsHash: x })
    const reportOf = (p: NodeProcess, round: number) =>
      roundEvents(p).find((e) => e.report.round === round)?.report
    for (const round of [3, 4, 5])
      expect(reportOf(b, round)?.weightsHash).toBe(reportOf(a, round)?.weightsHash)
    expect(await Promise.all([a.exit, b.exit])).toEqual([0, 0])
  }, 420_000)
})
