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
