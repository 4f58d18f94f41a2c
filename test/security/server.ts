// The server the security suite attacks: Fastify with all four plugins on one fake clock,
// set up as the plugins' READMEs tell an app to (redacting request serializer on the app's
// logger, a not-found handler that does not echo the URL), and with what they do not say
// yet: `err.rawPacket` redacted (Fastify's trace-level client-error line carries the raw
// request head) and `frameworkErrors` answered without the URL (Fastify's default answer to
// a URL it cannot decode, or a parameter past maxParamLength, repeats the URL, query included).
import { STATUS_CODES, type ServerOptions } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, {
  type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions
} from 'fastify'
import websocket from '@fastify/websocket'
import { Type } from '@sinclair/typebox'
import type { Test } from 'tap'
import {
  authHandshake, redactingReqSerializer, type AuthHandshakeOptions, type JwtKeySetIssuerOptions
} from '@wsguard/auth-handshake'
import { sessionExpiry, type SessionExpiryOptions } from '@wsguard/session-expiry'
import { telemetry, type TelemetryOptions } from '@wsguard/telemetry'
import { topicAuthz } from '@wsguard/topic-authz'
import { credentialRedactPaths, requirePrincipal } from '@wsguard/core'
import { captureLogs, FakeClock, jwks, openSocket, type CapturedLogs, type SocketClient } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'
import { handshake, type Answer } from './client.js'
import { AUD, ec, ISS, rsa, T0, TENANT, TYP } from './tokens.js'

export interface SecurityServerOptions {
  /** issuer options over the suite's (static keys unless `jwksUri` is given) */
  jwt?: Partial<JwtKeySetIssuerOptions>
  /** auth-handshake options over the suite's (all four carriers, one allowed origin) */
  auth?: Omit<AuthHandshakeOptions, 'jwt' | 'clock'>
  session?: Omit<SessionExpiryOptions, 'clock'>
  /** replaces the suite's telemetry options (a throttling storm gate too high to trip) */
  telemetry?: Omit<TelemetryOptions, 'clock'>
  /** Fastify's timeouts, and Node's (`http.headersTimeout`, `http.connectionsCheckingInterval`) */
  server?: Pick<FastifyServerOptions, 'requestTimeout' | 'keepAliveTimeout'> & { http?: ServerOptions }
  /** default 'info' */
  logLevel?: 'info' | 'trace'
  /** false: no redacting `req` serializer on the app's logger, only the plugins' own. Default true */
  appReqSerializer?: boolean
  /** more routes, added after the plugins */
  routes?: (app: FastifyInstance) => void
}

export interface SecurityServer {
  app: FastifyInstance
  clock: FakeClock
  logs: CapturedLogs
  port: number
  /** `ws://127.0.0.1:<port><path>` */
  url: (path: string) => string
  /** the governed route of the allowed tenant */
  feed: string
  /** principal ids the governed route's handler saw, in order */
  opened: string[]
  /** an open socket on `feed`, from the allowed Origin with `Authorization: Bearer <token>` */
  open: (t: Test, token: string) => Promise<SocketClient>
  /** the answer to a handshake on `path` (default `feed`), from the allowed Origin, with the token as a Bearer header */
  bearer: (t: Test, token: string, path?: string) => Promise<Answer>
}

const HIGH = { max: 1_000_000, windowMs: 60_000 }
/**
 * Fastify's bad-URL and parameter-length errors, answered without repeating the URL. On an
 * upgrade, the socket is outside the HTTP server's bookkeeping (@fastify/websocket answers
 * through a ServerResponse it assigns by hand, and only its onResponse hook, which this path
 * skips, closes it): it is closed once answered, or it stays open for good.
 */
