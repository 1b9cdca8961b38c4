// Structured logs (pino): one JSON event per line on stderr, so stdout stays for command output.
import { type Logger, pino } from 'pino'

export type { Logger }

export function createLogger(
  level: string = process.env.DTRAIN_LOG_LEVEL ?? 'info',
  name = 'dtrain',
): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2))
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/**
 * What went wrong, as one line for a log: an error's message (or its name when it has none), or
 * whatever else was thrown, named. A log line must say why, even when a library throws something
 * that is not an Error (a stream closed under a serve logged no reason at all: issue 17's drill).
 */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  if (typeof err === 'object' && err !== null) {
    const { message, code, name } = err as { message?: unknown; code?: unknown; name?: unknown }
    const text = [name, code, message].filter((x) => typeof x === 'string' && x !== '').join(': ')
    return text === '' ? `a thrown ${err.constructor?.name ?? 'object'} without a message` : text
  }
  return err === undefined ? 'no reason given (undefined was thrown)' : `${typeof err} ${String(err)}`
}
