// Byzantine drills only (NodeOptions.shardAttack; test/e2e/sharded.test.ts, docs/sharded-aggregation.md):
// what a dishonest aggregator publishes instead of its shard results (SPEC.md 18.4). The node
// itself still applies the honest values; only what it announces and serves changes.
import { RESULT_ENCODING } from '../aggregate/shard-plan.js'

/**
 * - `wrong-block`: one value of the result's first block moved by one quantisation step;
 * - `wrong-all`: every value negated (the aggregate turned against the descent);
 * - `withhold`: no result announced;
 * - `equivocate`: the honest result and a wrong-block one, both signed.
 */
export const SHARD_ATTACKS = ['wrong-block', 'wrong-all', 'withhold', 'equivocate'] as const
export type ShardAttack = (typeof SHARD_ATTACKS)[number]

/** The result encodings a dishonest aggregator announces for an honest result's `bytes`. */
export function attackedResults(attack: ShardAttack, bytes: Uint8Array, count: number): Uint8Array[] {
  const values = 12 + 4 * Math.ceil(count / (RESULT_ENCODING.blockSize as number))
  const wrongBlock = () => {
    const out = new Uint8Array(bytes)
    const q = (out[values] << 24) >> 24
    out[values] = (q === 127 ? 126 : q + 1) & 0xff
    return out
  }
  switch (attack) {
    case 'wrong-block':
      return [wrongBlock()]
    case 'wrong-all': {
      const out = new Uint8Array(bytes)
      for (let i = values; i < out.length; i++) out[i] = -((out[i] << 24) >> 24) & 0xff
      return [out]
    }
    case 'withhold':
      return []
    case 'equivocate':
      return [bytes, wrongBlock()]
  }
}
