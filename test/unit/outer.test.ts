import { describe, expect, it } from 'vitest'
import { nesterovStep, outerStepOrHold, pseudoGradient } from '../../src/round/outer.js'

describe('outer Nesterov step', () => {
  it('matches a hand computation: m = mu m + g; w = w - lr (g + mu m)', () => {
    const next = nesterovStep(
      { weights: new Float32Array([1, -2]), momentum: new Float32Array([0.5, 0]) },
      new Float32Array([0.25, -1]),
      { lr: 0.5, momentum: 0.5 },
    )
    // coordinate 0: m = 0.25 + 0.25 = 0.5; update = 0.25 + 0.25 = 0.5; w = 1 - 0.25 = 0.75
    // coordinate 1: m = -1; update = -1 - 0.5 = -1.5; w = -2 + 0.75 = -1.25
    expect([...next.momentum]).toEqual([0.5, -1])
    expect([...next.weights]).toEqual([0.75, -1.25])
  })

  it('is plain averaging (FedAvg) with lr 1 and no momentum', () => {
    const global = new Float32Array([1, 2, 3])
    const local = new Float32Array([0.5, 2.5, 3])
    const next = nesterovStep(
      { weights: global, momentum: new Float32Array(3) },
      pseudoGradient(global, local),
      {
        lr: 1,
        momentum: 0,
      },
    )
    expect([...next.weights]).toEqual([...local])
  })

  it('computes the pseudo-gradient in place of the local weights when asked, to the same bits', () => {
    const global = new Float32Array([1, 2, 3, 0.1])
    const local = new Float32Array([0.5, 2.5, 3, 0.3])
    const fresh = pseudoGradient(global, local)
    const inPlace = pseudoGradient(global, local, local)
    expect(inPlace).toBe(local)
    expect([...inPlace]).toEqual([...fresh])
    expect(() => pseudoGradient(global, new Float32Array(4), new Float32Array(3))).toThrow(RangeError)
  })

  it('computes in place of the state when asked, to the same bits as into new vectors', () => {
    const random = (n: number, seed: number) =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7919 + i * 104729) * 10 ** ((i % 9) - 4))
    const config = { lr: 0.7, momentum: 0.9 }
    const weights = random(1000, 1)
    const momentum = random(1000, 2)
    const g = random(1000, 3)
    const fresh = nesterovStep({ weights, momentum }, g, config)
    const inPlace = nesterovStep({ weights, momentum }, g, config, true)
    expect(inPlace.weights).toBe(weights)
    expect(inPlace.momentum).toBe(momentum)
    expect(Buffer.from(inPlace.weights.buffer).equals(Buffer.from(fresh.weights.buffer))).toBe(true)
    expect(Buffer.from(inPlace.momentum.buffer).equals(Buffer.from(fresh.momentum.buffer))).toBe(true)
    // a non-finite aggregate leaves the state untouched in place too
    const before = Float32Array.from(weights)
    const held = outerStepOrHold(
      { weights, momentum },
      Float32Array.from(g).fill(Number.NaN, 5, 6),
      config,
      true,
    )
    expect(held.applied).toBe(false)
    expect([...weights]).toEqual([...before])
  })

  it('does not modify its inputs and refuses mismatched lengths', () => {
    const weights = new Float32Array([1])
    const momentum = new Float32Array([1])
    nesterovStep({ weights, momentum }, new Float32Array([1]), { lr: 0.7, momentum: 0.9 })
    expect([weights[0], momentum[0]]).toEqual([1, 1])
    expect(() => nesterovStep({ weights, momentum }, new Float32Array(2), { lr: 1, momentum: 0 })).toThrow(
      RangeError,
    )
  })
})

describe('an aggregate that is not finite (SPEC.md 9)', () => {
  const state = { weights: Float32Array.from([1, 2, 3]), momentum: Float32Array.from([0.5, 0, -0.5]) }
  const config = { lr: 0.7, momentum: 0.9 }

  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
    it(`is never applied: one ${bad} leaves weights and momentum as they were`, () => {
      const held = outerStepOrHold(state, Float32Array.from([0.1, bad, 0.1]), config)
      expect(held.applied).toBe(false)
      expect(held.state).toBe(state)
    })

  it('a finite one is the Nesterov step', () => {
    const g = Float32Array.from([0.1, -0.2, 0.3])
    const stepped = outerStepOrHold(state, g, config)
    expect(stepped.applied).toBe(true)
    expect(stepped.state).toEqual(nesterovStep(state, g, config))
  })
})
