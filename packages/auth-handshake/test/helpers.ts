import type { Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import net, { type AddressInfo } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import { captureLogs, type CapturedLogs } from '@wsguard/testing'
import { authHandshake, type AuthHandshakeOptions } from '../src/index.js'

export interface TestApp {
  app: FastifyInstance
  logs: CapturedLogs
  url: string
}

export interface BuildOptions {
  /** registers what auth-handshake needs before it (e.g. @fastify/jwt) */
  before?: (app: FastifyInstance) => Promise<void>
  routes?: (app: FastifyInstance) => void
}

/** An app with @fastify/websocket, auth-handshake and a /feed route echoing the principal, listening on loopback. */
export async function buildApp (t: Test, opts: AuthHandshakeOptions, build: BuildOptions = {}): Promise<TestApp> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await build.before?.(app)
  await app.register(authHandshake, opts)
  app.get('/feed', { websocket: true }, (socket, req) => {
    socket.send(JSON.stringify({ principal: req.principal, protocol: socket.protocol }))
  })
  app.get('/http', async (req) => ({ principal: req.principal }))
  build.routes?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, logs, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

export type Attempt =
  | { open: true, message: Record<string, unknown>, protocol: string, responseHeaders: IncomingHttpHeaders }
  | { open: false, status: number, headers: IncomingHttpHeaders, body: string }

export interface ConnectOptions {
  headers?: Record<string, string | string[]>
  protocols?: string[]
  path?: string
  origin?: string
}

/** Opens a real WebSocket; resolves with the first message, or with the HTTP rejection. */
export function connect (t: Test, base: string, options: ConnectOptions = {}): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + (options.path ?? '/feed'), options.protocols ?? [], {
      headers: options.headers ?? {},
      ...(options.origin !== undefined ? { origin: options.origin } : {})
    })
    t.teardown(() => ws.terminate())
    let responseHeaders: IncomingHttpHeaders = {}
    ws.on('upgrade', (res) => { responseHeaders = res.headers })
    ws.on('message', (data) => {
      resolve({ open: true, message: JSON.parse(String(data)), protocol: ws.protocol, responseHeaders })
      ws.close()
    })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ open: false, status: res.statusCode as number, headers: res.headers, body }))
    })
    // A refusal arrives as 'unexpected-response'; anything else going wrong fails the test.
    ws.on('error', reject)
  })
}

/**
 * Sends an upgrade request as written (a WHATWG URL client would drop a fragment, `ws` would
 * check the answer) and resolves with the response head as sent, whatever the server does after
 * it. `headers`: more header lines, each ending in CRLF.
 */
export function rawUpgrade (port: number, path: string, headers = ''): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n`)
    })
    let head = ''
    s.on('data', (d) => {
      head += String(d)
      const end = head.indexOf('\r\n\r\n')
      if (end !== -1) { s.destroy(); resolve(head.slice(0, end)) }
    })
    s.on('close', () => resolve(head))
    s.on('error', () => resolve(head))
  })
}
