// What a round of SPEC.md 11 reports (RoundRunner.play): its phases, and the figures an operator
// reads in the log, in `dtrain status` and in rounds.jsonl. Types only.

export type Phase = 'train' | 'announce' | 'collect' | 'aggregate' | 'commit' | 'eval'

/**
 * The protocol's own work inside the phases, timed apart (issue 17: which of them grows with the
 * model and with n): encoding the delta (with error feedback), its chunk tree and root, writing
 * the proof, publishing the announcement, validating the peers' deltas as they arrive (during
 * collect), the aggregation rule, the outer step, encoding the state, its chunk tree, and
 * writing the state file. Seconds; a step done twice in a round (a settle recompute) adds up.
 * The state file holds the round's report, so its own write time is 0 in rounds.jsonl; the
 * "round complete" log line and the report a round returns carry it.
 */
export const STEPS = [
  'encode',
  'hashDelta',
  'proofWrite',
  'publish',
  'validate',
  'aggregateRule',
  'outerStep',
  'encodeState',
  'hashState',
  'stateWrite',
] as const
export type Step = (typeof STEPS)[number]

export function noSteps(): Record<Step, number> {
  return Object.fromEntries(STEPS.map((s) => [s, 0])) as Record<Step, number>
}

export interface RoundReport {
  round: number
  trainLoss: number
  evalLoss: number
  /** exp(evalLoss): held-out perplexity per character */
  evalPerplexity: number
  /** a classifier's held-out accuracy (fraction right); null for a language model */
  evalAccuracy: number | null
  weightsHash: string
  contributors: number
  /** true when the collect phase ended at the deadline rather than with every expected peer */
  deadlineHit: boolean
  bytesSent: number
  bytesReceived: number
  phaseSeconds: Record<Phase, number>
  /** the protocol's steps within the phases (STEPS) */
  stepSeconds: Record<Step, number>
  /**
   * CPU seconds (user + system) of this process during each phase; what the node does for its
   * peers meanwhile (serving chunks, relaying gossip) counts in the phase it happens in
   */
  cpuSeconds: Record<Phase, number>
  /** resident memory of the process at the end of the round */
  rssBytes: number
  /** inner-loop throughput: tokens per second (examples per second for a classifier) */
  tokensPerSecond: number
  /** model FLOPs utilisation of the inner loop on a GPU backend (flops.ts); null elsewhere */
  mfu: number | null
  /** connected peers at the end of the round, and of them those reached only through a relay */
  peers: number
  relayedPeers: number
  /** bytes of the proofs of learning this node keeps (all rounds retained) */
  proofBytes: number
  /**
   * the delta each peer announced for the round, as this node received it (peer id to hex root,
   * its own included): an auditor checks the proof it audits against it (SPEC.md 17.4, step 1)
   */
  announced: Record<string, string>
}
