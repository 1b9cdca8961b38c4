// Argument parsers shared by the commands: each names the option and the value it refused.
import { InvalidArgumentError } from 'commander'

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer (got ${value})`)
    return n
  }
}

/** A number >= 1 (a factor). */
export function atLeastOne(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isFinite(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a number >= 1 (got ${value})`)
    return n
  }
}

/** A finite number > 0. */
export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a number > 0 (got ${value})`)
    return n
  }
}

/** Bytes per second: a number with an optional K, M or G (powers of 1000), e.g. 2.5M. */
export function byteRate(name: string) {
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:B\/s|B)?$/i.exec(value.trim())
    const n = m ? Number(m[1]) * 1000 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase()) : Number.NaN
    if (!(n >= 1) || !Number.isFinite(n))
      throw new InvalidArgumentError(
        `${name} must be bytes per second such as 500K, 2.5M or 1G (got ${value})`,
      )
    return n
  }
}

export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer (got ${value})`)
    return n
  }
}

/** Repeatable options; from the environment, a comma-separated list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter((v) => v.length > 0)]
}

/**
 * collect() for an option with a non-empty default: commander hands the default in as `previous`
 * on the first value, so `--listen X` used to listen on the default address and on X. The values
 * given replace the default.
 */
export function collectReplacing(defaults: readonly string[]) {
  return (value: string, previous: string[] | readonly string[]): string[] =>
    collect(value, previous === defaults ? [] : [...previous])
}
