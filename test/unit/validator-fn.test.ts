// The one gossip validator function (src/gossip/validator-fn.ts): the allowlist gate, our own
// exceptions as IGNORE (never REJECT), and each message's final verdict counted once.
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { beforeAll, describe, expect, it } from 'vitest'
import { createGossipValidatorFn, type GossipHandler } from '../../src/gossip/validator-fn.js'
import { NodeMetrics } from '../../src/metrics/node-metrics.js'
import { RejectionLog } from '../../src/metrics/rejection-log.js'

let author: PeerId
let relay: PeerId

beforeAll(async () => {
  author = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  relay = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
})

const message = (from: PeerId): Message =>
  ({ type: 'signed', from, topic: 't', data: new Uint8Array([1]), sequenceNumber: 1n }) as unknown as Message

function setup(init: { allowlist?: string[] } = {}) {
  const metrics = new NodeMetrics()
  const lines: Array<{ level: string; msg: string }> = []
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        const { level, msg } = JSON.parse(line)
        lines.push({ level: pino.levels.labels[level], msg })
      },
    },
  )
  const accepted: string[] = []
  const validatorFn = createGossipValidatorFn(
    { metrics, rejections: new RejectionLog(logger, 60_000) },
    { ...init, onAccepted: (peer) => accepted.push(peer.toString()) },
  )
  const counts = async () => {
    const { values } = await metrics.gossipVerdicts.get()
    return values.map((v) => `${v.labels.topic} ${v.labels.verdict} ${v.labels.reason} ${v.value}`)
  }
  return { validatorFn, counts, lines, accepted }
}

describe('gossip validator function', () => {
  it('answers IGNORE to an exception the handler did not expect, logs it as an error and counts it apart', async () => {
    const { validatorFn, counts, lines, accepted } = setup()
    const handler: GossipHandler = async () => {
      throw new TypeError('our own bug')
    }
    expect(await validatorFn('commit', handler)(relay, message(author))).toBe('ignore')
    expect(await counts()).toEqual(['commit ignore internal-error 1'])
    expect(lines.some((l) => l.level === 'error' && /commit message ignored/.test(l.msg))).toBe(true)
    expect(accepted).toEqual([])
  })

  it("counts the handler's final verdict once, whatever it is", async () => {
    const { validatorFn, counts } = setup()
    const overLimit: GossipHandler = async () => ({ action: 'ignore', reason: 'over-limit', detail: 'full' })
    const accept: GossipHandler = async () => ({ action: 'accept', value: 1 })
    expect(await validatorFn('commit', overLimit)(relay, message(author))).toBe('ignore')
    expect(await validatorFn('have', accept)(relay, message(author))).toBe('accept')
    expect(await counts()).toEqual(['commit ignore over-limit 1', 'have accept ok 1'])
  })

  it('keeps a connection to the author of an accepted message', async () => {
    const { validatorFn, accepted } = setup()
    await validatorFn('delta', async () => ({ action: 'accept', value: 1 }))(relay, message(author))
    expect(accepted).toEqual([author.toString()])
  })

  it('with an allowlist, rejects a stranger that publishes and ignores a member relaying it, without running the handler', async () => {
    const { validatorFn, counts } = setup({ allowlist: [relay.toString()] })
    let ran = 0
    const handler: GossipHandler = async () => {
      ran++
      return { action: 'accept', value: 1 }
    }
    expect(await validatorFn('delta', handler)(author, message(author))).toBe('reject')
    expect(await validatorFn('delta', handler)(relay, message(author))).toBe('ignore')
    expect(ran).toBe(0)
    expect(await validatorFn('delta', handler)(author, message(relay))).toBe('accept')
    expect(ran).toBe(1)
    expect(await counts()).toEqual([
      'delta reject not-allowed 1',
      'delta ignore not-allowed 1',
      'delta accept ok 1',
    ])
  })
})
