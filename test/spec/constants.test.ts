// SPEC.md's constants table, protocol/constants.json and the code's constants agree.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DELTA_FORMAT_VERSION, MAX_BLOCK_SIZE, MAX_DELTA_MAGNITUDE } from '../../src/codec/delta.js'
import { PROTOCOL } from '../../src/constants.js'
import { HASH_LENGTH } from '../../src/crypto/hash.js'
import { SIGNATURE_LENGTH } from '../../src/crypto/sign.js'

const spec = readFileSync(new URL('../../SPEC.md', import.meta.url), 'utf8')
const constants = JSON.parse(readFileSync(new URL('../../protocol/constants.json', import.meta.url), 'utf8'))

function specTable(): Map<string, string> {
  const section = spec.slice(spec.indexOf('## 13. Constants'), spec.indexOf('## 14.'))
  const rows = new Map<string, string>()
  for (const line of section.split('\n')) {
    const m = line.match(/^\| `([^`]+)` \| ([^|]+) \|/)
    if (m) rows.set(m[1], m[2].trim())
  }
  return rows
}

function flatten(obj: Record<string, unknown>, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === 'object')
      for (const [kk, vv] of flatten(v as Record<string, unknown>, `${prefix}${k}.`)) out.set(kk, vv)
    else out.set(`${prefix}${k}`, String(v))
  }
  return out
}

describe('constants', () => {
  it('SPEC.md section 13 lists every constant of protocol/constants.json with the same value', () => {
    expect(specTable()).toEqual(flatten(constants))
  })

  it('the code reads the same values', () => {
    expect(PROTOCOL).toEqual(constants)
    expect(DELTA_FORMAT_VERSION).toBe(constants.codec.formatVersion)
    expect(HASH_LENGTH).toBe(constants.hashLength)
    expect(SIGNATURE_LENGTH).toBe(constants.signatureLength)
    expect(MAX_BLOCK_SIZE).toBe(constants.codec.maxBlockSize)
    expect(MAX_DELTA_MAGNITUDE).toBe(2 ** constants.limits.maxDeltaMagnitudeLog2)
  })

  it('SPEC.md names the revision of protocol/constants.json', () => {
    expect(spec).toContain(`| Revision | ${constants.specRevision} `)
  })
})
