// What a dtrain node tells the rest of the program (the CLI, the status page, tests): its phases,
// its status snapshot and its per-round report (round/report.ts). Types only.

import type { Phase, RoundReport } from '../round/report.js'

export type { Phase, RoundReport } from '../round/report.js'

/** What `dtrain status` and the status page show (GET /api/status). */
export interface NodeStatus {
  peerId: string
  runId: string
  addresses: string[]
  backend: string
  round: number
  phase: Phase | 'idle' | 'stopped'
  innerStep: number
  innerSteps: number
  weightsHash: string
  peers: Array<{
    peerId: string
    gossipScore: number
    reputation: number | null
    address: string | null
    /** proofs of this peer that audits recorded with `dtrain audit --record` found invalid */
    failedAudits: number
  }>
  /** the verdicts of the audits recorded in this node's audits.jsonl, by audited peer */
  audits: Array<{
    peerId: string
    valid: number
    invalid: number
    unavailable: number
    lastFailure: { round: number; reason: string } | null
  }>
  /** the last rounds (at most STATUS_HISTORY), oldest first */
  history: Array<
    Pick<
      RoundReport,
      | 'round'
      | 'trainLoss'
      | 'evalLoss'
      | 'evalAccuracy'
      | 'bytesSent'
      | 'bytesReceived'
      | 'contributors'
      | 'tokensPerSecond'
      | 'deadlineHit'
      | 'proofBytes'
    >
  >
  initialEvalLoss: number | null
  /** gossip messages rejected (a peer's fault: its score drops), by reason */
  rejections: Record<string, number>
  /** gossip messages ignored (no fault: duplicates, stale rounds, a full book), by reason */
  ignored: Record<string, number>
}
