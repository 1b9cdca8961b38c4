// The one gossip validator function (STYLE.md habits 3, 15, 20): every topic's handler runs behind
// it. It applies the allowlist gate, turns an exception a handler did not expect (our own bug)
// into IGNORE with reason internal-error (logged as an error, counted apart; never REJECT, which
// would penalise the honest peer that forwarded the message), counts each message's final verdict
// once by topic and reason, and keeps a connection to a peer whose message passed.

import type { Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { RejectionLog } from '../metrics/rejection-log.js'
import type { Verdict } from './validate.js'

export type GossipTopic =
  | 'delta'
  | 'commit'
  | 'evidence'
  | 'have'
  | 'shard'
  | 'shard-partials'
  | 'shard-evidence'

/** A topic's handler: checks the message in SPEC order and acts on it; answers its final verdict. */
export type GossipHandler = (
  propagationSource: PeerId,
  message: Message,
  origin: PeerId | undefined,
) => Promise<Verdict<unknown>>

export interface GossipValidatorComponents {
  metrics: NodeMetrics
  rejections: RejectionLog
}

export interface GossipValidatorInit {
  /** authors allowed to publish (a private testnet's membership); undefined: everyone */
  allowlist?: readonly string[]
  /** a peer whose message passed validation takes part in the run */
  onAccepted?: (origin: PeerId) => void
}

export type GossipValidatorFn = (topic: GossipTopic, handler: GossipHandler) => TopicValidatorFn

type TopicValidatorFn = (propagationSource: PeerId, message: Message) => Promise<TopicValidatorResult>

export function createGossipValidatorFn(
  components: GossipValidatorComponents,
  init: GossipValidatorInit,
): GossipValidatorFn {
  const allowed = init.allowlist ? new Set(init.allowlist) : undefined
  return (topic, handler) => async (propagationSource, message) => {
    const origin = message.type === 'signed' ? message.from : undefined
    let verdict: Verdict<unknown>
    if (allowed && !(origin && allowed.has(origin.toString()))) {
      // With an allowlist, a message whose author is not on it is dropped whoever relays it. The
      // author is penalised (REJECT); a member that relays it may simply have no list itself, so
      // the message is only ignored and the relay's score left alone.
      verdict = {
        action: origin?.equals(propagationSource) ? 'reject' : 'ignore',
        reason: 'not-allowed',
        detail: 'author not on the allowlist',
      }
    } else {
      try {
        verdict = await handler(propagationSource, message, origin)
      } catch (err) {
        // The handlers check through validate(), which maps the peer's faults: what escapes is ours.
        verdict = {
          action: 'ignore',
          reason: 'internal-error',
          detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        }
      }
    }
    countVerdict(components, topic, verdict, origin)
    if (verdict.action === 'accept' && origin) init.onAccepted?.(origin)
    return verdict.action as TopicValidatorResult
  }
}

/** Counts a verdict by topic and reason; logs a non-accept once per peer and reason per window. */
function countVerdict(
  { metrics, rejections }: GossipValidatorComponents,
  topic: GossipTopic,
  verdict: Verdict<unknown>,
  origin: PeerId | undefined,
): void {
  if (verdict.action === 'accept') {
    metrics.gossipVerdicts.inc({ topic, verdict: 'accept', reason: 'ok' })
    return
  }
  metrics.gossipVerdicts.inc({ topic, verdict: verdict.action, reason: verdict.reason })
  const level = verdict.reason === 'internal-error' ? 'error' : verdict.action === 'reject' ? 'warn' : 'debug'
  rejections.report(
    level,
    origin?.toString(),
    verdict.reason,
    { topic, detail: verdict.detail },
    `${topic} message ${verdict.action === 'ignore' ? 'ignored' : 'rejected'}`,
  )
}
