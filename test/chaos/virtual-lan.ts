// A LAN of Linux network namespaces made by the test itself: one namespace per node, each with a
// veth pair into a "switch" namespace that holds two bridges. Every node starts on bridge A; a
// split moves some nodes' ports to bridge B, which partitions the network at layer 2 (the halves
// cannot exchange a single packet, open TCP connections stall), and heal() moves them back.
// Needs root and iproute2; nothing of it touches the host's own network namespace.
import { execFileSync } from 'node:child_process'

let lans = 0

/** The error a drill fails with when it cannot build its namespaces: it says why, never passes. */
export function namespaceError(err: unknown): Error {
  const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message
  return new Error(
    `cannot create network namespaces for this drill (${detail}); it needs root and iproute2 ('ip netns'), as CI has: run the suite as root`,
  )
}

export function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

export class VirtualLan {
  private constructor(
    private readonly prefix: string,
    readonly size: number,
  ) {}

  /** Creates the namespaces; throws, saying why, when this machine cannot. */
  static create(size: number): VirtualLan {
    const prefix = `dtrain-${process.pid}-${lans++}`
    const lan = new VirtualLan(prefix, size)
    try {
      const sw = lan.switchNamespace
      ip(['netns', 'add', sw])
      ip(['-n', sw, 'link', 'set', 'lo', 'up'])
      for (const bridge of ['bra', 'brb']) {
        ip(['-n', sw, 'link', 'add', bridge, 'type', 'bridge'])
        ip(['-n', sw, 'link', 'set', bridge, 'up'])
      }
      for (let i = 0; i < size; i++) {
        const ns = lan.namespace(i)
        ip(['netns', 'add', ns])
        ip(['-n', ns, 'link', 'set', 'lo', 'up'])
        ip(['-n', sw, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
        ip(['-n', sw, 'link', 'set', `p${i}`, 'master', 'bra', 'up'])
        ip(['-n', ns, 'addr', 'add', `${lan.address(i)}/24`, 'dev', 'eth0'])
        ip(['-n', ns, 'link', 'set', 'eth0', 'up'])
      }
    } catch (err) {
      lan.destroy()
      throw namespaceError(err)
    }
    return lan
  }

  private get switchNamespace(): string {
    return `${this.prefix}-sw`
  }

  namespace(i: number): string {
    return `${this.prefix}-n${i}`
  }

  address(i: number): string {
    return `10.77.0.${i + 1}`
  }

  /** Routes multicast (mDNS) out of every node's LAN interface. */
  enableMulticast(): void {
    for (let i = 0; i < this.size; i++)
      ip(['-n', this.namespace(i), 'route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
  }

  /** Moves `nodes` to the second bridge: they reach each other, and nobody else. */
  split(nodes: readonly number[]): void {
    for (const i of nodes) ip(['-n', this.switchNamespace, 'link', 'set', `p${i}`, 'master', 'brb'])
  }

  heal(): void {
    for (let i = 0; i < this.size; i++)
      ip(['-n', this.switchNamespace, 'link', 'set', `p${i}`, 'master', 'bra'])
  }

  /** Deletes every namespace (their interfaces go with them). Safe to call twice. */
  destroy(): void {
    for (const ns of [
      this.switchNamespace,
      ...Array.from({ length: this.size }, (_, i) => this.namespace(i)),
    ]) {
      try {
        ip(['netns', 'del', ns])
      } catch {
        // not created, or already gone
      }
    }
  }
}
