// Checks of decoded fields shared by every decoder (gossip messages, proof manifests,
// checkpoints); each decoder passes the error type it reports.
import { HASH_LENGTH } from '../crypto/hash.js'

type ErrorType = new (message: string) => Error

/** A uint64 field as a number; refuses values above 2^53 - 1. */
export function safeInteger(value: bigint, field: string, error: ErrorType): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new error(`${field} ${value} exceeds 2^53 - 1`)
  return Number(value)
}

/** A 32-byte hash field. */
export function hashField(bytes: Uint8Array, field: string, error: ErrorType): Uint8Array {
  if (bytes.length !== HASH_LENGTH)
    throw new error(`${field} is ${bytes.length} bytes, expected ${HASH_LENGTH}`)
  return bytes
}
