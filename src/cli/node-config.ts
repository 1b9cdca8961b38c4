// A node's configuration (`dtrain start`): one schema for the config file, the environment
// (DTRAIN_*) and the flags, merged in that order, later ones winning: flags over environment over
// file over defaults. Errors name the field, the bad value and the fix; unknown fields are errors.
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import type { Command } from 'commander'
import { z } from 'zod'
import { RELAY_CLIENT_MODES } from '../net/relay-modes.js'
import { BACKEND_NAMES } from '../train/backend-names.js'
import { ConfigError } from './config-files.js'

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

export const nodeConfigSchema = z.strictObject({
  genesis: z.string().min(1),
  state: z.string().min(1),
  key: z.string().min(1).optional(),
  listen: z.array(z.string().startsWith('/')).min(1),
  bootstrap: z.array(z.string().regex(/\/p2p\/[^/]+$/, 'a bootstrap address ends with /p2p/<peer id>')),
  rounds: z.number().int().min(0),
  swarmKey: z.string().min(1).optional(),
  allow: z.array(z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{40,60}$/, 'a peer id (12D3KooW...)')).optional(),
  data: z.string().min(1).optional(),
  trainWorkers: z.union([z.literal('auto'), z.number().int().min(1)]),
  join: z.boolean(),
  proofRetention: z.number().int().min(1),
  api: z.string().regex(/^(off|\[[^\]]+\]:\d+|[^:]+:\d+)$/, 'host:port, or off'),
  startTimeout: z.number().int().min(1),
  logLevel: z.enum(LOG_LEVELS).optional(),
  backend: z.enum(BACKEND_NAMES),
  python: z.string().min(1).optional(),
  trainThreads: z.number().int().min(1).max(1024).optional(),
  slowdown: z.number().min(1).max(1000),
  gpuPeakTflops: z.number().positive().max(100_000).optional(),
  relayClient: z.enum(RELAY_CLIENT_MODES),
  relayServer: z.enum(['auto', 'on', 'off']),
  mdns: z.boolean(),
  upnp: z.boolean(),
  uploadLimit: z.number().positive().optional(),
  shardChecks: z.number().int().min(1).max(1024).optional(),
})

export type NodeConfig = z.infer<typeof nodeConfigSchema>

/** The environment variable of each field: DTRAIN_ and the name in upper snake case. */
export function envName(field: string): string {
  return `DTRAIN_${field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

/** Fields holding paths: relative ones in a config file are relative to that file. */
const PATH_FIELDS = new Set(['genesis', 'state', 'key', 'swarmKey', 'data'])

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  const partial = nodeConfigSchema.partial().safeParse(json)
  if (!partial.success) throw new ConfigError(describe(partial.error, `config file ${path}`, json))
  const out: Record<string, unknown> = { ...partial.data }
  for (const field of PATH_FIELDS)
    if (typeof out[field] === 'string' && !isAbsolute(out[field] as string))
      out[field] = resolve(dirname(path), out[field] as string)
  return out
}

/**
 * Merges the config file (--config or DTRAIN_CONFIG) under what the command line and the
 * environment set (commander already applied flags over DTRAIN_* variables over defaults), then
 * validates the whole.
 */
export async function resolveNodeConfig(command: Command): Promise<NodeConfig> {
  const opts = command.opts() as Record<string, unknown>
  const file = typeof opts.config === 'string' ? await readConfigFile(opts.config) : {}
  const merged: Record<string, unknown> = {}
  for (const field of Object.keys(nodeConfigSchema.shape)) {
    const source = command.getOptionValueSource(field)
    const fromUser = source === 'cli' || source === 'env'
    merged[field] = fromUser || !(field in file) ? opts[field] : file[field]
  }
  const parsed = nodeConfigSchema.safeParse(merged)
  if (!parsed.success) throw new ConfigError(describe(parsed.error, 'node configuration', merged))
  return parsed.data
}

function describe(error: z.ZodError, where: string, data: unknown): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.join('.') || '(top level)'
    let value: unknown = data
    for (const key of issue.path)
      value = (value as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey]
    const missing = issue.path.length > 0 && value === undefined
    const got = issue.path.length > 0 && !missing ? ` (got ${JSON.stringify(value)})` : ''
    const root = String(issue.path[0] ?? '')
    const flag = root ? `--${root.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : ''
    const fix =
      root && root in nodeConfigSchema.shape
        ? ` (set it with ${flag}, ${envName(root)} or "${root}" in the config file)`
        : ''
    return `  ${field}: ${missing ? 'required' : issue.message}${got}${fix}`
  })
  return `${where} is invalid:\n${lines.join('\n')}`
}
