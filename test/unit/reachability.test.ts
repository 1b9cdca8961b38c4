// What a node announces (src/net/reachability.ts, issue 19 §3): relayed addresses through a
// relay's loopback address are useless to every peer on another machine, and are not announced
// unless the node has no other kind of address (a testnet on one machine).
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { announceable, isPrivateAddress, nextLookupWaitMs } from '../../src/net/reachability.js'

const relay = '12D3KooWLX7CbhQG4NE9Z7jVa1KRm6tkX8V6q1JQjXu6V4E9gq2b'
const me = '12D3KooWQ9R3fJqHsUsaN3XXWodXiS55dAabY2W513ZAxBCi6RHu'
const circuit = (ip: string) => `/ip4/${ip}/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${me}`

describe('announced addresses', () => {
  it('drops relayed addresses through a loopback address when the node has others', () => {
    const addresses = [
      '/ip4/127.0.0.1/tcp/4100',
      '/ip4/10.77.0.2/tcp/4100',
      circuit('127.0.0.1'),
      circuit('10.77.0.1'),
      `/ip6/::1/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${me}`,
    ].map((a) => multiaddr(a))
    expect(announceable(addresses).map(String)).toEqual([
      '/ip4/127.0.0.1/tcp/4100',
      '/ip4/10.77.0.2/tcp/4100',
      circuit('10.77.0.1'),
    ])
  })

  it('keeps them on a machine where every address is a loopback one', () => {
    const addresses = ['/ip4/127.0.0.1/tcp/4100', circuit('127.0.0.1')].map((a) => multiaddr(a))
    expect(announceable(addresses)).toEqual(addresses)
  })

  it('tells private from public addresses', () => {
    for (const a of [
      '/ip4/10.0.0.1/tcp/1',
      '/ip4/192.168.1.5/tcp/1',
      '/ip4/172.16.0.1/tcp/1',
      '/ip6/fd00::1/tcp/1',
    ])
      expect(isPrivateAddress(multiaddr(a)), a).toBe(true)
    for (const a of ['/ip4/192.0.2.7/tcp/1', '/ip4/172.32.0.1/tcp/1', '/ip6/2001:db8::1/tcp/1'])
      expect(isPrivateAddress(multiaddr(a)), a).toBe(false)
  })
})

describe('the wait between DHT lookups', () => {
  const settings = { lookupIntervalMs: 5000, lookupMaxIntervalMs: 300_000 }
  it('doubles from the interval up to the maximum while lookups find no one, and is none after one that did', () => {
    const waits: number[] = []
    let wait = 0
    for (let i = 0; i < 9; i++) {
      wait = nextLookupWaitMs(wait, false, settings)
      waits.push(wait)
    }
    expect(waits).toEqual([5000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000])
    expect(nextLookupWaitMs(300_000, true, settings)).toBe(0)
    expect(nextLookupWaitMs(0, false, settings)).toBe(5000)
  })
})
