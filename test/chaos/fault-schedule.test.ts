// Chaos drill: a randomized fault schedule (issue 19 §2, SPEC.md 12.5). Three `dtrain start`
// processes, each in its own network namespace on a LAN the test builds, train with `minPeers` 1
// (the setting under which a node used to commit alone at every deadline and the run split for
// good). For FAULT_SCHEDULE_MS (default 100 s) a seeded schedule kills nodes with SIGKILL and
// restarts them from their state directories, and cuts one node off the others and heals, at
// random moments. Then every node runs, connected; the invariant: within BOUND rounds after the
// last fault, every node holds one state. The seed is printed with every result; FAULT_SEED=<n>
// replays a schedule (the moments, not the processes' timing).
//
// The suite runs one fixed schedule, 1915504925: every node restarted within seconds of the
// others, which needs both halves of SPEC.md 12.5 property 4 (the vote taken up after a restart,
// and the saved round's commit published again). Random schedules found three liveness holes in
// one day; each is a seed that replays it. FAULT_SEED=random draws a new schedule, to look for the
// next one. 278299544 (CI, once) left two nodes each holding one vote of round 59 for different
// states, one of them a vote that had moved after the other node decided on it: SPEC.md 12.2's
// recall rule answers that configuration, and test/e2e/recall.test.ts builds it deterministically
// (the seed replays the moments, not the timing, and has passed every replay since).
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { xorshift } from '../../scripts/bench/measure.js'
import { drillRun, listeningOf, type NodeProcess, startNodeProcess, until } from '../e2e/node-process.js'
import { VirtualLan } from './virtual-lan.js'

const NODES = 3
const FAULT_MS = Number(process.env.FAULT_SCHEDULE_MS ?? 100_000)
const SEED =
  process.env.FAULT_SEED === 'random'
    ? 1 + Math.floor(Math.random() * (2 ** 31 - 1))
    : Number(process.env.FAULT_SEED ?? 1915504925)
/** rounds after the last fault by which every node must hold the same state */
const BOUND = 6

