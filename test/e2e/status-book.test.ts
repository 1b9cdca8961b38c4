// What `dtrain status` shows of the gossip verdicts (issue 19 §3: "rejected duplicate" was shown
// like an error): rejections (a peer's fault) apart from what is merely ignored; and of the audit
// verdicts an operator recorded against its peers (issue 19 §1: a failed proof counts against the
// peer).

import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/log.js'
import { NodeMetrics } from '../../src/metrics/node-metrics.js'
import { createHost, type Host } from '../../src/net/host.js'
import { NodeStatusBook } from '../../src/node/status.js'
import { AUDIT_LOG_FILE, AuditTally, appendAuditVerdict } from '../../src/proof/audit-log.js'
import { GlobalState } from '../../src/round/global-state.js'
import { defaultGenesis } from '../../src/wire/genesis.js'
import { tempDir } from '../fixtures/temp.js'

/** A status book over a real host, with this node's audit log in `stateDir` (none: no log). */
async function statusBook(host: Host, metrics: NodeMetrics, stateDir?: string) {
  const globalState = new GlobalState(
    {
      runId: new Uint8Array(32),
      peerId: undefined as never,
      votes: undefined as never,
      publisher: undefined as never,
      store: undefined as never,
      commits: undefined as never,
      trainer: undefined as never,
      logger: undefined as never,
    },
    { weights: new Float32Array(3) },
  )
  return new NodeStatusBook(
    {
      host,
      genesis: defaultGenesis(),
      runIdHex: '00'.repeat(32),
      metrics,
      globalState,
      contributions: { reputation: new Map() },
      runner: { phase: 'idle', innerStep: 0 },
      audits: new AuditTally(stateDir),
      logger: silentLogger(),
      signal: new AbortController().signal,
    },
    { backend: 'wasm' },
  )
}

describe('the status snapshot', () => {
  let host: Host
  afterAll(() => host?.stop())

  it('lists rejected messages by reason, and ignored ones apart', async () => {
    host = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const metrics = new NodeMetrics()
    metrics.gossipVerdicts.inc({ topic: 'delta', verdict: 'ignore', reason: 'duplicate' }, 5)
    metrics.gossipVerdicts.inc({ topic: 'commit', verdict: 'ignore', reason: 'stale-round' }, 2)
    metrics.gossipVerdicts.inc({ topic: 'delta', verdict: 'reject', reason: 'bad-signature' }, 1)
    metrics.gossipVerdicts.inc({ topic: 'delta', verdict: 'accept', reason: 'ok' }, 9)
    const book = await statusBook(host, metrics)
    const status = await book.snapshot()
    expect(status.rejections).toEqual({ 'bad-signature': 1 })
    expect(status.ignored).toEqual({ duplicate: 5, 'stale-round': 2 })
  })

  it("shows the audit verdicts recorded in the node's audits.jsonl, a failed proof beside its peer", async () => {
    host ??= await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const dir = tempDir('audits')
    const metrics = new NodeMetrics()
    const book = await statusBook(host, metrics, dir)
    expect((await book.snapshot()).audits).toEqual([])
    const line = (peer: string, round: number, verdict: 'valid' | 'invalid', reasons: string[] = []) =>
      appendAuditVerdict(dir, { peer, round, verdict, reasons, at: new Date().toISOString() })
    await line('peer-a', 3, 'valid')
    await line('peer-b', 3, 'invalid', ['checkpoint 4 does not match its committed root'])
    // a line cut short by a crash, and one that is not a verdict, are skipped
    appendFileSync(
      join(dir, AUDIT_LOG_FILE),
      '{"peer": "peer-c", "round": 1, "verdict": "nonsense", "reasons": []}\n{"peer"',
    )
    const status = await book.snapshot()
    expect(status.audits).toEqual([
      { peerId: 'peer-a', valid: 1, invalid: 0, unavailable: 0, lastFailure: null },
      {
        peerId: 'peer-b',
        valid: 0,
        invalid: 1,
        unavailable: 0,
        lastFailure: { round: 3, reason: 'checkpoint 4 does not match its committed root' },
      },
    ])
    // read once: a second snapshot counts nothing again; the rest of the cut line completes it
    appendFileSync(
      join(dir, AUDIT_LOG_FILE),
      ': "peer-b", "round": 5, "verdict": "invalid", "reasons": ["withheld"]}\n',
    )
    const again = await book.snapshot()
    expect(again.audits.find((a) => a.peerId === 'peer-b')).toMatchObject({
      invalid: 2,
      lastFailure: { round: 5 },
    })
    const counted = (await metrics.auditVerdicts.get()).values.map((v) => [v.labels.verdict, v.value])
    expect(Object.fromEntries(counted)).toEqual({ valid: 1, invalid: 2 })
  })
})
