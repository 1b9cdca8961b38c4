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

/** Views of the pieces that cover bytes [start, end) of their concatenation, no copy made. */
export function rangePieces(pieces: Pieces, start: number, end: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let at = 0
  for (const piece of pieces) {
    const from = Math.max(start, at)
    const to = Math.min(end, at + piece.length)
    if (from < to) out.push(piece.subarray(from - at, to - at))
    at += piece.length
  }
  return out
}

/** The pieces as one byte source: a range within one piece is a view of it, across pieces a copy. */
export function piecesSource(pieces: Pieces): ByteSource {
  const total = piecesLength(pieces)
  return {
    length: total,
    subarray(start: number, end: number): Uint8Array {
      const parts = rangePieces(pieces, start, end)
      return parts.length === 1 ? parts[0] : joinPieces(parts)
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
