// startDemo(): the whole demo in one process. The OpenID Provider on its own loopback port;
// the API (all four plugins) and the web app on one Fastify server, so the page, its ticket
// requests and its socket share one origin.
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { redactingReqSerializer, TICKET_QUERY_PARAMETER } from '@wsguard/auth-handshake'
import type { Principal } from '@wsguard/core'
import { PROTOCOL, feedPath, registerApi } from './api.js'
import { pageScript } from './bundle.js'
import { stormToken } from './oidc-client.js'
import { startPrices } from './prices.js'
import { startProvider } from './provider.js'
import { dashboard, reconnectStorm, type StormResult } from './dashboard/index.js'
import { STORM_CLIENT } from './users.js'
import { registerWeb } from './web.js'
import { WebSessions } from './web-session.js'

export interface DemoOptions {
  /** another free port when it is taken; 0 for any (the CLI's default is DEFAULT_PORT) */
  port: number
  /** log the app's requests and telemetry's audit trail (JSON lines). Default false */
  verbose?: boolean
  /** where verbose log lines go. Default stdout (the CLI sends them to stderr) */
  logStream?: NodeJS.WritableStream
  /** access token lifetime at the provider, seconds. Default 120 */
  tokenTtlS?: number
  /** session-expiry: auth.expiring this long before expiry. Default 30000 */
  noticeMs?: number
  /** session-expiry: after expiry, before closing 4401. Default 5000 */
  graceMs?: number
  /** auth-handshake: a refused page reads why ('close') or sees 1006 ('http'). Default 'close' */
  browserRejection?: 'close' | 'http'
  /** a price tick every this many ms. Default 500 */
  pricesIntervalMs?: number
  /** handshakes in one storm. Default 40 */
  stormAttempts?: number
}

export interface Demo {
  /** the page to open */
  url: string
  /** the OpenID Provider's issuer */
  issuer: string
  /** true when `port` was taken and another was picked */
  portTaken: boolean
  app: FastifyInstance
  /** a reconnect storm by the storm-bot client against the API */
  storm: () => Promise<StormResult>
  close: () => Promise<void>
}

export const DEFAULT_PORT = 3000

async function listen (app: FastifyInstance, port: number): Promise<boolean> {
  try {
    await app.listen({ port, host: '127.0.0.1' })
    return false
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    await app.listen({ port: 0, host: '127.0.0.1' })
    return true
  }
}

export async function startDemo (options: DemoOptions): Promise<Demo> {
  const verbose = options.verbose ?? false
  const op = await startProvider({ accessTokenTtlS: options.tokenTtlS ?? 120 })
  const prices = startPrices({ intervalMs: options.pricesIntervalMs ?? 500 })
  let origin = ''
  const app = Fastify({
    logger: verbose
      ? {
          level: 'info',
          stream: options.logStream, // pino's default, stdout, when undefined
          // the authorization code and state of /callback, and a ticket in a query, stay out of the log
          serializers: { req: redactingReqSerializer(['code', 'state', 'access_token', TICKET_QUERY_PARAMETER]) }
        }
      : false
  })
  // A 404 that does not repeat the URL (it could hold a ticket).
  app.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ statusCode: 404, error: 'Not Found' }))
  // Every URL on one host name, so that the page's origin is the one the API allows. The path
  // only: a query can hold a ticket or an authorization code, which a Location would repeat.
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.host !== new URL(origin).host) return await reply.redirect(`${origin}${request.url.split('?')[0] as string}`, 308)
  })
  await app.register(websocket)
  await registerApi(app, {
    issuer: op.issuer,
    origin: () => origin,
    noticeMs: options.noticeMs ?? 30_000,
    graceMs: options.graceMs ?? 5_000,
    browserRejection: options.browserRejection ?? 'close',
    audit: verbose,
    prices
  })
  registerWeb(app, {
    issuer: op.issuer,
    origin: () => origin,
    sessions: new WebSessions(),
    script: await pageScript(),
    revoke: async (subject) => (await app.wsSessions.revoke({ subject }, { actor: 'admin', reason: 'revoked on the admin page' })).closed,
    revokeTokens: async (tokenIds) => {
      for (const tokenId of tokenIds) await app.wsSessions.revoke({ tokenId }, { actor: 'web app', reason: 'signed out' })
    },
    sessionsList: async () => [...await app.wsSessions.list()].map((s) => ({
      // every route of the app authenticates: a session always has a principal
      subject: (s.principal as Principal).id,
      tenant: (s.principal as Principal).claims.tenant,
      socket: s.id,
      route: s.route,
      expiresAt: s.expiresAt
    }))
  })
  // A reconnect storm: the storm-bot workload (its token in a header, no Origin) reconnecting
  // in a tight loop to its tenant's feed, past telemetry's per-principal limit.
  const storm = async (): Promise<StormResult> => await reconnectStorm({
    url: `${origin.replace('http', 'ws')}${feedPath(STORM_CLIENT.tenant)}`,
    getCredential: async () => await stormToken(op.issuer),
    protocols: [PROTOCOL],
    count: options.stormAttempts ?? 40
  })
  // /dashboard: telemetry's own numbers, live, and the button that starts the storm.
  await app.register(dashboard, { registry: app.wsguardTelemetry.registry, storm })

  let portTaken
  try {
    portTaken = await listen(app, options.port)
  } catch (err) {
    await app.close()
    prices.stop()
    await op.close()
    throw err
  }
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  op.registerWebApp(`${origin}/callback`)
  return {
    url: `${origin}/`,
    issuer: op.issuer,
    portTaken,
    app,
    storm,
    async close () {
      // session-expiry closes every socket 1001 before the server stops
      await app.close()
      prices.stop()
      await op.close()
    }
  }
}
