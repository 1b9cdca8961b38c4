// An object held as consecutive pieces, read by range without joining them: a state is its header
// and three vectors of the model's size (SPEC.md 12.1), whose little-endian bytes are the vectors'
// own memory, so the joined copy (12 d bytes, 1.3 GB at 110 M parameters) is never made (issue 17).
import type { ByteSource } from './delta.js'

export type Pieces = readonly Uint8Array[]

/** One buffer or its pieces, as pieces. */
export function asPieces(bytes: Uint8Array | Pieces): Pieces {
  return bytes instanceof Uint8Array ? [bytes] : bytes
}

export function piecesLength(pieces: Pieces): number {
  return pieces.reduce((sum, piece) => sum + piece.length, 0)
}

/** The pieces as one byte source: a range within one piece is a view of it, across pieces a copy. */
export function piecesSource(pieces: Pieces): ByteSource {
  const starts: number[] = []
  let total = 0
  for (const piece of pieces) {
    starts.push(total)
    total += piece.length
  }
  return {
    length: total,
    subarray(start: number, end: number): Uint8Array {
      const from = Math.max(0, Math.min(start, total))
      const to = Math.max(from, Math.min(end, total))
      let i = 0
      while (i + 1 < pieces.length && starts[i + 1] <= from) i++
      if (to - starts[i] <= pieces[i].length) return pieces[i].subarray(from - starts[i], to - starts[i])
      const out = new Uint8Array(to - from)
      for (let at = from; at < to; i++) {
        const part = pieces[i].subarray(at - starts[i], Math.min(pieces[i].length, to - starts[i]))
        out.set(part, at - from)
        at += part.length
      }
      return out
    },
  }
}

/** The pieces joined into one new buffer. */
export function joinPieces(pieces: Pieces): Uint8Array {
  const out = new Uint8Array(piecesLength(pieces))
  let at = 0
  for (const piece of pieces) {
    out.set(piece, at)
    at += piece.length
  }
  return out
}
