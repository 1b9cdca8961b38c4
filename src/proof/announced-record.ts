// Proof equivocation (issue 19 §1, SPEC.md 17.4 step 1): a peer can sign one proof for the delta
// the network aggregated and serve another, of another delta of the same round, to an auditor;
// each proof alone audits VALID. An audit is VALID only once the delta it covers is the one the
// peer announced to the network, as a node recorded it: each line of a node's rounds.jsonl names
// the delta every peer announced in that round (`announced`, peer id to hex root).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AuditReport } from './audit.js'

/** What a node recorded of one round: the delta each peer announced (peer id to hex root). */
export interface AnnouncedRecord {
  /** the file it was read from, for the report */
  source: string
  round: number
  announced: ReadonlyMap<string, string>
}

/**
 * Reads what the node whose state directory is `stateDir` recorded of `round` (its rounds.jsonl;
 * every line of the round counts, later lines adding peers). Undefined when the file or the round
 * is not there.
 */
export async function readAnnounced(stateDir: string, round: number): Promise<AnnouncedRecord | undefined> {
  const source = join(stateDir, 'rounds.jsonl')
  let text: string
  try {
    text = await readFile(source, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const announced = new Map<string, string>()
  let found = false
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    let entry: { round?: unknown; announced?: unknown }
    try {
      entry = JSON.parse(line)
    } catch {
      continue // a line cut short by a crash
    }
    if (entry.round !== round || typeof entry.announced !== 'object' || entry.announced === null) continue
    found = true
    for (const [peer, hash] of Object.entries(entry.announced))
      if (typeof hash === 'string') announced.set(peer, hash)
  }
  return found ? { source, round, announced } : undefined
}

/**
 * Decides an audit that found the proof itself valid (SPEC.md 17.4, step 1): INVALID when the
 * record names another delta for the peer (it signed two deltas for the round: proof
 * equivocation), UNAVAILABLE ("could not audit") without a record of the peer's announcement, and
 * VALID only when the record names the audited delta. A report that is not valid is returned as
 * it is.
 */
export function judgeAnnounced(report: AuditReport, record: AnnouncedRecord | undefined): AuditReport {
  if (report.verdict !== 'valid' || report.peer === undefined || report.deltaHash === undefined) return report
  const short = report.deltaHash.slice(0, 16)
  const how =
    'give --record <the state directory of a node of the run>: its rounds.jsonl names the delta each peer announced'
  if (record === undefined)
    return unavailable(
      report,
      `could not check that delta ${short} is the one ${report.peer} announced to the network in round ${report.round}: ${how}`,
    )
  const announced = record.announced.get(report.peer)
  if (announced === undefined)
    return unavailable(
      report,
      `${record.source} has no announcement of ${report.peer} in round ${report.round}, so the audited delta ${short} could not be checked against the one the network received: ${how}, one that received it`,
    )
  if (announced !== report.deltaHash)
    return {
      ...report,
      verdict: 'invalid',
      reasons: [
        ...report.reasons,
        `proof equivocation: the audited proof is of delta ${short}, but ${report.peer} announced delta ${announced.slice(0, 16)} to the network in round ${report.round} (${record.source}): it signed two deltas for one round`,
      ],
    }
  return {
    ...report,
    notes: [
      ...report.notes,
      `the audited delta is the one the peer announced to the network (${record.source})`,
    ],
  }
}

function unavailable(report: AuditReport, reason: string): AuditReport {
  return { ...report, verdict: 'unavailable', reasons: [...report.reasons, reason] }
}
