// What a node of a sharded exchange reads a round (SPEC.md 18.3-18.5), by chunk arithmetic with the
// node's own functions: its shards' transfer chunks of every other delta, the other shards'
// results, and its checks (one span of a result each, about one chunk of every delta). Not a
// measurement: `dtrain testnet --shards S --json` measures it (deltasReceivedPerRound), and the
// 8-node gpt-10m runs of docs/sharded-aggregation.md landed within 5 % of these figures. Gossip and
// framing are left out. In deltas of the run's encoding, against n - 1 all-to-all.
//
// Usage: npm run bench:shard-bytes [-- --checks 2]
import { roundSeed } from '../../src/aggregate/rules.js'
import {
  checkSpan,
  DEFAULT_SHARD_CHECKS,
  planShards,
  shardLayout,
  shardResultSize,
} from '../../src/aggregate/shard-plan.js'
import { encodedDeltaSize } from '../../src/codec/delta.js'
import { chunksOfRanges } from '../../src/codec/delta-ranges.js'
import { LIMITS } from '../../src/constants.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis, encodeOptionsFor, type ModelPreset, parseGenesis } from '../../src/wire/genesis.js'

const args = process.argv.slice(2)
const at = args.indexOf('--checks')
const checks = at >= 0 ? Number(args[at + 1]) : DEFAULT_SHARD_CHECKS
const DRAWS = 8 // aggregator draws averaged (rounds)

/** gpt-10m's shape at width 640 and 8 layers: the 39.7 M-parameter model of the measured 8-node run */
const WIDER = { dModel: 640, layers: 8, heads: 8, mlpHidden: 2560 }
const rows: Array<[ModelPreset, number, number, typeof WIDER?]> = [
  ['gpt-10m', 8, 4],
  ['gpt-10m', 8, 8],
  ['gpt-10m', 8, 4, WIDER],
  ['gpt-124m', 8, 8],
  ['gpt-124m', 8, 16],
  ['gpt-124m', 16, 16],
  ['gpt-124m', 64, 32],
  ['gpt-124m', 64, 64],
]
console.log(
  `| model | n | shards | replicas | delta chunks | deltas read a round (${checks} checks) | all-to-all |`,
)
console.log('|---|---|---|---|---|---|---|')
for (const [preset, n, shards, wider] of rows) {
  const base = defaultGenesis({ preset, dataset: 'synthetic', expectedPeers: n, encoding: 'int8-block' })
  const genesis = parseGenesis({
    ...base,
    model: { ...base.model, ...wider },
    aggregation: { rule: 'trimmed-mean', trimFraction: 0.2 },
    exchange: { shards, replicas: 2 },
  })
  const count = parameterCount(genesis.model)
  const options = encodeOptionsFor(genesis.delta, count)
  const size = encodedDeltaSize(count, options)
  const layout = shardLayout(genesis, count)!
  const chunksOf = (ranges: Array<{ start: number; end: number }>) =>
    chunksOfRanges(ranges, count, options, LIMITS.chunkBytes)
  const peers = Array.from({ length: n }, (_, i) => `peer-${i}`)
  let total = 0
  for (let round = 1; round <= DRAWS; round++) {
    const plan = planShards(layout, peers, 2, roundSeed(new Uint8Array(32), round), peers[0])
    const held = new Set(chunksOf(plan.mine.map((s) => layout[s])))
    const others = layout.filter((s) => !plan.mine.includes(s.index))
    const results = others.reduce((sum, s) => sum + shardResultSize(s), 0)
    // checks of spans in the middle of the first `checks` results: the chunks not held already
    const checked = others.slice(0, checks).map((s) => {
      const span = checkSpan(s, Math.floor((s.end - s.start) / 512), count, options, LIMITS.chunkBytes)
      return chunksOf([span]).filter((c) => !held.has(c)).length
    })
    const chunks = held.size + checked.reduce((a, b) => a + b, 0)
    total += ((n - 1) * chunks * LIMITS.chunkBytes + results) / size
  }
  console.log(
    `| ${preset}${wider === undefined ? '' : ' at width 640, 8 layers'} (${(count / 1e6).toFixed(1)} M) | ${n} | ${shards} | 2 | ${Math.ceil(size / LIMITS.chunkBytes)} | ${(total / DRAWS).toFixed(2)} | ${n - 1} |`,
  )
}
