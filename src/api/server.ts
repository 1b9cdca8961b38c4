// The node's HTTP endpoint: Prometheus text at /metrics, the status as JSON at /api/status (what
// `dtrain status` reads), and the live status page at /. Read-only; bind it to 127.0.0.1 unless
// the network in between is trusted.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { NodeStatus } from '../node/node.js'
import { STATUS_PAGE } from './status-page.js'

export interface StatusSource {
  status(): Promise<NodeStatus>
  readonly metrics: { readonly registry: Registry }
}

export interface ApiServer {
  /** http://host:port */
  readonly url: string
  close(): Promise<void>
}

export class ApiListenError extends Error {
  override name = 'ApiListenError'
}

/** Parses `host:port` (port 0: any free port); throws with the fix on a bad value. */
export function parseApiAddress(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value)
  const port = m ? Number(m[3]) : Number.NaN
  if (!m || port > 65_535)
    throw new ApiListenError(
      `api address "${value}" is not host:port (for example 127.0.0.1:7464, or 127.0.0.1:0 for any free port)`,
    )
  return { host: m[1] ?? m[2], port }
}

export async function startApiServer(source: StatusSource, address: string): Promise<ApiServer> {
  const { host, port } = parseApiAddress(address)
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
      res.end(body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET\n')
    if (path === '/') return send(200, 'text/html; charset=utf-8', STATUS_PAGE)
    if (path === '/metrics') {
      source.metrics.registry
        .metrics()
        .then((text) => send(200, source.metrics.registry.contentType, text))
        .catch((err: Error) => send(500, 'text/plain', `${err.message}\n`))
      return
    }
    if (path === '/api/status') {
      source
        .status()
        .then((status) => send(200, 'application/json', JSON.stringify(status)))
        .catch((err: Error) => send(500, 'text/plain', `${err.message}\n`))
      return
    }
    send(404, 'text/plain', 'not found: try /, /metrics or /api/status\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ApiListenError(
          err.code === 'EADDRINUSE'
            ? `api address ${address} is in use: choose another with --api host:port (port 0 picks a free one)`
            : `cannot listen on ${address}: ${err.message}`,
        ),
      ),
    )
    server.listen(port, host, () => resolve())
  })
  const bound = server.address() as AddressInfo
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
  return {
    url: `http://${shownHost}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
