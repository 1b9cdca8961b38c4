// A user's own text as the training corpus (SPEC.md 7.4): files in a fixed order, identified in
// the genesis by the hash of their tokens, refused with a clear error when a node's copy differs.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PROTOCOL } from '../../src/constants.js'
import { sha256, toHex } from '../../src/crypto/hash.js'
import {
  CorpusError,
  loadCorpus,
  mobyDickText,
  syntheticText,
  textTokensSha256,
  tokenize,
  userText,
} from '../../src/train/corpus.js'
import { defaultGenesis, parseGenesis } from '../../src/wire/genesis.js'
import { tempDir } from '../fixtures/temp.js'

describe('user text', () => {
  const dir = tempDir('text')
  mkdirSync(join(dir, 'b'))
  writeFileSync(join(dir, 'b', 'two.md'), 'second')
  writeFileSync(join(dir, 'a.txt'), 'first')
  writeFileSync(join(dir, 'c.text'), 'third')
  writeFileSync(join(dir, 'image.png'), 'not text')

  it('reads a folder in path order, text files only, joined by newlines; a file as it is', () => {
    expect(userText(dir)).toBe('first\nsecond\nthird')
    expect(userText(join(dir, 'a.txt'))).toBe('first')
    expect(() => userText(join(dir, 'missing'))).toThrow(CorpusError)
    const empty = tempDir('empty')
    expect(() => userText(empty)).toThrow(/holds no .txt, .md or .text file/)
  })

  it('loads only a copy whose tokens hash to the genesis hash, and asks for the path when none is given', () => {
    const long = join(dir, 'long')
    mkdirSync(long)
    writeFileSync(join(long, 'book.txt'), 'Call me Ishmael. '.repeat(2000))
    const hash = textTokensSha256(tokenize(userText(long)))
    const genesis = defaultGenesis({ preset: 'tiny', dataset: 'text', textSha256: hash })
    const corpus = loadCorpus(genesis.dataset, long)
    expect(corpus.train.length + corpus.heldOut.length).toBe(2000 * 17)
    expect(() => loadCorpus({ ...genesis.dataset, textSha256: 'ab'.repeat(32) }, long)).toThrow(
      /hashes to .*the genesis expects abababab/,
    )
    expect(() => loadCorpus({ ...genesis.dataset, textSha256: 'cd'.repeat(32) })).toThrow(
      /give the path of your copy with --data/,
    )
  })

  it('is refused by the genesis schema without its hash, and the hash without a text source', () => {
    const g = defaultGenesis({ preset: 'tiny' })
    expect(() => parseGenesis({ ...g, dataset: { ...g.dataset, source: 'text' } })).toThrow(
      /dataset.textSha256: a text dataset needs textSha256/,
    )
    expect(() => parseGenesis({ ...g, dataset: { ...g.dataset, textSha256: 'ab'.repeat(32) } })).toThrow(
      /textSha256 belongs to source "text" only/,
    )
  })
})

describe('the built-in corpora are the protocol data (SPEC.md 7.4)', () => {
  const utf8Sha256 = (text: string) => toHex(sha256(new TextEncoder().encode(text)))

  it('the synthetic text is 200,000 characters hashing to datasets.syntheticSha256', () => {
    const text = syntheticText()
    expect(text.length).toBe(200_000)
    expect(utf8Sha256(text)).toBe(PROTOCOL.datasets.syntheticSha256)
  })

  it('Moby Dick is the pinned package version, hashing to datasets.mobyDickSha256', () => {
    const text = mobyDickText()
    expect(text.length).toBe(1_213_006)
    expect(utf8Sha256(text)).toBe(PROTOCOL.datasets.mobyDickSha256)
  })
})
