// The inner learning-rate schedule (SPEC.md 7.5): warmup, then constant or cosine decay.
import { describe, expect, it } from 'vitest'
import { learningRate } from '../../src/train/schedule.js'
import { defaultGenesis, parseGenesis } from '../../src/wire/genesis.js'

describe('inner learning rate', () => {
  const constant = defaultGenesis({ innerSteps: 20 }).inner.optimizer
  const cosine = defaultGenesis({ innerSteps: 20, plannedRounds: 10 }).inner.optimizer

  it('warms up linearly, then stays constant by default', () => {
    expect(constant.schedule).toBe('constant')
    expect(learningRate(constant, 1)).toBeCloseTo(0.0003, 12)
    expect(learningRate(constant, 5)).toBeCloseTo(0.0015, 12)
    expect(learningRate(constant, 10)).toBe(0.003)
    expect(learningRate(constant, 10_000)).toBe(0.003)
  })

  it('decays on a cosine from lr to lr * minLrFraction over the planned run, then stays there', () => {
    expect(cosine).toMatchObject({ schedule: 'cosine', totalSteps: 200, minLrFraction: 0.1 })
    expect(learningRate(cosine, 5)).toBeCloseTo(0.0015, 12) // warmup as before
    expect(learningRate(cosine, 10)).toBeCloseTo(0.003, 12)
    expect(learningRate(cosine, 105)).toBeCloseTo(0.003 * (0.1 + 0.9 * 0.5), 12) // halfway
    expect(learningRate(cosine, 200)).toBeCloseTo(0.0003, 12)
    expect(learningRate(cosine, 500)).toBeCloseTo(0.0003, 12)
    for (let t = 11; t < 200; t++)
      expect(learningRate(cosine, t)).toBeLessThan(learningRate(cosine, t - 1) + 1e-15)
  })

  it('is refused without totalSteps, or with totalSteps not beyond the warmup', () => {
    const g = defaultGenesis()
    expect(() =>
      parseGenesis({ ...g, inner: { ...g.inner, optimizer: { ...g.inner.optimizer, schedule: 'cosine' } } }),
    ).toThrow(/inner.optimizer.totalSteps: a cosine schedule needs totalSteps/)
    expect(() =>
      parseGenesis({
        ...g,
        inner: { ...g.inner, optimizer: { ...g.inner.optimizer, schedule: 'cosine', totalSteps: 5 } },
      }),
    ).toThrow(/totalSteps 5 must exceed warmupSteps 10/)
  })
})
