// The parts a dtrain node is made of, in one record (js-libp2p's `components`): each part is built
// by a factory, createX(init)(components), and declares the slice of this record it needs
// (XComponents = Pick-like interfaces next to each part). Built and wired in node.ts only.

import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { GossipHandlers } from '../gossip/handlers.js'
import type { HolderBook } from '../gossip/holders.js'
import type { Publisher } from '../gossip/publisher.js'
import type { GossipValidatorFn } from '../gossip/validator-fn.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { RejectionLog } from '../metrics/rejection-log.js'
import type { DeltaFetcher } from '../net/delta-fetcher.js'
import type { Host } from '../net/host.js'
import type { PeerGuard, PenaltyReason } from '../net/peer-guard.js'
import type { RunPeers } from '../net/run-peers.js'
import type { TransferCounters } from '../net/transfer.js'
import type { AuditTally } from '../proof/audit-log.js'
import type { ProofStore } from '../proof/store.js'
import type { CommitBook } from '../round/commit-book.js'
import type { ContributionCheck } from '../round/contribution-check.js'
import type { DeltaBook } from '../round/delta-book.js'
import type { GlobalState } from '../round/global-state.js'
import type { RoundRunner } from '../round/runner.js'
import type { ShardBook } from '../round/shard-book.js'
import type { ShardExchange } from '../round/shard-exchange.js'
import type { Sync } from '../round/sync.js'
import type { DeltaStore } from '../store/delta-store.js'
import type { VoteJournal } from '../store/vote-journal.js'
import type { Trainer } from '../train/trainer.js'
import type { Changes, Clock } from '../util/clock.js'
import type { Genesis } from '../wire/genesis.js'
import type { NodeStatusBook } from './status.js'

export interface DtrainComponents {
  genesis: Genesis
  runId: Uint8Array
  runIdHex: string
  peerId: PeerId
  privateKey: PrivateKey
  /** the node's logger (peer and run bound); parts log through children of it */
  logger: Logger
  metrics: NodeMetrics
  clock: Clock
  changes: Changes
  /** aborted when the node stops: every part's waits and transfers end with it */
  signal: AbortSignal
  host: Host
  guard: PeerGuard
  peers: RunPeers
  rejections: RejectionLog
  /** lowers a peer's score for a protocol fault (SPEC.md 2.7) and counts it */
  penalize: (peer: string, reason: PenaltyReason) => void
  counters: TransferCounters
  store: DeltaStore
  /** this node's own commits, kept before they are published (SPEC.md 12.5) */
  votes: VoteJournal
  audits: AuditTally
  proofs: ProofStore
  holders: HolderBook
  commits: CommitBook
  deltaBook: DeltaBook
  /** the shard results heard of (SPEC.md 18.4); empty in an all-to-all run */
  shardBook: ShardBook
  /** a sharded exchange's rounds (SPEC.md 18); undefined in an all-to-all run */
  shardExchange?: ShardExchange
  globalState: GlobalState
  trainer: Trainer
  publisher: Publisher
  fetcher: DeltaFetcher
  validatorFn: GossipValidatorFn
  handlers: GossipHandlers
  contributions: ContributionCheck
  sync: Sync
  runner: RoundRunner
  status: NodeStatusBook
}
