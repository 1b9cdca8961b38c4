import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { describeError } from '../../src/log.js'
import { RejectionLog } from '../../src/metrics/rejection-log.js'

describe('rejection log', () => {
  it('writes one line per peer and reason per window, and reports how many were suppressed', () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
    let now = 0
    const log = new RejectionLog(logger, 1000, () => now)
    for (let i = 0; i < 100; i++) log.report('warn', 'peerA', 'bad-signature', {}, 'rejected')
    log.report('warn', 'peerA', 'malformed', {}, 'rejected')
    log.report('warn', 'peerB', 'bad-signature', {}, 'rejected')
    expect(lines).toHaveLength(3)
    now = 1500
    log.report('warn', 'peerA', 'bad-signature', {}, 'rejected')
    expect(lines).toHaveLength(4)
    expect(lines[3]).toMatchObject({ remote: 'peerA', reason: 'bad-signature', suppressedSinceLast: 99 })
  })

  it('stays bounded under a flood of distinct peers', () => {
    const logger = pino({ level: 'silent' })
    const log = new RejectionLog(logger, 60_000, () => 0)
    for (let i = 0; i < 50_000; i++) log.report('warn', `peer${i}`, 'malformed', {}, 'rejected')
    expect((log as unknown as { seen: Map<string, unknown> }).seen.size).toBeLessThanOrEqual(10_000)
  })
})

describe('describeError', () => {
  it('says why, whatever was thrown: never an empty reason', () => {
    expect(describeError(new Error('stream reset'))).toBe('stream reset')
    const unnamed = new Error('')
    unnamed.name = 'StreamResetError'
    expect(describeError(unnamed)).toBe('StreamResetError')
    expect(describeError({ name: 'AbortError', code: 'ABORT_ERR' })).toBe('AbortError: ABORT_ERR')
    expect(describeError({})).toBe('a thrown Object without a message')
    expect(describeError(undefined)).toBe('no reason given (undefined was thrown)')
    expect(describeError('closed')).toBe('string closed')
  })
})
