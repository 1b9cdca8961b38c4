// Tokenizers (SPEC.md 7.1, 7.8). Tokenization happens in TypeScript, so every node and every
// auditor trains on the same tokens whatever backend trains: the character vocabulary of the
// char-transformer, UTF-8 bytes (a GPT's default: no dependency, 256 tokens) or GPT-2's byte-level
// BPE (50,257 tokens, through js-tiktoken's r50k/gpt2 ranks).
import { createRequire } from 'node:module'
import type { Tiktoken } from 'js-tiktoken/lite'

/** The char-transformer's fixed character vocabulary (SPEC.md 7.1). */
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

export const GPT_TOKENIZERS = ['bytes', 'gpt2'] as const
export type GptTokenizer = (typeof GPT_TOKENIZERS)[number]
export type TokenizerName = 'chars' | GptTokenizer

/** Vocabulary sizes (SPEC.md 7.8): a GPT's model.vocabSize must be its tokenizer's. */
export const TOKENIZER_VOCAB: Record<GptTokenizer, number> = { bytes: 256, gpt2: 50_257 }

/** A token sequence: one byte a token up to 256 tokens, two (little-endian) above. */
export type Tokens = Uint8Array | Uint16Array

let gpt2: Tiktoken | undefined

export function encodeText(text: string, tokenizer: TokenizerName): Tokens {
  if (tokenizer === 'chars') return tokenize(text)
  if (tokenizer === 'bytes') return new TextEncoder().encode(text)
  if (!gpt2) {
    // Loaded on first use: the ranks are 1.7 MB of JavaScript that most commands never need.
    const require = createRequire(import.meta.url)
    const { Tiktoken } = require('js-tiktoken/lite') as typeof import('js-tiktoken/lite')
    gpt2 = new Tiktoken(require('js-tiktoken/ranks/gpt2').default ?? require('js-tiktoken/ranks/gpt2'))
  }
  return Uint16Array.from(gpt2.encode(text))
}

/** The tokens' bytes as SPEC.md 7.4 hashes them (u16 tokens little-endian). */
export function tokenBytes(tokens: Tokens): Uint8Array {
  return new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength)
}
