// A peer whose process is busy is not gone (issue 17): libp2p pinged every connection each 10 s
// and aborted it when the answer took over 5 s, so a node that spent seconds in a large model's
// outer step, or shared its CPU with its trainer, lost its connections and relay reservations
// (the 4-node model-scale drill). A real host in a child process is frozen (SIGSTOP) for 40 s,
// over the moment of a ping (PING_INTERVAL_MS after the host started), then resumed: the
// connection to it must still be the same one. With libp2p's defaults it was aborted.
import { type ChildProcess, spawn } from 'node:child_process'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, type Host, PING_INTERVAL_MS } from '../../src/net/host.js'

/** A host of dtrain's own (the built one) in a child process; resolves with its address. */
function childHost(): Promise<{ child: ChildProcess; address: string }> {
  const hostModule = new URL('../../dist/src/net/host.js', import.meta.url).href
  const code = `
    import { generateKeyPair } from '@libp2p/crypto/keys'
    import { createHost } from '${hostModule}'
    const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    process.stdout.write(host.getMultiaddrs()[0].toString() + '\\n')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: new URL('../..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('\n')) resolve({ child, address: out.trim() })
    })
    child.once('exit', (code) => reject(new Error(`the child host exited with ${code}`)))
  })
}

describe('a busy peer', () => {
  let host: Host | undefined
  let child: ChildProcess | undefined
  afterAll(async () => {
    child?.kill('SIGCONT')
    child?.kill('SIGKILL')
    await host?.stop()
  })

  it('keeps its connection through 40 s of not answering, a ping among them', async () => {
    const started = await childHost()
    child = started.child
    host = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const connection = await host.dial(multiaddr(started.address))
    const peer = connection.remotePeer
    // frozen from well before the first ping until well after it was sent
    const frozenAt = PING_INTERVAL_MS - 35_000
    await new Promise((resolve) => setTimeout(resolve, frozenAt))
    child.kill('SIGSTOP')
    await new Promise((resolve) => setTimeout(resolve, 40_000))
    child.kill('SIGCONT')
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(connection.status).toBe('open')
    expect(host.getConnections(peer).map((c) => c.id)).toContain(connection.id)
  }, 120_000)
})
