// The state a round starts from (weights, outer momentum, previous aggregate), as the aggregation
// step uses it (issue 17). A large model's outer step is computed in place of that state, so that
// a node does not hold the round's starting state and its result side by side (12 d bytes each).
// The settle step may recompute the round from its starting state (SPEC.md 11, step 6); it then
// reads it back from where it is kept: the state object this node committed for the previous
// round, on disk in its state directory, or W_0 regenerated from the genesis for round 0.
import type { OuterState } from './outer.js'

export interface StartingState {
  state: OuterState
  /** the previous round's aggregate (centered clipping's reference); zeros when undefined */
  reference?: Float32Array
}

export class RoundStart {
  private live?: StartingState

  /**
   * `reload` undefined: the starting state is kept in memory for the whole round, and every
   * outer step allocates its result (a small model, or a state with no copy on disk).
   */
  constructor(
    live: StartingState,
    private readonly reload?: () => Promise<StartingState>,
  ) {
    this.live = live
  }

  /** Whether outer steps are computed in place of the starting state. */
  get inPlace(): boolean {
    return this.reload !== undefined
  }

  /** The starting state, to read (not to change): the one in memory, or read back. */
  async read(): Promise<StartingState> {
    this.live ??= await this.reload!()
    return this.live
  }

  /**
   * The starting state for an outer step. In place: this object lets go of it, since the step
   * overwrites it; a later call reads it back.
   */
  async take(): Promise<StartingState> {
    const start = await this.read()
    if (this.inPlace) this.live = undefined
    return start
  }
}
