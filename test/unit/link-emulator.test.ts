// The user-space WAN link (src/net/link-emulator.ts) over real TCP sockets on 127.0.0.1: it
// delivers every byte in order, no earlier than the pacing and the latency allow, counts them, and
// cut() drops and refuses connections until heal().
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { LinkEmulator, Pacer } from '../../src/net/link-emulator.js'

describe('Pacer', () => {
  it('lets bytes leave one after another at its rate', () => {
    const pacer = new Pacer(1000) // 1 byte per ms
    expect(pacer.departure(100, 0)).toBe(100)
    expect(pacer.departure(100, 0)).toBe(200) // queued behind the first
    expect(pacer.departure(50, 500)).toBe(550) // the uplink was idle meanwhile
  })

  it('is free when unlimited and refuses a rate that is not positive', () => {
    expect(new Pacer(Number.POSITIVE_INFINITY).departure(1e9, 7)).toBe(7)
    expect(() => new Pacer(0)).toThrow(/bytesPerSecond must be positive/)
    expect(() => new Pacer(Number.NaN)).toThrow(/bytesPerSecond must be positive/)
  })
})

/** A server that echoes every byte back. */
async function echoServer(): Promise<Server> {
  const server = createServer((socket) => socket.pipe(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

/** Sends `payload` through `port` and resolves when all of it came back. */
async function roundTrip(port: number, payload: Buffer): Promise<{ echoed: Buffer; ms: number }> {
  const socket = connect({ port, host: '127.0.0.1' })
  await once(socket, 'connect')
  const started = performance.now()
  const parts: Buffer[] = []
  let received = 0
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      parts.push(chunk)
      received += chunk.length
      if (received >= payload.length) resolve()
    })
    socket.on('error', reject)
  })
  socket.write(payload)
  await done
  const ms = performance.now() - started
  socket.destroy()
  return { echoed: Buffer.concat(parts), ms }
}

describe('LinkEmulator', () => {
  const cleanup: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn()
  })

  it('delivers every byte in order, paced and delayed, and counts both directions', async () => {
    const server = await echoServer()
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const link = await LinkEmulator.start({
      targetPort: (server.address() as { port: number }).port,
      latencyMs: 40,
      forward: new Pacer(1_000_000),
      backward: new Pacer(Number.POSITIVE_INFINITY),
    })
    cleanup.push(() => link.close())
    const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251))
    const { echoed, ms } = await roundTrip(link.port, payload)
    expect(echoed.equals(payload)).toBe(true)
    // 200 kB at 1 MB/s take 200 ms to leave, plus 40 ms each way: no byte can be back sooner.
    expect(ms).toBeGreaterThanOrEqual(200 + 2 * 40 - 5)
    expect(link.bytes).toEqual({ forward: payload.length, backward: payload.length })
  })

  it('drops its connections when cut, refuses new ones, and carries traffic again when healed', async () => {
    const server = await echoServer()
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const link = await LinkEmulator.start({
      targetPort: (server.address() as { port: number }).port,
      latencyMs: 0,
      forward: new Pacer(Number.POSITIVE_INFINITY),
      backward: new Pacer(Number.POSITIVE_INFINITY),
    })
    cleanup.push(() => link.close())
    const open: Socket = connect({ port: link.port, host: '127.0.0.1' })
    await once(open, 'connect')
    // an echo through the link: the relay has accepted the connection and connected the target
    open.write('ping')
    await once(open, 'data')
    const closed = once(open, 'close')
    link.cut()
    await closed
    const refused = connect({ port: link.port, host: '127.0.0.1' })
    refused.on('error', () => {})
    await once(refused, 'close')
    expect(refused.bytesRead).toBe(0)
    link.heal()
    const { echoed } = await roundTrip(link.port, Buffer.from('after the partition'))
    expect(echoed.toString()).toBe('after the partition')
  })
})
