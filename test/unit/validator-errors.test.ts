// One mapping from errors to gossip verdicts (src/gossip/validate.ts, STYLE habit 20): a named
// error of a check is the peer's fault; anything else is ours and must never REJECT the peer.
import { describe, expect, it } from 'vitest'
import { GossipCheckError, toVerdict, validate } from '../../src/gossip/validate.js'
import { MalformedMessageError } from '../../src/wire/messages.js'

describe('gossip verdicts from errors', () => {
  it('maps a check failure to its own action and reason', () => {
    expect(toVerdict(new GossipCheckError('reject', 'bad-signature', 'no'))).toEqual({
      action: 'reject',
      reason: 'bad-signature',
      detail: 'no',
    })
    expect(toVerdict(new MalformedMessageError('short')).action).toBe('reject')
  })

  it('answers IGNORE with reason internal-error for our own bug, never REJECT', async () => {
    const verdict = await validate(async () => {
      const broken = undefined as unknown as { field: number }
      return broken.field
    })
    expect(verdict).toMatchObject({ action: 'ignore', reason: 'internal-error' })
    if (verdict.action !== 'accept') expect(verdict.detail).toMatch(/^TypeError: /)
  })
})
