// One round of dtrain's exchange over modelled links (issue 20 §4): all-to-all, as the protocol
// runs today (every node fetches every delta, SPEC.md 10-11), or sharded, as
// docs/sharded-aggregation.md proposes (aggregators fetch their shards of every delta, publish
// shard results, every node fetches the results and checks a few chunks). The collect phase ends
// by the node's own decision function (round/policy.ts collectDecision, with the adaptive
// deadline of round/deadline.ts); bytes are counted per node on its links; Byzantine aggregators
// may publish wrong shard results, withhold them or sign two. What a node applies is tracked per
// shard (the honest result or a corrupt one), so the run reports whether the honest nodes agree.
import { assignAggregators, type Shard } from '../aggregate/shards.js'
import { LIMITS } from '../constants.js'
import { HashStream } from '../crypto/prng.js'
import { collectDeadlineMs } from '../round/deadline.js'
import { collectDecision } from '../round/policy.js'
import { EventQueue } from './event-queue.js'
import { SimFetcher } from './fetcher.js'
import { randomMesh, SimGossip } from './gossip.js'
import { type LinkSpec, SimNetwork } from './network.js'

export type ExchangeMode = 'all-to-all' | 'sharded'
export type AggregatorAttack = 'none' | 'wrong-chunk' | 'wrong-1pct' | 'wrong-all' | 'withhold' | 'equivocate'

/** Sizes of the signed gossip messages (wire/messages.ts), gossipsub's envelope included. */
export interface MessageSizes {
  announcement: number
  have: number
  /** a commit with no delta hashes: each listed delta adds its 32-byte hash and 2 bytes */
  commitBase: number
  /** a shard result's announcement (ShardResult, SPEC.md 18.4: round, set, shard, root, size, signature) */
  shardResult: number
  /** equivocation or wrong-result evidence: two signed messages, or one and a chunk proof */
  evidence: number
}

export interface RoundSimConfig {
  mode: ExchangeMode
  links: readonly LinkSpec[]
  /** seconds each node trains this round (H steps; stragglers take longer) */
  computeSeconds: readonly number[]
  deltaBytes: number
  /** the aggregate in the run's encoding: what all shard results weigh together */
  aggregateBytes: number
  parameters: number
  /** sharded: the shards (aggregate/shards.ts shardRanges) and aggregators per shard */
  shards: readonly Shard[]
  replicas: number
  /** chunks of shard results each node recomputes from the deltas, drawn by itself */
  checkedChunks: number
  /** the rule needs whole-vector distances: aggregators exchange partial distances first */
  distanceRule: boolean
  /** measured: seconds of the rule per (coordinate x input), and of distances per (coordinate x pair) */
  ruleSecondsPerValue: number
  distanceSecondsPerValue: number
  /** nodes whose shard results are Byzantine (they train and send honest deltas) */
  byzantine: readonly number[]
  attack: AggregatorAttack
  messages: MessageSizes
  chunkBytes: number
  /** chunks per request (SimFetcher): 64 as the protocol, more to simulate large runs faster */
  requestChunks?: number
  meshDegree: number
  /**
   * a node re-publishes its announcement this often from announcing until its round settles
   * (limits.reannounceMs, SPEC.md 11 step 3); default the protocol's, 0: never
   */
  reannounceSeconds?: number
  minCollectMs: number
  collectTimeoutMs: number
  /** arrival times (ms since round start) of earlier rounds: the adaptive deadline's history */
  history: readonly (readonly number[])[]
  settleSeconds: number
  seed: Uint8Array
  /** sees each node's steps as they happen (seconds since the round began) */
  trace?: (node: number, step: string, seconds: number) => void
}

export interface RoundSimResult {
  /** until the last honest node's settle step ended */
  roundSeconds: number
  bytesSent: Float64Array
  bytesReceived: Float64Array
  /** every honest node applied the same result for every shard */
  agreed: boolean
  /** some honest node applied a corrupt shard result */
  corruptApplied: boolean
  /** how the honest nodes learned of a wrong shard: root mismatch, own check, evidence */
  detections: { mismatch: number; check: number; evidence: number }
  /** arrival times (ms since round start) of deltas at the nodes: the next round's history */
  arrivalsMs: number[]
  /** bytes received by all nodes together, by kind (transfers, gossip) */
  receivedByKind: { transfer: number; gossip: number }
  events: number
}

/**
 * A shard result as a node holds it: from whom, and its version: `h` (honest) or `c` (corrupt),
 * then the deltas it aggregated. Two results differ when either does.
 */
