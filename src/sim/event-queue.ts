// The simulator's clock (issue 20 §4): a discrete-event queue. Events run in time order; events
// at the same time run in the order they were scheduled, so a run is deterministic.

interface Event {
  at: number
  seq: number
  run: () => void
}

export class EventQueue {
  /** simulated seconds */
  now = 0
  private heap: Event[] = []
  private seq = 0

  /** Runs `run` at time `at` (never before now). */
  at(at: number, run: () => void): void {
    this.push({ at: Math.max(at, this.now), seq: this.seq++, run })
  }

  /** Runs events until none is left or the next is after `until`; returns the number run. */
  run(until = Number.POSITIVE_INFINITY): number {
    let count = 0
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const event = this.pop()
      this.now = event.at
      event.run()
      count++
    }
    return count
  }

  get pending(): number {
    return this.heap.length
  }

  private before(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push(event: Event): void {
    const heap = this.heap
    heap.push(event)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(heap[i], heap[parent])) break
      ;[heap[i], heap[parent]] = [heap[parent], heap[i]]
      i = parent
    }
  }

  private pop(): Event {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && this.before(heap[left], heap[smallest])) smallest = left
        if (right < heap.length && this.before(heap[right], heap[smallest])) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest], heap[i]]
        i = smallest
      }
    }
    return top
  }
}
