// The memory preflight (issue 16, src/train/memory.ts): refuse before the first step, with the
// estimate, what is free and a fix, rather than run out of memory an hour in.
import { describe, expect, it } from 'vitest'
import {
  besideNode,
  checkMemory,
  checkNodeMemory,
  InsufficientMemoryError,
  nodeProcessMemory,
  trainingMemory,
} from '../../src/train/memory.js'
import { parameterCount } from '../../src/train/parameters.js'
import { defaultGenesis } from '../../src/wire/genesis.js'

describe('memory preflight', () => {
  it('counts 20 bytes a parameter of state, and activations that grow with the micro-batch', () => {
    const model = defaultGenesis({ preset: 'gpt-124m' }).model
    const one = trainingMemory(model, 1)
    const four = trainingMemory(model, 4)
    expect(one.parameters).toBe(parameterCount(model))
    expect(one.stateBytes).toBe(20 * one.parameters)
    expect(four.activationBytes).toBe(4 * one.activationBytes)
    expect(trainingMemory(model, 4, 'bf16').activationBytes).toBe(four.activationBytes / 2)
    expect(four.totalBytes).toBe(Math.ceil((four.stateBytes + four.activationBytes) * 1.2))
  })

  it('passes a model that fits and returns its estimate', () => {
    const genesis = defaultGenesis({ preset: 'gpt-tiny' })
    const estimate = checkMemory(genesis, 'cpu', 'fp32', { freeBytes: 1e9 })
    expect(estimate.totalBytes).toBeLessThan(1e9)
  })

  it('refuses a model that does not fit, naming the estimate, what is free and a micro-batch count that fits', () => {
    const genesis = defaultGenesis({ preset: 'gpt-124m', batchSize: 16 })
    const needs = trainingMemory(genesis.model, 16 / genesis.inner.microBatches).totalBytes
    const fitsAtEight = trainingMemory(genesis.model, 16 / 8).totalBytes
    const free = (fitsAtEight + trainingMemory(genesis.model, 16 / 4).totalBytes) / 2 // 8 fits, 4 does not
    expect(free).toBeLessThan(needs)
    const err = (() => {
      try {
        checkMemory(genesis, 'cuda', 'fp32', { freeBytes: free, where: 'the GPU (test)' })
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(InsufficientMemoryError)
    const message = (err as Error).message
    expect(message).toContain(`about ${(needs / 1e9).toFixed(2)} GB`)
    expect(message).toContain(`the GPU (test) has ${(free / 1e9).toFixed(2)} GB free`)
    expect(message).toContain('inner.microBatches 8 fits')
  })

  it('says so when not even one sample per micro-batch fits', () => {
    const genesis = defaultGenesis({ preset: 'gpt-124m' })
    expect(() => checkMemory(genesis, 'cuda', 'fp32', { freeBytes: 1e9 })).toThrow(
      /the weights and optimizer state alone need .*: use a smaller preset or a device with more memory/,
    )
  })

  it('refuses a node whose own process would not fit, with its estimate and what is free (issue 17)', () => {
    const big = defaultGenesis({ preset: 'mlp-110m' })
    // 32 bytes a parameter and 300 MB: the state and a settle recompute beside it
    expect(nodeProcessMemory(big.model)).toBe(300e6 + 32 * 110_399_498)
    expect(checkNodeMemory(big, { freeBytes: 8e9 })).toBe(nodeProcessMemory(big.model))
    expect(() => checkNodeMemory(big, { freeBytes: 3e9 })).toThrow(InsufficientMemoryError)
    expect(() => checkNodeMemory(big, { freeBytes: 3e9 })).toThrow(
      /this node's process needs about 3\.83 GB for a model of 110,399,498 parameters .* but this machine has 3\.00 GB free; free memory, or run a smaller model/,
    )
    expect(checkNodeMemory(defaultGenesis({ preset: 'tiny' }), { freeBytes: 1e9 })).toBeLessThan(1e9)
    // A CPU trainer shares the machine with the node's process: it must fit in what the node
    // leaves, not in all that is free (each fitting alone is not enough).
    const trainer = trainingMemory(big.model, big.inner.batchSize / big.inner.microBatches, 'fp32').totalBytes
    const free = nodeProcessMemory(big.model) + trainer / 2
    expect(checkNodeMemory(big, { freeBytes: free })).toBe(nodeProcessMemory(big.model))
    expect(checkMemory(big, 'cpu', 'fp32', { freeBytes: free }).totalBytes).toBe(trainer)
    expect(besideNode(big, free).freeBytes).toBe(free - nodeProcessMemory(big.model))
    expect(() => checkMemory(big, 'cpu', 'fp32', besideNode(big, free))).toThrow(
      /but this machine beside the node's own process \(about [\d.]+ GB of it\) has [\d.]+ GB free/,
    )
  })
})
