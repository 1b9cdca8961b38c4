// BENCHMARKS.md: each benchmark that reports there owns one section, between its own markers,
// and rewrites only that section, so that runs with different settings share one file.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'

/**
 * Replaces this report's section of `file` (between its begin and end markers) or appends it, so
 * that runs with different settings (a tiny and a small model) share one BENCHMARKS.md.
 */
export function writeSection(file: string, key: string, body: string): void {
  const begin = `<!-- begin ${key} -->`
  const end = `<!-- end ${key} -->`
  const section = `${begin}\n${body}\n${end}`
  const existing = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# dtrain benchmarks\n\nEach section is written by the script it names; do not edit them by hand.\n'
  const from = existing.indexOf(begin)
  const to = existing.indexOf(end)
  const next =
    from >= 0 && to > from
      ? `${existing.slice(0, from)}${section}${existing.slice(to + end.length)}`
      : `${existing.trimEnd()}\n\n${section}\n`
  writeFileSync(file, next)
}
