// Which state of a round the network agrees on (SPEC.md 12.2): a pure function of the commits a
// node holds for that round, so that every node holding the same commits decides the same way.
import { compareBytes } from '../aggregate/order.js'
import { toHex } from '../crypto/hash.js'

export interface CommittedState {
  weightsHash: string
  stateRoot: Uint8Array
  stateSize: number
}

export interface StateVotes<T extends CommittedState> {
  record: T
  /** peer ids (strings) that committed this state */
  peers: string[]
}

/**
 * What a node remembers of its own earlier votes of a round (SPEC.md 12.2, the recall rule): a
 * settle step (11) moves a node's vote as its set grows, and a peer may have decided the round on
 * the earlier vote and gone on from it.
 */
export interface Recall<T extends CommittedState> {
  /** this node's peer id */
  self: string
  /** the states this node committed for the round before its latest commit */
  earlier: readonly T[]
  /** by peer: the weights hash its delta of the next round was trained from (announcement field 5) */
  builtOn: ReadonlyMap<string, string>
}

/**
 * The decided state of a round, from one commit per peer (SPEC.md 12.2):
 * - a state committed by a majority of the expected peers (floor(expectedPeers / 2) + 1) wins;
 * - otherwise, once commits from such a majority are held, the state with the most votes wins,
 *   ties broken by the lowest state root (bytewise, then weights hash and size), but only if it
 *   has more than `faults` votes (at least 2): a state backed by more peers than the Byzantine
 *   ones the run tolerates was computed by at least one honest node, so a few colluding peers
 *   cannot win a tie with a state they made up.
 * - for a round the node has not reached yet (`ahead`), the state with the most votes wins once
 *   it has more than `faults` votes (at least 2), however few peers have committed: the node is
 *   behind peers that went on without it, and follows them.
 * The second case heals a partition into equal halves that stayed in step: each half holds a
 * state with exactly half of the votes, and without a tie-break neither would ever give way. The
 * third heals one whose halves drifted apart in rounds: the half behind adopts the state of the
 * half ahead.
 * When these decide nothing and `recall` is given, the node also votes for each state it committed
 * earlier that a peer committed and went on from (its delta of the next round was trained from
 * that state), and the same rules apply again: the peer decided the round on this node's earlier
 * vote, and the node whose vote moved gives way to it instead of both holding a round with one
 * vote each. Undefined when undecided.
 */
export function decidedState<T extends CommittedState>(
  commits: Iterable<readonly [peer: string, record: T]>,
  expectedPeers: number,
  faults: number,
  ahead = false,
  recall?: Recall<T>,
): StateVotes<T> | undefined {
  const votes = new Map<string, StateVotes<T>>()
  const voters = new Set<string>()
  for (const [peer, record] of commits) {
    voters.add(peer)
    const entry = votes.get(stateKey(record)) ?? { record, peers: [] }
    entry.peers.push(peer)
    votes.set(stateKey(record), entry)
  }
  const decided = pick(votes, voters.size, expectedPeers, faults, ahead)
  if (decided !== undefined || recall === undefined) return decided
  let recalled = false
  for (const earlier of recall.earlier) {
    const entry = votes.get(stateKey(earlier))
    if (entry === undefined || entry.peers.includes(recall.self)) continue
    if (!entry.peers.some((peer) => recall.builtOn.get(peer) === earlier.weightsHash)) continue
    entry.peers.push(recall.self)
    recalled = true
  }
  if (!recalled) return undefined
  voters.add(recall.self)
  return pick(votes, voters.size, expectedPeers, faults, ahead)
}

/** A state's identity (SPEC.md 12.2: state root, weights hash and size), as one string. */
export function stateKey(record: CommittedState): string {
  return `${toHex(record.stateRoot)}/${record.weightsHash}/${record.stateSize}`
}

/** The first state in the order of SPEC.md 12.2, if the rules decide it. */
function pick<T extends CommittedState>(
  votes: ReadonlyMap<string, StateVotes<T>>,
  voters: number,
  expectedPeers: number,
  faults: number,
  ahead: boolean,
): StateVotes<T> | undefined {
  const majority = Math.floor(expectedPeers / 2) + 1
  const top = [...votes.values()].sort(
    (a, b) =>
      b.peers.length - a.peers.length ||
      compareBytes(a.record.stateRoot, b.record.stateRoot) ||
      (a.record.weightsHash < b.record.weightsHash
        ? -1
        : a.record.weightsHash > b.record.weightsHash
          ? 1
          : 0) ||
      a.record.stateSize - b.record.stateSize,
  )[0]
  if (top === undefined) return undefined
  if (top.peers.length >= majority) return top
  if ((voters >= majority || ahead) && top.peers.length > Math.max(1, faults)) return top
  return undefined
}
