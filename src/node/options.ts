// A node's options: data and callbacks given at creation (src/node/node.ts), with the defaults
// and the reason for each.

import { availableParallelism } from 'node:os'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { RelayClientMode } from '../net/reachability.js'
import type { ShardAttack } from '../round/shard-attacks.js'
import { type BackendName, isTorchBackend } from '../train/backend-names.js'
import type { Clock } from '../util/clock.js'
import type { Genesis } from '../wire/genesis.js'
import type { Phase } from './interface.js'

export interface NodeOptions {
  genesis: Genesis
  privateKey: PrivateKey
  /** restore the state saved in `stateDir` (default); false for --join, which takes the network's */
  resume?: boolean
  listen?: string[]
  bootstrap?: string[]
  swarmKey?: Uint8Array
  backend?: BackendName
  /** the Python interpreter of the torch backends (default: python3, then /usr/bin/python3) */
  python?: string
  /** torch's intra-op threads (default: torch's own, one per core) */
  trainThreads?: number
  logger: Logger
  /**
   * peer ids allowed to connect and to author gossip (a private testnet's membership); the node's
   * own id need not be listed. Undefined: everyone.
   */
  allowlist?: string[]
  /** with a genesis dataset of source 'text': the path of this node's copy (file or folder) */
  dataPath?: string
  /** the node's state directory: proofs of learning go to DIR/proofs; in memory without one */
  stateDir?: string
  /** rounds of proofs kept (SPEC.md 17.1); default DEFAULT_PROOF_RETENTION */
  proofRetention?: number
  /**
   * training worker threads: 'auto' uses min(inner.microBatches, CPU cores) on the wasm and cpu
   * backends and none on the native ones; 1 trains on the main thread (the default)
   */
  trainWorkers?: number | 'auto'
  /**
   * Drills only: train this many times slower than the machine can (each inner step is followed
   * by a sleep of (factor - 1) times its duration), to play a straggler. Default 1.
   */
  trainSlowdown?: number
  /**
   * shard results taken from aggregators that a node checks against the deltas each round, a
   * random span of each, in a sharded exchange (SPEC.md 18.5); default 2 (DEFAULT_SHARD_CHECKS)
   */
  shardChecks?: number
  /**
   * drills only: the shard checks' draws, each below `n`: which results are checked, then which
   * block of each (default: at random)
   */
  shardCheckDraw?: (n: number) => number
  /**
   * Byzantine drills only: by round, what this node announces instead of its shard results
   * (shard-attacks.ts); undefined: its honest results
   */
  shardAttack?: (round: number) => ShardAttack | undefined
  /**
   * the GPU's dense peak in TFLOPS for the MFU figure on the tensorflow-gpu backend; by default
   * looked up from nvidia-smi's GPU name (flops.ts)
   */
  gpuPeakTflops?: number
  /**
   * reserve a slot on a relay (SPEC.md 2.9): 'auto' (the default) when AutoNAT confirms no public
   * address within a grace period, 'always' from the start, 'off' never
   */
  relayClient?: RelayClientMode
  /** serve as a circuit relay for peers that cannot be reached directly (SPEC.md 2.9) */
  relayServer?: boolean
  /** the most bytes per second the node uploads serving deltas (chunk protocol); default unlimited */
  uploadBytesPerSecond?: number
  /** find peers on the LAN by mDNS (SPEC.md 2.8) */
  mdns?: boolean
  /** ask the LAN's UPnP gateway to forward the listening ports (SPEC.md 2.9) */
  upnp?: boolean
  /** called when the node's relayed addresses change */
  onRelayed?: (addresses: string[]) => void
  /** called after each inner step (a terminal progress bar) */
  onInnerStep?: (step: number, steps: number) => void
  /** called when a phase of a round begins */
  onPhase?: (round: number, phase: Phase) => void
  /** called when the node adopted the network's state of `round` (SPEC.md 12.2) */
  onSynced?: (round: number, weightsHash: string, why: 'behind' | 'minority') => void
  /** the time every part reads and waits on (default: the machine's; tests pass a fake one) */
  clock?: Clock
}

/** Rounds of proof-of-learning checkpoints a node keeps unless told otherwise. */
export const DEFAULT_PROOF_RETENTION = 4

/** How many training workers a node uses (NodeOptions.trainWorkers). */
export function trainWorkersFor(requested: number | 'auto', genesis: Genesis, backend: BackendName): number {
  // torch uses every core within one process (its intra-op threads): workers are tfjs's
  if (isTorchBackend(backend)) return 1
  if (requested !== 'auto') return Math.max(1, Math.min(requested, genesis.inner.microBatches))
  if (backend !== 'wasm' && backend !== 'cpu') return 1
  return Math.max(1, Math.min(genesis.inner.microBatches, availableParallelism()))
}
