// What `dtrain status` shows of the gossip verdicts (issue 19 §3: "rejected duplicate" was shown
// like an error): rejections (a peer's fault) apart from what is merely ignored.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { NodeMetrics } from '../../src/metrics/node-metrics.js'
import { createHost, type Host } from '../../src/net/host.js'
import { NodeStatusBook } from '../../src/node/status.js'
import { GlobalState } from '../../src/round/global-state.js'
import { defaultGenesis } from '../../src/wire/genesis.js'

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
    const genesis = defaultGenesis()
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
    const book = new NodeStatusBook(
      {
        host,
        genesis,
        runIdHex: '00'.repeat(32),
        metrics,
        globalState,
        contributions: { reputation: new Map() },
        runner: { phase: 'idle', innerStep: 0 },
        signal: new AbortController().signal,
      },
      { backend: 'wasm' },
    )
    const status = await book.snapshot()
    expect(status.rejections).toEqual({ 'bad-signature': 1 })
    expect(status.ignored).toEqual({ duplicate: 5, 'stale-round': 2 })
  })
})
