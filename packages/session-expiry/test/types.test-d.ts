// Type tests: compiled by `pnpm typecheck`, never run. Each public option is used once with
// its right type and once, under @ts-expect-error, with a wrong one.
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { sessionOf, type AuthOutcome, type SessionInfo } from '@wsguard/core'
import { FakeClock } from '@wsguard/testing'
import {
  sessionExpiry, MemoryRevocationStore, MemorySessionRegistry, DEFAULT_MESSAGES, DEFAULT_NOTICE_MS, DEFAULT_MAX_SESSIONS_RETRY_AFTER_MS,
  DEFAULT_MIN_REMAINING_MS, DEFAULT_SHUTDOWN, BUILT_IN_CLOSED_SUBPROTOCOLS, type ShutdownOrder,
  type SessionExpiryOptions, type WsSession, type ControlMessageNames, type RefreshAuthenticator, type RevokeOptions
} from '../src/index.js'

const authenticate: RefreshAuthenticator = async (token, request): Promise<AuthOutcome> => (token.length > 0 && request.principal !== null ? { ok: true, principal: request.principal } : { ok: false, code: 'WSG_TOKEN_INVALID' })
const messages: ControlMessageNames = { ...DEFAULT_MESSAGES, refresh: 'reauth' }

const options: SessionExpiryOptions = {
  noticeMs: DEFAULT_NOTICE_MS,
  graceMs: 5_000,
  maxLifetimeMs: 8 * 3_600_000,
  idleTimeoutMs: 300_000,
  heartbeatMs: 30_000,
  refresh: true,
  refreshLimit: { max: 5, windowMs: 60_000 },
  authenticate,
  messages,
  maxControlFrameBytes: 16_384,
  registry: new MemorySessionRegistry(),
  revocations: new MemoryRevocationStore({ maxRecords: 100_000 }),
  revocationRetentionMs: 86_400_000,
  revocationTimeoutMs: 2_000,
  refreshTimeoutMs: 10_000,
  maxSessionsPerPrincipal: 5,
  maxSessionsRetryAfterMs: DEFAULT_MAX_SESSIONS_RETRY_AFTER_MS,
  closeTimeoutMs: 5_000,
  realm: 'wsguard',
  closedSubprotocols: ['acme.v1'],
  minRemainingMs: DEFAULT_MIN_REMAINING_MS,
  shutdown: 'after-preclose',
  clock: new FakeClock()
}
const builtIn: readonly string[] = BUILT_IN_CLOSED_SUBPROTOCOLS
const order: ShutdownOrder = DEFAULT_SHUTDOWN
// @ts-expect-error closedSubprotocols is a list
const badClosed: SessionExpiryOptions = { closedSubprotocols: 'graphql-ws' }
// @ts-expect-error minRemainingMs is a number
const badRemaining: SessionExpiryOptions = { minRemainingMs: '1s' }
// @ts-expect-error shutdown is one of two orders
const badShutdown: SessionExpiryOptions = { shutdown: 'last' }
// The session from the raw request is session-expiry's WsSession once its types are loaded.
declare const rawRequest: import('node:http').IncomingMessage
const fromRaw: WsSession | null = sessionOf(rawRequest)
const frames: boolean | undefined = fromRaw?.controlFrames
// @ts-expect-error it is typed (not `null` alone, as it is without session-expiry's types)
const untyped: null = sessionOf(rawRequest)

