// Peer scoring and bans (SPEC.md 2.7): dtrain's penalties decay with their half-life, bans expire,
// and the gossipsub parameters built from protocol/constants.json are ones gossipsub accepts.
import {
  createPeerScoreParams,
  createPeerScoreThresholds,
  validatePeerScoreParams,
  validatePeerScoreThresholds,
} from '@libp2p/gossipsub/score'
import { describe, expect, it } from 'vitest'
import { gossipScoreParams, PEER_SCORE, PeerGuard } from '../../src/net/peer-guard.js'

describe('PeerGuard', () => {
  it('adds penalties by reason and halves them every half-life', () => {
    let now = 0
    const guard = new PeerGuard(() => now)
    guard.penalize('p', 'bad-request')
    guard.penalize('p', 'not-found')
    expect(guard.penalty('p')).toBeCloseTo(PEER_SCORE.penaltyBadRequest + PEER_SCORE.penaltyNotFound, 12)
    now = PEER_SCORE.penaltyHalfLifeMs
    expect(guard.penalty('p')).toBeCloseTo(
      (PEER_SCORE.penaltyBadRequest + PEER_SCORE.penaltyNotFound) / 2,
      12,
    )
    expect(guard.penalty('someone else')).toBe(0)
  })

  it('bans for banMs, then lets the peer back', () => {
    let now = 1000
    const guard = new PeerGuard(() => now)
    guard.ban('p')
    expect(guard.isBanned('p')).toBe(true)
    now += PEER_SCORE.banMs - 1
    expect(guard.isBanned('p')).toBe(true)
    now += 1
    expect(guard.isBanned('p')).toBe(false)
  })

  it('names the connected peers whose score is below the graylist threshold', () => {
    const scores: Record<string, number> = {
      a: 5,
      b: PEER_SCORE.graylistThreshold,
      c: PEER_SCORE.graylistThreshold - 1,
    }
    expect(new PeerGuard().due(Object.keys(scores), (p) => scores[p])).toEqual(['c'])
  })

  it('falls below the graylist threshold after eleven bad requests, not after a thousand not-founds', () => {
    const guard = new PeerGuard(() => 0)
    for (let i = 0; i < 1000; i++) guard.penalize('honest', 'not-found')
    for (let i = 0; i < 10; i++) guard.penalize('flooder', 'bad-request')
    expect(guard.due(['flooder'], (p) => -guard.penalty(p))).toEqual([]) // exactly at the threshold
    guard.penalize('flooder', 'bad-request')
    const score = (p: string) => -guard.penalty(p) * PEER_SCORE.appSpecificWeight
    expect(guard.due(['honest', 'flooder'], score)).toEqual(['flooder'])
  })
})

describe('gossipScoreParams', () => {
  it('builds parameters and thresholds that gossipsub validates, scoring the three topics', () => {
    const guard = new PeerGuard()
    guard.penalize('x', 'bad-chunk')
    const { params, thresholds } = gossipScoreParams(['t/delta', 't/commit', 't/evidence'], (p) =>
      guard.penalty(p),
    )
    const full = createPeerScoreParams(params)
    expect(() => validatePeerScoreParams(full)).not.toThrow()
    expect(() => validatePeerScoreThresholds(createPeerScoreThresholds(thresholds))).not.toThrow()
    expect(Object.keys(full.topics)).toEqual(['t/delta', 't/commit', 't/evidence'])
    expect(full.topics['t/delta'].invalidMessageDeliveriesWeight).toBe(PEER_SCORE.invalidMessageWeight)
    expect(full.topics['t/delta'].meshMessageDeliveriesWeight).toBe(0)
    expect(full.appSpecificScore('x')).toBeCloseTo(-PEER_SCORE.penaltyBadChunk, 1)
  })
})
