// The state a round starts from (weights, outer momentum, previous aggregate), as the aggregation
// step uses it (issue 17). A large model's outer step is computed in place of that state, so that
// a node does not hold the round's starting state and its result side by side (12 d bytes each).
// The settle step may recompute the round from its starting state (SPEC.md 11, step 6); it then
// reads it back from where it is kept: the state object this node committed for the previous
// round, on disk in its state directory, or W_0 regenerated from the genesis for round 0. A part
// the node let go of while it trained (GlobalState.park: the momentum and the reference) is read
// back the same way, when the round first needs it.
import { STATE_PARTS, type StatePart } from '../codec/state.js'
import type { OuterState } from './outer.js'

/**
 * The parts a round starts from that are in memory. A part present with the value undefined is
 * known and not a vector: a reference of zeros (round 0's, SPEC.md 8.6).
 */
export type HeldParts = Partial<Record<StatePart, Float32Array | undefined>>

/** Reads a part of the starting state back from where it is kept, checked. */
export type ReadBack = (part: StatePart) => Promise<Float32Array | undefined>

export class RoundStart {
  private readonly held: Map<StatePart, Float32Array | undefined>

  /**
   * `readBack` undefined: the starting state is kept in memory for the whole round (`held` holds
   * every part), and every outer step allocates its result (a small model, or a state with no copy
   * on disk).
   */
  constructor(
    held: HeldParts,
    private readonly readBack?: ReadBack,
  ) {
    this.held = new Map(Object.entries(held) as Array<[StatePart, Float32Array | undefined]>)
    if (readBack === undefined && !STATE_PARTS.every((p) => this.held.has(p)))
      throw new Error('a starting state that cannot be read back must be held whole')
  }

  /** Whether outer steps are computed in place of the starting state. */
  get inPlace(): boolean {
    return this.readBack !== undefined
  }

  /** The starting weights, to read (not to change). */
  async weights(): Promise<Float32Array> {
    return (await this.part('weights'))!
  }

  /** The starting reference (centered clipping's, SPEC.md 8.6); undefined: zeros. */
  async reference(): Promise<Float32Array | undefined> {
    return await this.part('reference')
  }

  /**
   * The weights and momentum for an outer step. In place: this object lets go of them, since the
   * step overwrites them; a later call reads them back.
   */
  async take(): Promise<OuterState> {
    const weights = await this.weights()
    const momentum = (await this.part('momentum'))!
    if (this.inPlace) {
      this.held.delete('weights')
      this.held.delete('momentum')
    }
    return { weights, momentum }
  }

  private async part(part: StatePart): Promise<Float32Array | undefined> {
    if (!this.held.has(part)) this.held.set(part, await this.readBack!(part))
    return this.held.get(part)
  }
}
