// The contribution check (SPEC.md 11.4, in the spirit of Templar's gradient validation): each
// valid delta of a round, this node's own included, is scored by the held-out loss change it would
// cause alone, loss(w - lr * delta) - loss(w), on the first `contribution.windows` evaluation
// windows. Scores feed a per-peer reputation (an exponential average, lower is better); with a
// threshold set, deltas scoring above it are left out of the aggregate. The loss function is
// injected, so the check runs without a trainer in a unit test.

import type { Logger } from 'pino'
import { AGGREGATION_BLOCK } from '../aggregate/blocks.js'
import type { Contribution } from '../aggregate/rules.js'
import { LIMITS } from '../constants.js'
import { toHex } from '../crypto/hash.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { Genesis } from '../wire/genesis.js'
import type { DeltaBook } from './delta-book.js'
import { capContributions } from './policy.js'
import type { RoundStart } from './round-start.js'

export interface ContributionCheckComponents {
  genesis: Genesis
  deltaBook: DeltaBook
  metrics: NodeMetrics
}

export interface ContributionCheckInit {
  /** held-out loss of `weights` on the check's evaluation windows */
  evaluate: (weights: Float32Array) => Promise<number>
}

export class ContributionCheck {
  /** per-peer reputation: exponential average of contribution-check scores (lower is better) */
  readonly reputation = new Map<string, number>()

  constructor(
    private readonly components: ContributionCheckComponents,
    private readonly init: ContributionCheckInit,
  ) {}

  /**
   * The contributions of `round` to aggregate from its starting state (`start`, read only when a
   * delta is scored; trained from the weights whose hash is `baseHex`), limited to the delta hashes
   * in `among` when given, and to limits.maxCommitDeltaHashes (capContributions). A delta is scored
   * once; its decision is kept for the settle step's recomputations.
   */
  async check(
    round: number,
    start: Pick<RoundStart, 'weights'>,
    baseHex: string,
    log: Logger,
    among?: ReadonlySet<string>,
  ): Promise<Contribution[]> {
    const { genesis, deltaBook, metrics } = this.components
    const { contribution, outer } = genesis
    const candidates = deltaBook.valid(round, baseHex).filter((c) => !among || among.has(toHex(c.id)))
    if (!contribution.check) return capContributions(candidates, LIMITS.maxCommitDeltaHashes)
    const ids = new Set(candidates.map((c) => toHex(c.id)))
    let base: number | undefined
    const lr = Math.fround(outer.optimizer.lr)
    const kept: Contribution[] = []
    for (const [peer, entry] of deltaBook.entries(round)) {
      if (!entry.values || !ids.has(toHex(entry.deltaHash))) continue
      if (entry.kept !== undefined) {
        if (entry.kept) kept.push({ id: entry.deltaHash, values: entry.values })
        continue
      }
      const weights = await start.weights()
      base ??= await this.init.evaluate(weights)
      const values = entry.values
      const trial = new Float32Array(weights.length)
      for (let start = 0; start < weights.length; start += AGGREGATION_BLOCK) {
        const end = Math.min(start + AGGREGATION_BLOCK, weights.length)
        const block = values.subarray(start, end)
        for (let i = start; i < end; i++) trial[i] = weights[i] - lr * block[i - start]
      }
      const score = (await this.init.evaluate(trial)) - base
      const reputation = 0.8 * (this.reputation.get(peer) ?? 0) + 0.2 * score
      this.reputation.set(peer, reputation)
      metrics.contributionScore.set({ peer }, score)
      entry.kept = contribution.maxLossIncrease === null || score <= contribution.maxLossIncrease
      if (!entry.kept) {
        metrics.deltaRejections.inc({ reason: 'contribution-check' })
        log.warn(
          { phase: 'collect', remote: peer, score, threshold: contribution.maxLossIncrease },
          'delta left out: it makes held-out loss worse',
        )
        continue
      }
      kept.push({ id: entry.deltaHash, values })
    }
    return capContributions(kept, LIMITS.maxCommitDeltaHashes)
  }
}

export const createContributionCheck =
  (init: ContributionCheckInit) =>
  (components: ContributionCheckComponents): ContributionCheck =>
    new ContributionCheck(components, init)
