// What `dtrain status` and the status page show (GET /api/status): a snapshot of the node, and
// the last STATUS_HISTORY rounds' summaries.

import type { Logger } from 'pino'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import { gossipScore } from '../net/gossip-internals.js'
import type { Host } from '../net/host.js'
import type { AuditTally } from '../proof/audit-log.js'
import type { ContributionCheck } from '../round/contribution-check.js'
import type { GlobalState } from '../round/global-state.js'
import type { RoundRunner } from '../round/runner.js'
import type { Genesis } from '../wire/genesis.js'
import type { NodeStatus, RoundReport } from './interface.js'

/** Round reports kept for the status page. */
export const STATUS_HISTORY = 1000

export interface NodeStatusComponents {
  host: Host
  genesis: Genesis
  runIdHex: string
  metrics: NodeMetrics
  globalState: GlobalState
  contributions: Pick<ContributionCheck, 'reputation'>
  runner: Pick<RoundRunner, 'phase' | 'innerStep'>
  audits: Pick<AuditTally, 'refresh' | 'of' | 'all'>
  logger: Logger
  signal: AbortSignal
}

export interface NodeStatusInit {
  backend: string
}

export class NodeStatusBook {
  private readonly history: NodeStatus['history'] = []
  /** held-out loss of the weights before the first round this process trained */
  initialEvalLoss: number | null = null

  constructor(
    private readonly components: NodeStatusComponents,
    private readonly init: NodeStatusInit,
  ) {}

  /**
   * Reads the audit verdicts recorded since the last call (`dtrain audit --record`): counted, and
   * a peer's failed proof said in the log, once.
   */
  async refreshAudits(): Promise<void> {
    const { audits, metrics, logger } = this.components
    let added: Awaited<ReturnType<AuditTally['refresh']>>
    try {
      added = await audits.refresh()
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cannot read the audit verdicts (audits.jsonl)')
      return
    }
    for (const v of added) {
      metrics.auditVerdicts.inc({ verdict: v.verdict })
      if (v.verdict === 'invalid')
        logger.warn(
          { remote: v.peer, round: v.round, reasons: v.reasons },
          "an audit found a peer's proof of learning invalid: dtrain status shows it beside the peer",
        )
    }
  }

  /** Keeps a round's summary for the status page. */
  record(report: RoundReport): void {
    const { phaseSeconds: _, weightsHash: __, cpuSeconds: ___, ...summary } = report
    this.history.push(summary)
    if (this.history.length > STATUS_HISTORY) this.history.shift()
  }

  async snapshot(): Promise<NodeStatus> {
    const { host, metrics, globalState, contributions, runner, genesis, audits } = this.components
    await this.refreshAudits()
    const peers = host.getPeers().map((peer) => {
      const id = peer.toString()
      const connection = host.getConnections(peer)[0]
      return {
        peerId: id,
        gossipScore: gossipScore(host.services.pubsub, id),
        reputation: contributions.reputation.get(id) ?? null,
        address: connection ? connection.remoteAddr.toString() : null,
        failedAudits: audits.of(id)?.invalid ?? 0,
      }
    })
    metrics.peers.set(peers.length)
    const { values } = await metrics.gossipVerdicts.get()
    const rejections: Record<string, number> = {}
    const ignored: Record<string, number> = {}
    for (const v of values) {
      const into =
        v.labels.verdict === 'reject' ? rejections : v.labels.verdict === 'ignore' ? ignored : undefined
      if (into) into[String(v.labels.reason)] = (into[String(v.labels.reason)] ?? 0) + v.value
    }
    return {
      peerId: host.peerId.toString(),
      runId: this.components.runIdHex,
      addresses: host.getMultiaddrs().map((a) => a.toString()),
      backend: this.init.backend,
      round: globalState.round,
      phase: this.components.signal.aborted ? 'stopped' : runner.phase,
      innerStep: runner.innerStep,
      innerSteps: genesis.inner.steps,
      weightsHash: globalState.weightsHashHex,
      peers,
      history: [...this.history],
      initialEvalLoss: this.initialEvalLoss,
      rejections,
      ignored,
      audits: [...audits.all()].map(([peerId, a]) => ({
        peerId,
        valid: a.valid,
        invalid: a.invalid,
        unavailable: a.unavailable,
        lastFailure: a.lastFailure ?? null,
      })),
    }
  }
}

export const createNodeStatus =
  (init: NodeStatusInit) =>
  (components: NodeStatusComponents): NodeStatusBook =>
    new NodeStatusBook(components, init)
