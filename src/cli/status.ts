// `dtrain status`: prints a running node's state, read from its HTTP endpoint (GET /api/status).
import type { NodeStatus } from '../node/node.js'

export class StatusUnavailableError extends Error {
  override name = 'StatusUnavailableError'
}

export async function runStatus(options: { api: string; json: boolean }): Promise<number> {
  const base = options.api.startsWith('http') ? options.api : `http://${options.api}`
  let status: NodeStatus
  try {
    const response = await fetch(new URL('/api/status', base), { signal: AbortSignal.timeout(5000) })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    status = (await response.json()) as NodeStatus
  } catch (err) {
    throw new StatusUnavailableError(
      `no dtrain node answers at ${base}: ${(err as Error).message} (is it running? its --api address is in its log)`,
    )
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(status)}\n`)
    return 0
  }
  const last = status.history.at(-1)
  const lines = [
    `node ${status.peerId}`,
    `run ${status.runId.slice(0, 16)}, backend ${status.backend}, weights ${status.weightsHash.slice(0, 16)}`,
    `round ${status.round}, phase ${status.phase}${status.phase === 'train' ? ` (step ${status.innerStep}/${status.innerSteps})` : ''}`,
    last
      ? `last round ${last.round}: train loss ${last.trainLoss.toFixed(3)}, held-out ${last.evalLoss.toFixed(3)}, ${last.contributors} contributors, ${Math.round(last.tokensPerSecond)} ${last.evalAccuracy == null ? 'tok/s' : `samples/s, held-out accuracy ${(100 * last.evalAccuracy).toFixed(1)} %`}`
      : 'no round completed yet',
    `${status.peers.length} peers:`,
    ...status.peers.map(
      (p) =>
        `  ${p.peerId}  ${p.address ?? ''}  gossip score ${p.gossipScore.toFixed(2)}${p.reputation === null ? '' : `  reputation ${p.reputation.toFixed(3)}`}${p.failedAudits ? `  FAILED AUDITS ${p.failedAudits}` : ''}`,
    ),
    ...(status.audits ?? []).map(
      (a) =>
        `audits of ${a.peerId}: ${a.valid} valid, ${a.invalid} invalid, ${a.unavailable} could not audit${a.lastFailure ? ` (last failure: round ${a.lastFailure.round}, ${a.lastFailure.reason})` : ''}`,
    ),
    ...Object.entries(status.rejections).map(([reason, count]) => `rejected ${reason}: ${count}`),
    ...(Object.keys(status.ignored ?? {}).length > 0
      ? [
          `ignored, not a fault (duplicates and late messages are normal): ${Object.entries(status.ignored)
            .map(([reason, count]) => `${reason} ${count}`)
            .join(', ')}`,
        ]
      : []),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  return 0
}
