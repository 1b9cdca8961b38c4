// Two sites that cannot reach each other and a relay both can reach, made of Linux network
// namespaces by the test itself: site A (10.78.1.2/24) and site B (10.78.2.2/24) each have one
// veth link to the relay's namespace (10.78.1.1 and 10.78.2.1), and no route to the other's
// subnet; the relay does not forward IP packets. A packet from A can reach B only as a libp2p
// circuit through the relay: the situation of two home nodes behind NATs. Needs root and iproute2.
import { execFileSync } from 'node:child_process'
import { ip, namespaceError } from './virtual-lan.js'

let made = 0

export class TwoSites {
  private constructor(private readonly prefix: string) {}

  static create(): TwoSites {
    const sites = new TwoSites(`dtrain-${process.pid}-s${made++}`)
    try {
      const relay = sites.namespace('relay')
      ip(['netns', 'add', relay])
      ip(['-n', relay, 'link', 'set', 'lo', 'up'])
      execFileSync('ip', ['netns', 'exec', relay, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      for (const [site, net] of [
        ['a', 1],
        ['b', 2],
      ] as const) {
        const ns = sites.namespace(site)
        ip(['netns', 'add', ns])
        ip(['-n', ns, 'link', 'set', 'lo', 'up'])
        ip(['-n', relay, 'link', 'add', `to-${site}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
        ip(['-n', relay, 'addr', 'add', `10.78.${net}.1/24`, 'dev', `to-${site}`])
        ip(['-n', relay, 'link', 'set', `to-${site}`, 'up'])
        ip(['-n', ns, 'addr', 'add', `10.78.${net}.2/24`, 'dev', 'eth0'])
        ip(['-n', ns, 'link', 'set', 'eth0', 'up'])
      }
    } catch (err) {
      sites.destroy()
      throw namespaceError(err)
    }
    return sites
  }

  namespace(which: 'a' | 'b' | 'relay'): string {
    return `${this.prefix}-${which}`
  }

  /** A node's address at site a or b; the relay's address on that site's link. */
  address(which: 'a' | 'b'): string {
    return which === 'a' ? '10.78.1.2' : '10.78.2.2'
  }

  relayAddress(which: 'a' | 'b'): string {
    return which === 'a' ? '10.78.1.1' : '10.78.2.1'
  }

  /** Whether a TCP connection from `from`'s namespace to `host:port` opens (nc-free: bash /dev/tcp). */
  canConnect(from: 'a' | 'b' | 'relay', host: string, port: number): boolean {
    try {
      execFileSync(
        'ip',
        [
          'netns',
          'exec',
          this.namespace(from),
          'timeout',
          '2',
          'bash',
          '-c',
          `exec 3<>/dev/tcp/${host}/${port}`,
        ],
        { stdio: 'ignore' },
      )
      return true
    } catch {
      return false
    }
  }

  destroy(): void {
    for (const which of ['a', 'b', 'relay'] as const) {
      try {
        ip(['netns', 'del', this.namespace(which)])
      } catch {
        // not created, or already gone
      }
    }
  }
}
