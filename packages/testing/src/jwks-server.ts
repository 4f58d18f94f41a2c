import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A loopback issuer that serves a discovery document and a key set, counting requests. */
export interface JwksServer {
  issuer: string
  jwksUri: string
  /** requests served, by path */
  hits: { discovery: number, jwks: number }
  /** replaces the served key set */
  setKeys(keys: { keys: Array<Record<string, unknown>> }): void
  /** answer every request with this status and body until set back to `undefined` */
  failWith(status: number | undefined, body?: string, headers?: Record<string, string>): void
  /** serve this document as the discovery document instead of the generated one */
  setDiscovery(document: Record<string, unknown> | undefined): void
  close(): Promise<void>
}

export async function startJwksServer (initial: { keys: Array<Record<string, unknown>> }): Promise<JwksServer> {
  let keys = initial
  let failure: { status: number, body: string, headers: Record<string, string> } | undefined
  let discovery: Record<string, unknown> | undefined
  const hits = { discovery: 0, jwks: 0 }
  const server: Server = createServer((req, res) => {
    if (failure !== undefined) {
      res.writeHead(failure.status, failure.headers).end(failure.body)
      return
    }
    if (req.url === '/.well-known/openid-configuration') {
      hits.discovery++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(discovery ?? { issuer, jwks_uri: `${issuer}/jwks` }))
    } else if (req.url === '/jwks') {
      hits.jwks++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keys))
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    hits,
    setKeys (next) { keys = next },
    failWith (status, body = '', headers = {}) { failure = status === undefined ? undefined : { status, body, headers } },
    setDiscovery (document) { discovery = document },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
