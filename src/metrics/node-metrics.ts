// Prometheus metrics of one node. Each node owns its registry, so several nodes can live in one
// process (tests) without sharing counters.
import { Counter, Gauge, Registry } from 'prom-client'

export class NodeMetrics {
  readonly registry = new Registry()
  readonly auditVerdicts = new Counter({
    name: 'dtrain_audit_verdicts_total',
    help: "Verdicts of the audits recorded in this node's audits.jsonl (dtrain audit --record), by verdict",
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  })
  readonly gossipVerdicts = new Counter({
    name: 'dtrain_gossip_messages_total',
    help: 'Gossip messages validated, by topic kind, verdict and reason',
    labelNames: ['topic', 'verdict', 'reason'] as const,
    registers: [this.registry],
  })
  readonly deltaRejections = new Counter({
    name: 'dtrain_delta_rejected_total',
    help: 'Announced deltas whose bytes were refused after transfer, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })
  readonly bytesSent = new Counter({
    name: 'dtrain_bytes_sent_total',
    help: 'Payload bytes sent: delta bytes served and gossip messages published',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })
  readonly bytesReceived = new Counter({
    name: 'dtrain_bytes_received_total',
    help: 'Payload bytes received: delta bytes fetched',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })
  readonly round = new Gauge({ name: 'dtrain_round', help: 'Current round', registers: [this.registry] })
  readonly trainLoss = new Gauge({
    name: 'dtrain_train_loss',
    help: 'Mean inner-loop loss of the last round',
    registers: [this.registry],
  })
  readonly evalLoss = new Gauge({
    name: 'dtrain_eval_loss',
    help: 'Held-out loss of the global weights',
    registers: [this.registry],
  })
  readonly evalAccuracy = new Gauge({
    name: 'dtrain_eval_accuracy',
    help: 'Held-out accuracy of the global weights (classifier runs only)',
    registers: [this.registry],
  })
  readonly mfu = new Gauge({
    name: 'dtrain_model_flops_utilisation',
    help: 'Model FLOPs utilisation of the last round on a GPU backend (0-1)',
    registers: [this.registry],
  })
  readonly relayedPeers = new Gauge({
    name: 'dtrain_relayed_peers',
    help: 'Connected peers reached only through a circuit relay',
    registers: [this.registry],
  })
  readonly contributors = new Gauge({
    name: 'dtrain_round_contributors',
    help: 'Deltas aggregated in the last round',
    registers: [this.registry],
  })
  readonly phaseSeconds = new Gauge({
    name: 'dtrain_phase_seconds',
    help: 'Duration of each phase of the last round',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  })
  readonly aggregationFallbacks = new Counter({
    name: 'dtrain_aggregation_fallbacks_total',
    help: 'Rounds aggregated with the median because too few deltas arrived for the configured rule',
    registers: [this.registry],
  })
  readonly nonFiniteAggregates = new Counter({
    name: 'dtrain_nonfinite_aggregates_total',
    help: 'Rounds whose aggregate held a non-finite value and were not applied (SPEC.md 9)',
    registers: [this.registry],
  })
  readonly belowQuorumRounds = new Counter({
    name: 'dtrain_below_quorum_rounds_total',
    help: 'Rounds aggregated with fewer deltas than round.minPeers (after one extension)',
    registers: [this.registry],
  })
  readonly heldRounds = new Counter({
    name: 'dtrain_held_rounds_total',
    help: 'Rounds held open past the settle timeout because no state of the round was decided (SPEC.md 12.5)',
    registers: [this.registry],
  })
  readonly holding = new Gauge({
    name: 'dtrain_round_held',
    help: '1 while the node holds its round open waiting for a decided state (SPEC.md 12.5), else 0',
    registers: [this.registry],
  })
  readonly collectDeadlineSeconds = new Gauge({
    name: 'dtrain_collect_deadline_seconds',
    help: 'The adaptive collect deadline the next round will use',
    registers: [this.registry],
  })
  readonly stateSyncs = new Counter({
    name: 'dtrain_state_syncs_total',
    help: 'Global states fetched from peers, because this node was behind or in the minority',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })
  readonly redials = new Counter({
    name: 'dtrain_redials_total',
    help: 'Dials of lost peers (bootstrap peers and peers of the run) by the peer keeper, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })
  readonly refusedConnections = new Counter({
    name: 'dtrain_refused_connections_total',
    help: 'Connections the allowlist refused',
    registers: [this.registry],
  })
  readonly peers = new Gauge({
    name: 'dtrain_peers',
    help: 'Peers connected to this node',
    registers: [this.registry],
  })
  readonly tokensPerSecond = new Gauge({
    name: 'dtrain_tokens_per_second',
    help: 'Inner-loop training throughput of the last round (tokens per second)',
    registers: [this.registry],
  })
  readonly innerStep = new Gauge({
    name: 'dtrain_inner_step',
    help: 'Inner steps done in the current round',
    registers: [this.registry],
  })
  readonly proofBytes = new Gauge({
    name: 'dtrain_proof_bytes',
    help: 'Bytes the proofs of learning kept on this node take (SPEC.md 17.1)',
    registers: [this.registry],
  })
  readonly stateSyncFailures = new Counter({
    name: 'dtrain_state_sync_failures_total',
    help: 'State syncs that failed (the node went on with its own state)',
    registers: [this.registry],
  })
  readonly contributionScore = new Gauge({
    name: 'dtrain_contribution_score',
    help: "Held-out loss change the peer's last delta would cause alone (contribution check)",
    labelNames: ['peer'] as const,
    registers: [this.registry],
  })
  readonly equivocations = new Counter({
    name: 'dtrain_equivocations_total',
    help: 'Peers caught signing two different deltas for one round (their contribution is excluded)',
    registers: [this.registry],
  })
  readonly shardResults = new Counter({
    name: 'dtrain_shard_results_total',
    help: "a sharded exchange's shards by where their result came from: computed as an aggregator (own), taken from the aggregators (fetched), or computed from the deltas instead (computed) (SPEC.md 18)",
    labelNames: ['source'] as const,
    registers: [this.registry],
  })
  readonly shardPartials = new Counter({
    name: 'dtrain_shard_partials_total',
    help: "partial distances of a sharded run's shards by where they came from (own, fetched from the aggregators, computed from the deltas), where the rule needs whole-vector distances (SPEC.md 18.8)",
    labelNames: ['source'] as const,
    registers: [this.registry],
  })
  readonly shardMismatches = new Counter({
    name: 'dtrain_shard_mismatches_total',
    help: 'shards whose aggregators published different results (or one signed two): computed from the deltas instead (SPEC.md 18.5)',
    registers: [this.registry],
  })
  readonly shardWithheld = new Counter({
    name: 'dtrain_shard_withheld_total',
    help: "shards none of whose aggregators published (what: result or partials) while the other shards' did: computed from the deltas once as long again had passed, not at collectTimeoutMs (SPEC.md 18.5)",
    labelNames: ['what'] as const,
    registers: [this.registry],
  })
  readonly shardCheckFailures = new Counter({
    name: 'dtrain_shard_check_failures_total',
    help: 'shard results whose randomly drawn block did not recompute from the deltas (SPEC.md 18.5): their aggregators are penalised and the shard computed from the deltas',
    registers: [this.registry],
  })
  readonly shardEvidence = new Counter({
    name: 'dtrain_shard_evidence_total',
    help: 'evidence of a wrong shard result accepted (SPEC.md 18.7), by kind: two results signed by one aggregator, or a result block that does not recompute',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })
  readonly shardCheckedValues = new Counter({
    name: 'dtrain_shard_checked_values_total',
    help: 'values of taken shard results recomputed from the deltas by the random checks, and found right (SPEC.md 18.5)',
    registers: [this.registry],
  })
  readonly settledRounds = new Counter({
    name: 'dtrain_settle_recomputes_total',
    help: 'rounds recomputed in the settle step because peers aggregated deltas this node had left out (SPEC.md 11)',
    registers: [this.registry],
  })
  readonly peerPenalties = new Counter({
    name: 'dtrain_peer_penalties_total',
    help: 'Penalties given to peers outside gossip (SPEC.md 2.7), by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })
  readonly bannedPeers = new Counter({
    name: 'dtrain_banned_peers_total',
    help: 'Peers hung up and refused because their score fell below the graylist threshold (SPEC.md 2.7)',
    registers: [this.registry],
  })
  readonly commitMismatches = new Counter({
    name: 'dtrain_commit_mismatch_total',
    help: 'Peer model commits whose weights hash differs from ours for the same round',
    registers: [this.registry],
  })

  /**
   * Bytes this node's connections carried since it started, as libp2p counts them on the raw
   * connection (noise and yamux framing included; TCP/IP headers not): every protocol, gossip
   * and transfers alike. Zero when libp2p's metrics are not registered here.
   */
  async linkBytes(): Promise<{ sent: number; received: number; byProtocol: Record<string, number> }> {
    const metric = this.registry.getSingleMetric('libp2p_data_transfer_bytes_total')
    if (metric === undefined) return { sent: 0, received: 0, byProtocol: {} }
    const { values } = await metric.get()
    const of = (label: string) => values.find((v) => v.labels.protocol === label)?.value ?? 0
    // per protocol stream ("/meshsub/1.1.0 sent"), payload bytes without the connection's framing
    const byProtocol = Object.fromEntries(
      values
        .filter((v) => !String(v.labels.protocol).startsWith('global'))
        .map((v) => [v.labels.protocol, v.value]),
    )
    return { sent: of('global sent'), received: of('global received'), byProtocol }
  }

  /** Sum of a counter over all label sets, or of those matching `labels`. */
  async total(counter: Counter<string>, labels: Record<string, string> = {}): Promise<number> {
    const { values } = await counter.get()
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((sum, v) => sum + v.value, 0)
  }
}
