// The inner learning rate (SPEC.md 7.5): linear warmup over warmupSteps, then constant, or a cosine
// decay from lr to lr * minLrFraction at totalSteps (and flat after), as in the DiLoCo recipe.
// `t` is AdamW's step counter, counted from 1 across every round this node trained.
import type { Genesis } from '../wire/genesis.js'

export function learningRate(cfg: Genesis['inner']['optimizer'], t: number): number {
  if (cfg.warmupSteps > 0 && t < cfg.warmupSteps) return cfg.lr * (t / cfg.warmupSteps)
  if (cfg.schedule === 'constant' || cfg.totalSteps === undefined) return cfg.lr
  const progress = Math.min(1, (t - cfg.warmupSteps) / (cfg.totalSteps - cfg.warmupSteps))
  return cfg.lr * (cfg.minLrFraction + (1 - cfg.minLrFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)))
}
