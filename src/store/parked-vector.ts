// A vector a large model's node lets go of while it does not need it, kept in a file of its own in
// the state directory (issue 17): the error-feedback residual waits there from the round's
// announcement to the next round's encoding (GlobalState.parkResidual). The file is raw little-endian
// float32 values; whatever reads it back checks them against the digest taken when they were
// written (sha256 of the bytes), so a file changed meanwhile is refused, naming it, never used.
import { writeFile } from 'node:fs/promises'
import { readFloat32s } from '../codec/state.js'
import { bytesEqual, float32LeBytes, sha256, sha256Stream } from '../crypto/hash.js'
import { openIfPresent } from './durable-file.js'

/** Bytes read at a time (16 MiB). */
const BLOCK = 1 << 24

/** Writes `values` to `path` (mode 0600) and returns their digest. */
export async function parkVector(path: string, values: Float32Array): Promise<Uint8Array> {
  const bytes = float32LeBytes(values)
  const digest = sha256(bytes)
  await writeFile(path, bytes, { mode: 0o600 })
  return digest
}

/** The `count` values parked in `path`, checked against `digest`. */
export function readParkedVector(path: string, count: number, digest: Uint8Array): Float32Array {
  const file = openParked(path, count)
  try {
    const values = readFloat32s(file.source, 0, count)
    if (!bytesEqual(sha256(float32LeBytes(values)), digest)) throw changed(path)
    return values
  } finally {
    file.close()
  }
}

/**
 * The bytes of the `count` values parked in `path`, a block at a time (a state write streams them
 * into the state file without holding them); throws after the last block if they are not the
 * values parked, so that a write that consumes them fails before it completes.
 */
export async function* parkedVectorBlocks(
  path: string,
  count: number,
  digest: Uint8Array,
): AsyncGenerator<Uint8Array> {
  const file = openParked(path, count)
  try {
    const hash = sha256Stream()
    for (let at = 0; at < 4 * count; at += BLOCK) {
      const block = file.source.subarray(at, Math.min(at + BLOCK, 4 * count))
      hash.update(block)
      yield block
    }
    if (!bytesEqual(hash.digest(), digest)) throw changed(path)
  } finally {
    file.close()
  }
}

function openParked(path: string, count: number): NonNullable<ReturnType<typeof openIfPresent>> {
  const file = openIfPresent(path)
  if (file === undefined) throw new Error(`${path}, where a vector was parked, is gone`)
  if (file.source.length !== 4 * count) {
    file.close()
    throw new Error(`${path} holds ${file.source.length} bytes, not the ${count} values parked there`)
  }
  return file
}

function changed(path: string): Error {
  return new Error(`${path} is not the vector parked there (digest mismatch): it changed on disk`)
}