describe('chaos drill: randomized fault schedule', () => {
  const live: Array<NodeProcess | undefined> = []
  let lan: VirtualLan | undefined
  afterAll(() => {
    for (const p of live) p?.child.kill('SIGKILL')
    lan?.destroy()
  })

  it(
    'every node holds one state within a bounded number of rounds after kills, restarts and partitions',
    async () => {
      const random = xorshift(SEED)
      const pick = (n: number) => Math.floor(random() * n)
      const between = (lo: number, hi: number) => lo + random() * (hi - lo)
      lan = VirtualLan.create(NODES)
      const { root, genesisPath } = drillRun('fault-schedule', {
        expectedPeers: NODES,
        minPeers: 1,
        collectTimeoutMs: 4000,
      })
      const listen = (i: number) => `/ip4/${lan!.address(i)}/tcp/4100`
      // Every process a node ran, in order: its events are the node's history.
      const history: NodeProcess[][] = Array.from({ length: NODES }, () => [])
      let addresses: string[] = []
      const start = (i: number) => {
        const p = startNodeProcess({
          dir: join(root, `node-${i}`),
          genesisPath,
          bootstrap: addresses.filter((_, j) => j !== i),
          rounds: 0,
          netns: lan!.namespace(i),
          listen: listen(i),
        })
        live[i] = p
        history[i].push(p)
        return p
      }
      // First start: learn each node's address (its key lives in its state directory, so its
      // peer id survives restarts), then restart all three knowing each other.
      const first = Array.from({ length: NODES }, (_, i) => start(i))
      addresses = (await Promise.all(first.map(listeningOf))).map((e) => e.addresses[0])
      for (const p of first) p.child.kill('SIGKILL')
      await Promise.all(first.map((p) => p.exit))
      for (let i = 0; i < NODES; i++) history[i] = []
      for (let i = 0; i < NODES; i++) start(i)

      // The weights a node held after round r: its own round's, or the state it adopted for r.
      const hashOf = (i: number, round: number): string | undefined => {
        let hash: string | undefined
        for (const p of history[i])
          for (const e of p.events) {
            if (e.type === 'round' && e.report.round === round) hash = e.report.weightsHash
            if (e.type === 'synced' && e.round === round) hash = e.weightsHash
          }
        return hash
      }
      const lastRoundOf = (i: number): number => {
        let last = -1
        for (const p of history[i])
          for (const e of p.events) {
            if (e.type === 'round') last = Math.max(last, e.report.round)
            if (e.type === 'synced') last = Math.max(last, e.round)
          }
        return last
      }
      const schedule: string[] = []
      const log = (what: string) => schedule.push(`${((Date.now() - began) / 1000).toFixed(1)} s: ${what}`)
      const table = (from: number, to: number) =>
        Array.from(
          { length: to - from + 1 },
          (_, k) =>
            `${from + k}: ${Array.from({ length: NODES }, (_, i) => hashOf(i, from + k)?.slice(0, 8) ?? '-').join(' ')}`,
        ).join('\n')
      const report = (
        verdict: string,
        from = 0,
        to = Math.max(...Array.from({ length: NODES }, (_, i) => lastRoundOf(i))),
      ) =>
        `fault schedule (FAULT_SEED=${SEED}, FAULT_SCHEDULE_MS=${FAULT_MS}): ${verdict}\n${schedule.join('\n')}\nweights after each round (node 0 1 2):\n${table(Math.max(0, from), to)}`

      await until(
        'every node to finish a round',
        () =>
          Array.from({ length: NODES }, (_, i) => lastRoundOf(i)).every((r) => r >= 0) ? true : undefined,
        90_000,
      )
      const began = Date.now()
      const down = new Set<number>()
      let isolated: number | undefined
      const pending: Array<Promise<void>> = []
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
      while (Date.now() - began < FAULT_MS) {
        await sleep(between(2_000, 9_000))
        const fault = random()
        if (fault < 0.6) {
          const i = pick(NODES)
          if (down.has(i)) continue
          down.add(i)
          const p = live[i]!
          p.child.kill('SIGKILL')
          const downMs = between(500, 12_000)
          log(`kill node ${i} (round ${lastRoundOf(i)}), restart in ${(downMs / 1000).toFixed(1)} s`)
          pending.push(
            p.exit.then(async () => {
              await sleep(downMs)
              start(i)
              down.delete(i)
              log(`restarted node ${i}`)
            }),
          )
        } else if (isolated === undefined) {
          const i = pick(NODES)
          isolated = i
          lan.split([i])
          const splitMs = between(3_000, 20_000)
          log(`cut node ${i} off for ${(splitMs / 1000).toFixed(1)} s`)
          pending.push(
            sleep(splitMs).then(() => {
              lan!.heal()
              isolated = undefined
              log(`healed node ${i}`)
            }),
          )
        }
      }
      await Promise.all(pending)
      lan.heal()
      const lastFaultRound = Math.max(...Array.from({ length: NODES }, (_, i) => lastRoundOf(i)))
      log(`last fault over; the furthest node is at round ${lastFaultRound}`)
      const target = lastFaultRound + BOUND
      // The first round from `target` on that every node holds weights of: a node that adopted the
      // network's state by a sync has none of the rounds it skipped (CI: a node restarted at round
      // 58 synced straight to round 74).
      const common = (): number | undefined => {
        const last = Math.min(...Array.from({ length: NODES }, (_, i) => lastRoundOf(i)))
        for (let r = target; r <= last; r++)
          if (Array.from({ length: NODES }, (_, i) => hashOf(i, r)).every((h) => h !== undefined)) return r
        return undefined
      }
      let checked: number
      try {
        checked = await until(`every node to hold weights of one round from ${target} on`, common, 240_000)
      } catch (err) {
        throw new Error(report((err as Error).message, lastFaultRound - 10))
      }
      // One state: every node's weights after that round, adopted or its own, are the same.
      const hashes = Array.from({ length: NODES }, (_, i) => hashOf(i, checked))
      expect(
        new Set(hashes).size === 1,
        report(`nodes disagree after round ${checked}`, lastFaultRound - 10, checked),
      ).toBe(true)
      const agreedFrom = (() => {
        let r = checked
        while (
          r - 1 >= 0 &&
          new Set(Array.from({ length: NODES }, (_, i) => hashOf(i, r - 1))).size === 1 &&
          hashOf(0, r - 1) !== undefined
        )
          r--
        return r
      })()
      process.stderr.write(
        `${report(`passed: ${schedule.filter((s) => s.includes('kill') || s.includes('cut')).length} faults; every node holds one state from round ${agreedFrom} on (last fault at round ${lastFaultRound})`, lastFaultRound - 4, checked)}\n`,
      )
    },
    FAULT_MS + 480_000,
  )
})
