import { afterEach, describe, expect, it, vi } from 'vitest'
import { HaveBatcher, HolderBook } from '../../src/gossip/holders.js'

const hash = (byte: number) => new Uint8Array(32).fill(byte)

describe('HolderBook', () => {
  it('lists the holders of a delta in the order they said so, at most maxPerDelta, per round', () => {
    const book = new HolderBook(2)
    book.add(4, 'p1', [hash(1), hash(2)])
    book.add(4, 'p2', [hash(1)])
    book.add(4, 'p3', [hash(1)])
    book.add(4, 'p1', [hash(1)])
    expect(book.of(4, hash(1))).toEqual(['p1', 'p2'])
    expect(book.of(4, hash(2))).toEqual(['p1'])
    expect(book.of(5, hash(1))).toEqual([])
    book.forget(4)
    expect(book.of(4, hash(1))).toEqual([])
  })
})

describe('HaveBatcher', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('sends one batch per round after batchMs, with at most maxHashes hashes', () => {
    vi.useFakeTimers()
    const sent: Array<[number, number[]]> = []
    const batcher = new HaveBatcher({
      batchMs: 250,
      maxHashes: 2,
      send: (round, hashes) => sent.push([round, hashes.map((h) => h[0])]),
    })
    batcher.add(3, hash(1))
    batcher.add(3, hash(2))
    batcher.add(3, hash(3))
    batcher.add(4, hash(9))
    vi.advanceTimersByTime(249)
    expect(sent).toEqual([])
    vi.advanceTimersByTime(1)
    expect(sent).toEqual([
      [3, [1, 2]],
      [4, [9]],
    ])
    // A new batch starts after the flush.
    batcher.add(3, hash(5))
    vi.advanceTimersByTime(250)
    expect(sent.at(-1)).toEqual([3, [5]])
  })

  it('sends nothing after stop, pending hashes included', () => {
    vi.useFakeTimers()
    const send = vi.fn()
    const batcher = new HaveBatcher({ batchMs: 250, maxHashes: 8, send })
    batcher.add(1, hash(1))
    batcher.stop()
    batcher.add(1, hash(2))
    vi.advanceTimersByTime(1000)
    expect(send).not.toHaveBeenCalled()
  })
})
