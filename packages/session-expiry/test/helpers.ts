import type { Test } from 'tap'
import { channel, requirePrincipal, type Principal, type Revocation, type RevocationStore } from '@wsguard/core'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import websocket, { type WebsocketPluginOptions } from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import type WebSocket from 'ws'
import { authHandshake } from '@wsguard/auth-handshake'
import { captureLogs, claimsFor, type CapturedLogs, connectSocket, FakeClock, generateKey, jwks, mintToken, openSocket, type Refusal, type SocketClient } from '@wsguard/testing'
import { MemoryRevocationStore, sessionExpiry, type SessionExpiryOptions } from '../src/index.js'

export const ISS = 'https://idp.test'
export const AUD = 'feed-api'
export const key = generateKey('ES256')
/** A whole second, so token times in seconds line up with the fake clock. */
export const T0 = 1_800_000_000_000

/** A clock whose time runs `ahead` of its timers: the scheduler's callbacks are late, as behind a busy loop. */
export class LateTimers extends FakeClock {
  ahead = 0
  override now (): number { return super.now() + this.ahead }
}

export interface Harness {
  app: FastifyInstance
  clock: FakeClock
  base: string
  token: (sub: string, lifetimeS: number, extra?: Record<string, unknown>) => string
}

export interface HarnessOptions {
  session?: Omit<SessionExpiryOptions, 'clock'>
  routes?: (app: FastifyInstance) => void
  before?: (app: FastifyInstance) => Promise<void>
  auth?: boolean
  /** auth-handshake's clock tolerance, ms. Default 0 */
  clockToleranceMs?: number
  /** @fastify/websocket's options */
  websocket?: WebsocketPluginOptions
  /** the clock both plugins share; default a FakeClock at T0 */
  clock?: FakeClock
  /** where the app's logger writes, at error level; default no logger */
  logs?: CapturedLogs
}

/**
 * auth-handshake and session-expiry on one fake clock, with /feed: it echoes every frame it
 * receives as `echo:<frame>`, and answers `who` with the current principal's id and expiry.
 */
export async function harness (t: Test, opts: HarnessOptions = {}): Promise<Harness> {
  const clock = opts.clock ?? new FakeClock(T0)
  const app = Fastify(opts.logs !== undefined ? { logger: { level: 'error', stream: opts.logs.stream } } : {})
  t.teardown(() => app.close())
  await app.register(websocket, opts.websocket ?? {})
  if (opts.auth !== false) {
    await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), clockToleranceMs: opts.clockToleranceMs ?? 0 }, clock })
  }
  await opts.before?.(app)
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, ...opts.session, clock })
  app.get('/feed', { websocket: true, config: { auth: { scopes: ['feed:read'] } } }, (socket, req) => {
    socket.on('message', (data) => {
      const text = String(data)
      if (text === 'who') {
        const { id, expiresAt, claims } = requirePrincipal(req)
        socket.send(JSON.stringify({ id, expiresAt, tenant: claims.tenant }))
      } else socket.send(`echo:${text}`)
    })
  })
  opts.routes?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const token = (sub: string, lifetimeS: number, extra: Record<string, unknown> = {}): string =>
    mintToken(key, { ...claimsFor(ISS, AUD, sub, clock.now(), lifetimeS), scope: 'feed:read', ...extra })
  return { app, clock, base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`, token }
}

/**
 * session-expiry alone (no auth-handshake), its principal set by an onRequest hook, and /ws:
 * it echoes every frame as `echo:<frame>` unless `onFrame` says it handled it. Logs at error
 * level are captured.
 */
export async function bare (t: Test, opts: SessionExpiryOptions, principal?: Principal, extra: {
  clock?: FakeClock
  onFrame?: (text: string, socket: WebSocket, request: FastifyRequest) => boolean
  /** runs after the plugin is registered, before the route is added (an onRoute hook) */
  build?: (app: FastifyInstance) => void
} = {}) {
  const logs = captureLogs()
  const clock = extra.clock ?? new FakeClock(T0)
  const app = Fastify({ logger: { level: 'error', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  if (principal !== undefined) {
    app.decorateRequest('principal', null as never)
    app.addHook('onRequest', async (req) => { req.principal = principal })
  }
  await app.register(sessionExpiry, { clock, heartbeatMs: 0, idleTimeoutMs: 0, ...opts })
  extra.build?.(app)
  const sockets: Array<{ readyState: number }> = []
  app.get('/ws', { websocket: true }, (socket, req) => {
    sockets.push(socket)
    socket.on('message', (d) => { if (extra.onFrame?.(String(d), socket, req) !== true) socket.send(`echo:${String(d)}`) })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, logs, clock, sockets, base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

export type Client = SocketClient
export type Refused = Refusal

/** Opens a real socket with a bearer token; resolves once open, or with the refusal. */
export function connect (t: Test, url: string, token?: string, client: WebSocket.ClientOptions = {}): Promise<Client | Refused> {
  return connectSocket(url, { ...(token !== undefined ? { token } : {}), client, teardown: (fn) => t.teardown(fn) })
}

export async function open (t: Test, url: string, token?: string, client: WebSocket.ClientOptions = {}): Promise<Client> {
  return await openSocket(url, { ...(token !== undefined ? { token } : {}), client, teardown: (fn) => t.teardown(fn) })
}

interface Listened<M> { seen: M[], wait: (test: (m: M) => boolean) => Promise<M> }

/** Collects a channel's messages; `wait` resolves with the first (past or future) that passes `test`. */
export function listen<M> (t: Test, name: Parameters<typeof channel>[0]): Listened<M> {
  const seen: M[] = []
  const waiters: Array<{ test: (m: M) => boolean, resolve: (m: M) => void }> = []
  const l = (m: unknown): void => {
    seen.push(m as M)
    for (const w of [...waiters]) if (w.test(m as M)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m as M) }
  }
  channel(name).subscribe(l as never)
  t.teardown(() => channel(name).unsubscribe(l as never))
  return {
    seen,
    wait: (test) => {
      const found = seen.find(test)
      return found !== undefined ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ test, resolve }))
    }
  }
}

/**
 * A `MemoryRevocationStore` behind a store that records every `revoke()` asked of it (and
 * throws for those `refuse` picks). `store.revoke()` delivers a record as another instance's
 * would arrive: not through the recording store.
 */
export function recordingRevocations (refuse: (r: Revocation) => boolean = () => false): { store: MemoryRevocationStore, records: Revocation[], revocations: RevocationStore } {
  const store = new MemoryRevocationStore()
  const records: Revocation[] = []
  const revocations: RevocationStore = {
    isRevoked: (p, now) => store.isRevoked(p, now),
    revoke: async (r) => {
      records.push(r)
      if (refuse(r)) throw new Error('the store refused the write')
      await store.revoke(r)
    },
    subscribe: (l) => store.subscribe(l)
  }
  return { store, records, revocations }
}