interface Accepted {
  from: number
  version: string
}
const isCorrupt = (version: string) => version.startsWith('c')

export function simulateRound(config: RoundSimConfig): RoundSimResult {
  const n = config.links.length
  const queue = new EventQueue()
  const network = new SimNetwork(queue, config.links)
  const gossip = new SimGossip(network, randomMesh(n, config.meshDegree, config.seed))
  const fetcher = new SimFetcher(network, config.chunkBytes, config.requestChunks)
  const random = new HashStream('dtrain-sim/round', config.seed)
  const byzantine = new Set(config.byzantine)
  const honest = [...Array(n).keys()].filter((i) => !byzantine.has(i))
  const arrivalsMs: number[] = []
  const settledAt = new Float64Array(n).fill(Number.NaN)
  const committedBy: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  const detections = { mismatch: 0, check: 0, evidence: 0 }
  const deltaHolders: number[][] = Array.from({ length: n }, (_, j) => [j])

  const S = config.shards.length
  const table = config.mode === 'sharded' ? assignAggregators(n, S, config.replicas, config.seed) : []
  const shardsOf: number[][] = Array.from({ length: n }, () => [])
  table.forEach((aggregators, s) => {
    for (const a of aggregators) shardsOf[a].push(s)
  })
  const shardFraction = (s: number) => (config.shards[s].end - config.shards[s].start) / config.parameters
  /**
   * bytes of shard s's part of one delta: the transfer chunks that cover its share of the bytes,
   * taken in proportion to its coordinates (exact for sparse-2bit's records; int8-block's scales
   * lie apart from its values, a second range of 1/64 of the size, not counted here)
   */
  const shardDeltaBytes = (s: number) => {
    const first = Math.floor((config.shards[s].start / config.parameters) * config.deltaBytes)
    const last = Math.ceil((config.shards[s].end / config.parameters) * config.deltaBytes)
    const chunks = Math.ceil(last / config.chunkBytes) - Math.floor(first / config.chunkBytes)
    return Math.min(config.deltaBytes, chunks * config.chunkBytes)
  }
  const resultBytes = (s: number) => Math.max(1, Math.ceil(shardFraction(s) * config.aggregateBytes))
  const partialBytes = ((n * (n - 1)) / 2 + n) * 8 // the pairs and the distances to the anchor (SPEC.md 18.8)
  const resultChunks = (s: number) => Math.max(1, Math.ceil(resultBytes(s) / config.chunkBytes))
  const corruptChunks = (s: number) =>
    config.attack === 'wrong-chunk'
      ? 1
      : config.attack === 'wrong-1pct'
        ? Math.max(1, Math.ceil(0.01 * resultChunks(s)))
        : resultChunks(s)
  const wrongResults = config.attack.startsWith('wrong') || config.attack === 'equivocate'

  // --- per node state
  const delivered: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  const collectEnded = new Uint8Array(n)
  const startedAt = new Float64Array(n)
  const deadline = new Float64Array(n)
  const deadlineMs = new Float64Array(n)
  const extended = new Uint8Array(n)
  const accepted: Array<Map<number, Accepted>> = Array.from({ length: n }, () => new Map())
  const rootsSeen: Array<Map<number, Map<number, string[]>>> = Array.from({ length: n }, () => new Map())
  /** the deltas a node aggregated (all-to-all) or an aggregator's shards aggregated, at collect end */
  const inputsAt: string[] = new Array(n).fill('')
  const setKey = (set: Set<number>) => [...set].sort((a, b) => a - b).join('.')
  const excluded: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  const recomputing: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  const assembledAt = new Float64Array(n).fill(Number.NaN)
  const partialsIn: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  const partialHolders: number[][] = Array.from({ length: S }, () => [])
  /** deltas each node fetched since its last have: peers then fetch from it too (SPEC.md 10.4) */
  const heldBy: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  const ms = () => queue.now * 1000
  const trace = (node: number, step: string) => config.trace?.(node, step, queue.now)

  /** haves are batched for limits.haveBatchMs, one hash per delta fetched since the last one */
  const publishHave = (node: number) => {
    // the first delta of a batch schedules it; later ones join it
    if (heldBy[node].size > 1) return
    queue.at(queue.now + LIMITS.haveBatchMs / 1000, () => {
      const fresh = [...heldBy[node]]
      const count = fresh.length
      heldBy[node].clear()
      // the peers learn of the new source as the have reaches them; the simulation lets them all
      // know when it reached the farthest (one event, not one per node)
      const delay = gossip.flood(node, config.messages.have + 34 * count)
      queue.at(queue.now + delay, () => {
        for (const j of fresh) deltaHolders[j].push(node)
      })
    })
  }

  // --- training and announcement
  const trained = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    queue.at(config.computeSeconds[i], () => {
      trained[i] = 1
      startedAt[i] = ms()
      deadlineMs[i] = collectDeadlineMs(
        config.history,
        config.minCollectMs,
        config.collectTimeoutMs,
        startedAt[i],
      )
      deadline[i] = startedAt[i] + deadlineMs[i]
      queue.at(deadline[i] / 1000, () => decide(i))
      gossip.publish(i, config.messages.announcement, (k) => {
        if (k === i) return
        if (config.mode === 'all-to-all') fetchDelta(k, i)
        else for (const s of shardsOf[k]) fetchShardOfDelta(k, i, s)
      })
      delivered[i].add(i)
      reannounce(i)
      decide(i)
    })
  }

  const reannounceSeconds = config.reannounceSeconds ?? LIMITS.reannounceMs / 1000
  /** until the node's round settles; at most for the collect timeout and the settle time */
  function reannounce(i: number, until = queue.now + config.collectTimeoutMs / 1000 + config.settleSeconds) {
    if (reannounceSeconds <= 0) return
    queue.at(queue.now + reannounceSeconds, () => {
      if (!Number.isNaN(settledAt[i]) || queue.now > until) return
      gossip.republish(i, config.messages.announcement)
      reannounce(i, until)
    })
  }

  function fetchDelta(k: number, j: number) {
    fetcher.fetch(k, {
      bytes: config.deltaBytes,
      holders: () => deltaHolders[j],
      done: () => {
        heldBy[k].add(j)
        arrivalsMs.push(ms())
        publishHave(k)
        delivered[k].add(j)
        decide(k)
      },
    })
  }

  /** sharded: aggregator k's inputs of shard s from delta j */
  const shardInputs: Array<Map<number, Set<number>>> = Array.from({ length: n }, () => new Map())
  function fetchShardOfDelta(k: number, j: number, s: number) {
    fetcher.fetch(k, {
      bytes: shardDeltaBytes(s),
      holders: () => [j],
      done: () => {
        arrivalsMs.push(ms())
        const inputs = shardInputs[k].get(s) ?? new Set([k])
        inputs.add(j)
        shardInputs[k].set(s, inputs)
        // a node's collect counts a delta once every shard it aggregates holds its part
        if (shardsOf[k].every((t) => shardInputs[k].get(t)?.has(j))) delivered[k].add(j)
        decide(k)
      },
    })
  }

  // --- the collect decision (round/policy.ts), at each delivery and at the deadline
  function decide(k: number) {
    if (collectEnded[k] || !trained[k]) return
    if (config.mode === 'sharded' && shardsOf[k].length === 0) {
      // a node that aggregates no shard has nothing to collect: it waits for the results
      collectEnded[k] = 1
      return fetchResults(k)
    }
    const arrived = delivered[k].size
    const decision = collectDecision({
      now: ms(),
      arrived,
      awaitedMissing: n - arrived,
      valid: arrived,
      expectedPeers: n,
      minPeers: 1,
      networkAhead: false,
      stopped: false,
      startedAt: startedAt[k],
      deadline: deadline[k],
      deadlineMs: deadlineMs[k],
      extended: extended[k] === 1,
      collectTimeoutMs: config.collectTimeoutMs,
      pollMs: 1000,
    })
    if (decision.action === 'extend') {
      extended[k] = 1
      deadline[k] = decision.deadline
      queue.at(decision.deadline / 1000, () => decide(k))
    } else if (decision.action === 'end') {
      collectEnded[k] = 1
      inputsAt[k] = setKey(delivered[k])
      trace(k, `collect ended (${decision.why}, ${delivered[k].size} deltas)`)
      if (config.mode === 'all-to-all') {
        const seconds =
          config.parameters * arrived * config.ruleSecondsPerValue +
          distanceSeconds(config.parameters, arrived)
        queue.at(queue.now + seconds, () => commit(k, arrived))
      } else aggregateShards(k)
    }
  }

  const distanceSeconds = (coordinates: number, inputs: number) =>
    config.distanceRule ? ((coordinates * inputs * (inputs - 1)) / 2) * config.distanceSecondsPerValue : 0

  // --- sharded: partial distances, shard results, their fetch, checks and recomputation
  /** coordinates of the shards node k aggregates */
  const coordinatesOf = (k: number) =>
    shardsOf[k].reduce((sum, s) => sum + (config.shards[s].end - config.shards[s].start), 0)

  function aggregateShards(k: number) {
    const mine = shardsOf[k]
    const coordinates = coordinatesOf(k)
    if (!config.distanceRule)
      return void queue.at(queue.now + coordinates * n * config.ruleSecondsPerValue, () => publishResults(k))
    queue.at(queue.now + distanceSeconds(coordinates, n), () => {
      for (const s of mine) {
        partialHolders[s].push(k)
        partialsIn[k].add(s)
        gossip.publish(k, config.messages.shardResult, (m) => fetchPartial(m, s))
      }
      waitPartials(k)
    })
  }

  function fetchPartial(m: number, s: number) {
    if (shardsOf[m].length === 0 || partialsIn[m].has(s)) return
    partialsIn[m].add(s)
    fetcher.fetch(m, {
      bytes: partialBytes,
      holders: () => partialHolders[s],
      done: () => waitPartials(m),
    })
  }

  const partialsDone = new Uint8Array(n)
  function waitPartials(k: number) {
    if (partialsDone[k] || !collectEnded[k] || partialsIn[k].size < S) return
    partialsDone[k] = 1
    const coordinates = coordinatesOf(k)
    queue.at(queue.now + coordinates * n * config.ruleSecondsPerValue, () => publishResults(k))
  }

  function publishResults(k: number) {
    trace(k, 'shard results published')
    const bad = byzantine.has(k)
    for (const s of shardsOf[k]) {
      const kinds = bad && config.attack === 'equivocate' ? ['h', 'c'] : [bad && wrongResults ? 'c' : 'h']
      for (const kind of kinds)
        gossip.publish(k, config.messages.shardResult, (m) =>
          onResultAnnounced(m, s, k, `${kind}:${inputsAt[k]}`),
        )
    }
    fetchResults(k)
  }

  /** the version of shard s a node fetches: the first it heard of */
  const chosen: Array<Map<number, string>> = Array.from({ length: n }, () => new Map())
  const holdersOf = (m: number, s: number) =>
    [...(rootsSeen[m].get(s)?.entries() ?? [])]
      .filter(([a, versions]) => !excluded[m].has(a) && versions.includes(chosen[m].get(s)!))
      .map(([a]) => a)

  function onResultAnnounced(m: number, s: number, from: number, version: string) {
    if (byzantine.has(m)) return
    const bySource = rootsSeen[m].get(s) ?? new Map<number, string[]>()
    rootsSeen[m].set(s, bySource)
    const versions = bySource.get(from) ?? []
    versions.push(version)
    bySource.set(from, versions)
    if (!chosen[m].has(s)) chosen[m].set(s, version)
    const roots = new Set([...bySource.values()].flat())
    if (new Set(versions).size > 1) {
      // one aggregator signed two results of one shard: evidence on its own (SPEC.md 5.6's kind)
      if (!excluded[m].has(from)) detections.evidence++
      excluded[m].add(from)
      recompute(m, s)
    } else if (roots.size > 1 && !recomputing[m].has(s) && !shardsOf[m].includes(s)) {
      // two aggregators of the shard disagree (a wrong result, or other inputs): the node
      // computes the shard itself, from the inputs of the result it heard of first
      detections.mismatch++
      recompute(m, s)
    }
    fetchResults(m)
  }

  const fetchingResult: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  function fetchResults(m: number) {
    if (byzantine.has(m) || !collectEnded[m]) return
    for (let s = 0; s < S; s++) {
      if (accepted[m].has(s) || fetchingResult[m].has(s) || recomputing[m].has(s)) continue
      if (shardsOf[m].includes(s)) {
        accepted[m].set(s, { from: m, version: `h:${inputsAt[m]}` })
        continue
      }
      if (!chosen[m].has(s)) continue
      const version = chosen[m].get(s)!
      fetchingResult[m].add(s)
      fetcher.fetch(m, {
        bytes: resultBytes(s),
        holders: () => holdersOf(m, s),
        serves: (a) => !(byzantine.has(a) && config.attack === 'withhold'),
        done: (source) => {
          fetchingResult[m].delete(s)
          if (recomputing[m].has(s) || accepted[m].has(s)) return
          accepted[m].set(s, { from: source, version })
          maybeAssemble(m)
        },
        failed: () => {
          fetchingResult[m].delete(s)
          // every aggregator that announced it withheld it: the node computes it from the deltas
          recompute(m, s)
        },
      })
    }
    maybeAssemble(m)
  }

  function recompute(m: number, s: number) {
    if (recomputing[m].has(s)) return
    recomputing[m].add(s)
    accepted[m].delete(s)
    let missing = n - 1
    const coordinates = config.shards[s].end - config.shards[s].start
    const finish = () =>
      queue.at(queue.now + coordinates * n * config.ruleSecondsPerValue, () => {
        const inputs = (chosen[m].get(s) ?? `h:${inputsAt[m]}`).slice(2)
        accepted[m].set(s, { from: m, version: `h:${inputs}` })
        if (Number.isNaN(assembledAt[m])) return maybeAssemble(m)
        // it committed already: it commits again with the recomputed shard (SPEC.md 12.3)
        settledAt[m] = Number.NaN
        commit(m, n)
      })
    for (let j = 0; j < n; j++) {
      if (j === m) continue
      fetcher.fetch(m, {
        bytes: shardDeltaBytes(s),
        holders: () => deltaHolders[j],
        done: () => {
          if (--missing === 0) finish()
        },
      })
    }
  }

  const checked = new Uint8Array(n)
  function maybeAssemble(m: number) {
    if (!Number.isNaN(assembledAt[m]) || accepted[m].size < S) return
    if (!checked[m] && config.checkedChunks > 0) {
      checked[m] = 1
      let left = config.checkedChunks
      // the node's own randomness, drawn after the results were published: chunk c of shard s
      for (let c = 0; c < config.checkedChunks; c++) {
        const s = random.nextBelow(S)
        const chunk = random.nextBelow(resultChunks(s))
        let missing = n - 1
        for (let j = 0; j < n; j++) {
          if (j === m) continue
          fetcher.fetch(m, {
            bytes: Math.min(config.chunkBytes, config.deltaBytes),
            holders: () => deltaHolders[j],
            done: () => {
              if (--missing > 0) return
              const held = accepted[m].get(s)
              if (held && isCorrupt(held.version) && chunk < corruptChunks(s)) {
                detections.check++
                excluded[m].add(held.from)
                // a signed wrong result with the chunk that shows it: every node can check it
                gossip.publish(m, config.messages.evidence, (k) => {
                  if (k === m || byzantine.has(k) || !Number.isNaN(settledAt[k])) return
                  const theirs = accepted[k].get(s)
                  if (theirs && isCorrupt(theirs.version)) {
                    excluded[k].add(held.from)
                    recompute(k, s)
                  }
                })
                recompute(m, s)
              }
              if (--left === 0) maybeAssemble(m)
            },
          })
        }
      }
      return
    }
    if (checked[m] && config.checkedChunks > 0 && [...recomputing[m]].some((s) => !accepted[m].has(s))) return
    assembledAt[m] = queue.now
    trace(m, 'assembled')
    commit(m, n)
  }

  // --- commit and settle (SPEC.md 11, steps 5-6)
  function commit(k: number, listed: number) {
    trace(k, 'committed')
    if (config.mode === 'sharded' && Number.isNaN(assembledAt[k])) assembledAt[k] = queue.now
    gossip.publish(k, config.messages.commitBase + 34 * listed, (m) => {
      committedBy[m].add(k)
      if (committedBy[m].size >= honest.length && Number.isNaN(settledAt[m]) && committedBy[m].has(m))
        settledAt[m] = queue.now
    })
    queue.at(queue.now + config.settleSeconds, () => {
      if (Number.isNaN(settledAt[k])) settledAt[k] = queue.now
    })
  }

  const events = queue.run()
  const corruptAt = (m: number) => [...accepted[m].values()].some((a) => isCorrupt(a.version))
  // what each honest node applied: all-to-all, the set of deltas it aggregated (nodes whose sets
  // differ would have to merge them in the settle step, SPEC.md 11 step 6: not simulated, so they
  // count as not agreed); sharded, every shard's result, wrong or right, and its inputs
  const views = honest.map((m) =>
    config.mode === 'sharded'
      ? Array.from({ length: S }, (_, s) => {
          const held = accepted[m].get(s)
          return held === undefined
            ? '-'
            : isCorrupt(held.version)
              ? `c${held.from}:${held.version}`
              : held.version
        }).join('|')
      : inputsAt[m],
  )
  return {
    roundSeconds: Math.max(...honest.map((m) => settledAt[m])),
    bytesSent: network.sent,
    bytesReceived: network.received,
    agreed: new Set(views).size === 1 && honest.every((m) => !Number.isNaN(settledAt[m])),
    corruptApplied: honest.some(corruptAt),
    detections,
    arrivalsMs,
    receivedByKind: { ...network.receivedByKind },
    events,
  }
}