// @ts-expect-error noticeMs is a number of ms
const badNotice: SessionExpiryOptions = { noticeMs: '1m' }
// @ts-expect-error graceMs is a number
const badGrace: SessionExpiryOptions = { graceMs: true }
// @ts-expect-error maxLifetimeMs is a number
const badLifetime: SessionExpiryOptions = { maxLifetimeMs: '8h' }
// @ts-expect-error idleTimeoutMs is a number
const badIdle: SessionExpiryOptions = { idleTimeoutMs: null }
// @ts-expect-error heartbeatMs is a number
const badHeartbeat: SessionExpiryOptions = { heartbeatMs: '30s' }
// @ts-expect-error refresh is a boolean
const badRefresh: SessionExpiryOptions = { refresh: 'yes' }
// @ts-expect-error refreshLimit needs windowMs
const badLimit: SessionExpiryOptions = { refreshLimit: { max: 5 } }
// @ts-expect-error authenticate returns a promise of an outcome
const badAuth: SessionExpiryOptions = { authenticate: () => true }
// @ts-expect-error messages has known keys only
const badMessages: SessionExpiryOptions = { messages: { logout: 'x' } }
// @ts-expect-error maxControlFrameBytes is a number
const badBytes: SessionExpiryOptions = { maxControlFrameBytes: '16k' }
// @ts-expect-error registry implements SessionRegistry
const badRegistry: SessionExpiryOptions = { registry: new Map() }
// @ts-expect-error revocations implements RevocationStore
const badStore: SessionExpiryOptions = { revocations: {} }
// @ts-expect-error revocationRetentionMs is a number
const badRetention: SessionExpiryOptions = { revocationRetentionMs: '1d' }
// @ts-expect-error closeTimeoutMs is a number
const badClose: SessionExpiryOptions = { closeTimeoutMs: '5s' }
// @ts-expect-error refreshTimeoutMs is a number
const badRefreshTimeout: SessionExpiryOptions = { refreshTimeoutMs: '10s' }
// @ts-expect-error revocationTimeoutMs is a number
const badRevocationTimeout: SessionExpiryOptions = { revocationTimeoutMs: '2s' }
// @ts-expect-error maxSessionsPerPrincipal is a number
const badCap: SessionExpiryOptions = { maxSessionsPerPrincipal: '5' }
// @ts-expect-error maxSessionsRetryAfterMs is a number
const badCapRetry: SessionExpiryOptions = { maxSessionsRetryAfterMs: '30s' }
// @ts-expect-error realm is a string
const badRealm: SessionExpiryOptions = { realm: 1 }
// @ts-expect-error clock needs timers
const badClock: SessionExpiryOptions = { clock: { now: () => 1 } }

const app = Fastify()
await app.register(websocket)
await app.register(sessionExpiry, options)
app.get('/feed', { websocket: true }, (socket, req) => {
  const s: WsSession = req.wsSession
  const id: string = s.id
  const expiresAt: number | undefined = s.expiresAt
  const deadline: number = s.deadline
  s.on('expiring', (e) => { const at: number = e.deadline; socket.send(String(at)) })
  s.on('refreshed', (e) => { socket.send(e.principal.id) })
  s.on('refresh_failed', (e) => { socket.send(e.code) })
  s.on('topic-revoked', (e) => { socket.send(e.topic) })
  s.on('revoked', (e) => { socket.send(`${e.by} ${e.revocation?.instance ?? ''}`) })
  s.on('closed', (e) => { app.log.info(e.code) })
  // @ts-expect-error no such event
  s.on('expired', () => {})
  s.trackTopic('orders.acme.eu', 'subscribe')
  s.trackTopic('orders.acme.eu', 'publish')
  s.untrackTopic('orders.acme.eu', 'publish')
  s.untrackTopic('orders.acme.eu')
  const held: ReadonlySet<string> | undefined = s.topics.get('orders.acme.eu')
  // @ts-expect-error the actions held on a topic are a set, not one action
  const one: string | undefined = s.topics.get('orders.acme.eu')
  socket.send(String(held?.size ?? one))
  socket.send(JSON.stringify({ id, expiresAt, deadline }))
})
app.get('/unmanaged', { websocket: true, config: { session: false } }, () => {})
// @ts-expect-error config.session is false or absent
app.get('/bad', { websocket: true, config: { session: true } }, () => {})

const { closed }: { closed: number } = await app.wsSessions.revoke({ subject: 'alice' })
await app.wsSessions.revoke({ subject: 'alice', issuer: 'https://idp.example' })
await app.wsSessions.revoke({ sessionId: 's' })
await app.wsSessions.revoke({ sessionId: 's', issuer: 'https://idp.example' })
await app.wsSessions.revoke({ tokenId: 'j' })
await app.wsSessions.revoke({ issuer: 'https://idp.example' })
// @ts-expect-error a filter needs one of its keys
await app.wsSessions.revoke({ user: 'alice' })
const revokeOptions: RevokeOptions = { actor: 'admin:42', reason: 'account locked' }
await app.wsSessions.revoke({ subject: 'alice' }, revokeOptions)
// @ts-expect-error actor is a string
await app.wsSessions.revoke({ subject: 'alice' }, { actor: 42 })
// @ts-expect-error only actor and reason
await app.wsSessions.revoke({ subject: 'alice' }, { instance: 'api-1' })
const list: readonly SessionInfo[] = await app.wsSessions.list({ subject: 'alice' })
const size: number = app.wsSessions.size

// @ts-expect-error maxRecords is a number
const badMaxRecords = new MemoryRevocationStore({ maxRecords: '10' })

export { badMaxRecords, badNotice, badGrace, badLifetime, badIdle, badHeartbeat, badRefresh, badLimit, badAuth, badMessages, badBytes, badRegistry, badStore, badRetention, badClose, badRevocationTimeout, badRefreshTimeout, badCap, badCapRetry, badRealm, badClock, closed, list, size, builtIn, order, badClosed, badRemaining, badShutdown, fromRaw, frames, untyped }