export function answerWithoutUrl (
  error: { code: string, statusCode?: number }, request: FastifyRequest, reply: FastifyReply
): void {
  const statusCode = error.statusCode as number // both errors Fastify hands here carry one
  reply.raw.once('finish', () => request.raw.socket.destroy())
  reply.code(statusCode).header('connection', 'close')
    .send({ statusCode, code: error.code, error: STATUS_CODES[statusCode] })
}

/** where Fastify's client-error line puts the bytes of a request Node could not parse */
export const RAW_PACKET = 'err.rawPacket'

/**
 * `/ws/:tenant` takes `feed:read` tokens (nothing beyond `feed:read feed:write`), checks the
 * handshake topic `orders.<tenant>.all` against the token's `tenant` claim, and answers text
 * commands: `whoami` (the current principal's id), `authorize <action> <topic>` (the decision),
 * `stream <frames> <bytes>` (that many frames of that size); anything else is echoed.
 */
export async function securityServer (t: Test, opts: SecurityServerOptions = {}): Promise<SecurityServer> {
  const clock = new FakeClock(T0)
  const logs = captureLogs()
  const app = Fastify({
    ...opts.server,
    frameworkErrors: answerWithoutUrl,
    logger: {
      level: opts.logLevel ?? 'info',
      stream: logs.stream,
      serializers: opts.appReqSerializer === false ? {} : { req: redactingReqSerializer(['access_token']) },
      redact: [...credentialRedactPaths, RAW_PACKET]
    }
  })
  t.teardown(() => app.close())
  app.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ statusCode: 404, error: 'Not Found' }))
  await app.register(websocket)
  await app.register(telemetry, {
    anomalies: { reconnectStorm: { perIp: HIGH, perPrincipal: HIGH, action: 'throttle' } },
    ...opts.telemetry,
    clock
  })
  await app.register(authHandshake, {
    jwt: {
      issuer: ISS,
      audience: AUD,
      algorithms: ['ES256', 'RS256'],
      typ: TYP,
      claims: Type.Object({ tenant: Type.String() }),
      jwks: opts.jwt?.jwksUri === undefined ? jwks(ec, rsa) : undefined,
      ...opts.jwt
    },
    carriers: ['header', 'subprotocol', 'cookie', 'query'],
    allowedOrigins: [ALLOWED_ORIGIN],
    ...opts.auth,
    clock
  })
  await app.register(topicAuthz, { clock })
  await app.register(sessionExpiry, { heartbeatMs: 30_000, idleTimeoutMs: 0, ...opts.session, clock })

  const opened: string[] = []
  app.get('/ws/:tenant', {
    websocket: true,
    config: {
      auth: { scopes: ['feed:read'], allowedScopes: ['feed:read', 'feed:write'] },
      topics: [
        { pattern: 'orders.{tenant}.>', actions: ['subscribe'], scopes: ['feed:read'], where: { tenant: 'claims.tenant' } }
      ],
      handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}.all' }
    }
  }, (socket, request) => {
    opened.push(requirePrincipal(request).id)
    socket.on('message', (data) => {
      const [command, a = '', b = ''] = String(data).split(' ')
      if (command === 'whoami') socket.send(requirePrincipal(request).id)
      else if (command === 'authorize') socket.send(JSON.stringify(request.authorizeTopic(a, b)))
      else if (command === 'stream') for (let i = 0; i < Number(a); i++) socket.send(Buffer.alloc(Number(b)))
      else socket.send(String(data))
    })
  })
  opts.routes?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const url = (path: string): string => `ws://127.0.0.1:${port}${path}`
  const feed = `/ws/${TENANT}`
  return {
    app,
    clock,
    logs,
    port,
    url,
    feed,
    opened,
    open: async (t, token) =>
      await openSocket(url(feed), { token, client: { origin: ALLOWED_ORIGIN }, teardown: (fn) => t.teardown(fn) }),
    bearer: async (t, token, path = feed) =>
      await handshake(url(path), { origin: ALLOWED_ORIGIN, authorization: `Bearer ${token}` }, (fn) => t.teardown(fn))
  }
}
