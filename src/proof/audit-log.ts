// The verdicts of the audits an operator ran against the peers of its node's run (`dtrain audit
// --record STATE`), kept in STATE/audits.jsonl, one JSON line each: a peer whose proof failed
// (invalid, withheld, slower than the audit's deadline) counts it against its standing with this
// node (issue 19 §1), shown beside its contribution reputation in `dtrain status` and counted in
// `dtrain_audit_verdicts_total`. A node cannot exclude such a peer's deltas on its own (honest
// nodes must aggregate the same set, SPEC.md 8): the verdict informs its operator.
import { appendFile, open } from 'node:fs/promises'
import { join } from 'node:path'

export const AUDIT_LOG_FILE = 'audits.jsonl'

export type AuditVerdictName = 'valid' | 'invalid' | 'unavailable'

export interface AuditVerdictLine {
  /** the audited peer's id */
  peer: string
  round: number
  verdict: AuditVerdictName
  reasons: string[]
  /** when the audit ended (ISO 8601) */
  at: string
}

/** Bytes read from the log per refresh at most: a log grown by megabytes is read over several. */
const READ_BYTES = 1 << 20

/** Appends an audit's verdict to the log of the node whose state directory is `stateDir`. */
export async function appendAuditVerdict(stateDir: string, line: AuditVerdictLine): Promise<void> {
  await appendFile(join(stateDir, AUDIT_LOG_FILE), `${JSON.stringify(line)}\n`, { mode: 0o600 })
}

export interface PeerAudits {
  valid: number
  invalid: number
  unavailable: number
  /** the latest invalid verdict: its round and first reason */
  lastFailure?: { round: number; reason: string }
}

/** The audit verdicts of a node's log by peer, read as the log grows. */
export class AuditTally {
  private readonly byPeer = new Map<string, PeerAudits>()
  private offset = 0
  private partial = ''

  /** `stateDir` undefined (a node without a state directory): no log, no verdicts. */
  constructor(private readonly stateDir?: string) {}

  /** Reads the verdicts appended since the last call; returns them. Malformed lines are skipped. */
  async refresh(): Promise<AuditVerdictLine[]> {
    if (this.stateDir === undefined) return []
    let handle: Awaited<ReturnType<typeof open>>
    try {
      handle = await open(join(this.stateDir, AUDIT_LOG_FILE), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    let text: string
    try {
      const { size } = await handle.stat()
      if (size < this.offset) this.reset() // replaced by a shorter file: read it afresh
      const buffer = Buffer.alloc(Math.min(READ_BYTES, size - this.offset))
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset)
      this.offset += bytesRead
      text = this.partial + buffer.subarray(0, bytesRead).toString('utf8')
    } finally {
      await handle.close()
    }
    const lines = text.split('\n')
    this.partial = lines.pop() ?? ''
    // a line that never ends is not a verdict: its bytes are not held beyond one read's worth
    if (this.partial.length > READ_BYTES) this.partial = ''
    const added: AuditVerdictLine[] = []
    for (const line of lines) {
      const verdict = parseLine(line)
      if (verdict === undefined) continue
      added.push(verdict)
      const tally = this.byPeer.get(verdict.peer) ?? { valid: 0, invalid: 0, unavailable: 0 }
      tally[verdict.verdict]++
      if (verdict.verdict === 'invalid')
        tally.lastFailure = { round: verdict.round, reason: verdict.reasons[0] ?? 'no reason given' }
      this.byPeer.set(verdict.peer, tally)
    }
    return added
  }

  of(peer: string): PeerAudits | undefined {
    return this.byPeer.get(peer)
  }

  /** Every audited peer's tally. */
  all(): ReadonlyMap<string, PeerAudits> {
    return this.byPeer
  }

  private reset(): void {
    this.byPeer.clear()
    this.offset = 0
    this.partial = ''
  }
}

function parseLine(line: string): AuditVerdictLine | undefined {
  if (!line.trim()) return undefined
  let value: Partial<AuditVerdictLine>
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (
    typeof value.peer !== 'string' ||
    !Number.isSafeInteger(value.round) ||
    !['valid', 'invalid', 'unavailable'].includes(value.verdict as string) ||
    !Array.isArray(value.reasons)
  )
    return undefined
  return {
    peer: value.peer,
    round: value.round as number,
    verdict: value.verdict as AuditVerdictName,
    reasons: value.reasons.filter((r): r is string => typeof r === 'string'),
    at: typeof value.at === 'string' ? value.at : '',
  }
}
