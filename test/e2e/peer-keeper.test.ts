// The peer keeper (src/net/peer-keeper.ts) and a peer that refuses us right after connecting
// (issue 19 §3: "reconnected to a lost peer" was logged 64 times in 64 s at info level): its
// redials back off, and only the first is worth an info line. Two real libp2p hosts on 127.0.0.1.
import { generateKeyPair } from '@libp2p/crypto/keys'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, type Host } from '../../src/net/host.js'
import { PeerKeeper } from '../../src/net/peer-keeper.js'
import { whenEvents } from '../fixtures/events.js'

describe('peer keeper', () => {
  const hosts: Host[] = []
  const keepers: PeerKeeper[] = []
  afterAll(async () => {
    for (const k of keepers) k.stop()
    await Promise.all(hosts.map((h) => h.stop()))
  })

  it('backs off from a peer that hangs up at once, and says so at info level only once', async () => {
    const refuser = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const node = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    hosts.push(refuser, node)
    // the refuser hangs up on every connection as soon as it opens (as a peer that banned us does)
    refuser.addEventListener('peer:connect', (event) => void refuser.hangUp(event.detail).catch(() => {}))
    const lines: Array<{ level: number; msg: string }> = []
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
    const redials: number[] = []
    const settings = { intervalMs: 20, minBackoffMs: 100, maxBackoffMs: 800, stableMs: 2_000 }
    const keeper = new PeerKeeper(
      node,
      {
        bootstrap: [refuser.getMultiaddrs()[0].toString()],
        ...settings,
        onRedial: (result) => {
          if (result === 'connected') redials.push(performance.now())
        },
      },
      log,
    )
    keepers.push(keeper)
    keeper.start()
    await whenEvents([node], ['peer:connect'], () => redials.length >= 6, 'six redials', 60_000)
    keeper.stop()
    // each wait doubles up to the cap: 100, 200, 400, 800, 800 ms after the dial began. The
    // timestamps are taken once a dial connected, so a gap is its wait minus how long the earlier
    // dial took, which load can stretch (CI saw 37 ms for the first 100 ms wait): every gap from
    // the third on, and all of them together, must still be at least half the waits. Without the
    // backoff every gap was one tick, 20 ms.
    const gaps = redials.slice(1).map((t, i) => t - redials[i])
    const waits = gaps.map((_, i) => Math.min(settings.maxBackoffMs, settings.minBackoffMs * 2 ** i))
    const shown = `gaps ${gaps.map(Math.round).join(', ')} ms`
    gaps.forEach((gap, i) => {
      if (i >= 2) expect(gap, `gap ${i} of ${shown}`).toBeGreaterThanOrEqual(0.5 * waits[i])
    })
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
    expect(sum(gaps), shown).toBeGreaterThanOrEqual(0.5 * sum(waits))
    const info = lines.filter((l) => l.level === 30 && l.msg === 'reconnected to a lost peer')
    const debug = lines.filter((l) => l.msg === 'reconnected again: the last connection did not last')
    expect(info.length).toBeLessThanOrEqual(1)
    expect(debug.length).toBeGreaterThanOrEqual(4)
  })
})
