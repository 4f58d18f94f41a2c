// The Fastify server configurations bench/stack.ts and bench/peers.ts run, each in a process
// of its own (bench/handshake.ts runs its plain, bare and DIY ones in-process): plain @fastify/websocket, the bare fast-jwt hook (the cheapest authenticated
// handshake), the do-it-yourself @fastify/jwt hook, and wsguard's plugins added one at a
// time up to the whole stack, all four as users register them (issue 15).
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import fastifyJwt from '@fastify/jwt'
import { createVerifier } from 'fast-jwt'
import { Type } from '@sinclair/typebox'
import type { jwks } from '@wsguard/testing'
import { authHandshake } from '@wsguard/auth-handshake'
import { topicAuthz } from '@wsguard/topic-authz'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry } from '@wsguard/telemetry'
import { floorRoute } from './stack-floor.js'
import { internalModule } from './lib.js'

export const ISS = 'https://idp.bench'
export const AUD = 'feed-api'
/** The route every configuration answers; the token's `tenant` claim matches it. */
export const FEED_PATH = '/feed/acme'

/** What a server process runs: which plugins. */
export type Stack = 'plain' | 'bare' | 'bare+hooks' | 'bare+loaded' | 'floor' | 'bare+authenticate' | 'bare+authenticate-nocache' | 'diy' | 'auth' | 'auth+topics' | 'auth+topics+expiry' | 'full' | 'full-no-audit' | 'full-nocache' | 'full-gated'
export type Logging = 'off' | 'app' | 'built'

/** A configuration `stack.ts` and `instructions.ts` measure: its name in their tables, its plugins, its logging. */
export interface StackConfig { name: string, stack: Stack, logging: Logging }

/** The bare hook, each plugin added in turn, and the whole stack's variants (issue 15). */
export const STACK_CONFIGS: StackConfig[] = [
  { name: 'plain @fastify/websocket', stack: 'plain', logging: 'off' },
  { name: 'bare fast-jwt hook', stack: 'bare', logging: 'off' },
  { name: 'bare hook + no-op hooks as the stack has', stack: 'bare+hooks', logging: 'off' },
  { name: 'bare hook, the whole stack loaded beside it (no traffic)', stack: 'bare+loaded', logging: 'off' },
  { name: 'bare hook calling auth-handshake\'s token check', stack: 'bare+authenticate', logging: 'off' },
  { name: 'the same, no verified-token cache', stack: 'bare+authenticate-nocache', logging: 'off' },
  { name: 'floor: the stack\'s checks and records as one hook (not wsguard)', stack: 'floor', logging: 'off' },
  { name: 'auth-handshake (JWKS, claims schema, scopes)', stack: 'auth', logging: 'off' },
  { name: '+ topic-authz (handshake topic)', stack: 'auth+topics', logging: 'off' },
  { name: '+ session-expiry', stack: 'auth+topics+expiry', logging: 'off' },
  { name: '+ telemetry = whole stack', stack: 'full', logging: 'off' },
  { name: 'whole stack, no verified-token cache', stack: 'full-nocache', logging: 'off' },
  { name: 'bare fast-jwt hook, logger on', stack: 'bare', logging: 'app' },
  { name: 'floor, logger on, with the stack\'s two audit lines (not wsguard)', stack: 'floor', logging: 'app' },
  { name: 'whole stack, logger on', stack: 'full', logging: 'app' },
  { name: 'whole stack, logger on, audit off', stack: 'full-no-audit', logging: 'app' },
  { name: 'bare fast-jwt hook, lines built not written', stack: 'bare', logging: 'built' },
  { name: 'whole stack, lines built not written', stack: 'full', logging: 'built' }
]

/** The one key a server trusts: its algorithm, its public key as PEM and as a JWKS. */
export interface TrustedKey { alg: 'ES256' | 'RS256', pem: string, jwks: ReturnType<typeof jwks> }

/** auth-handshake's token check: an outcome, or a promise of one when keys must be fetched. */
export interface Authenticator { authenticate (token: string): unknown }

/**
 * auth-handshake's token check as the whole stack configures it (a JWKS, a TypeBox claims
 * schema): the class its handshake hook calls, not exported, so found beside the package's
 * entry (dist/, or src/ with --conditions=@wsguard/source). bench/authenticate.ts measures it alone.
 */
export async function tokenAuthenticator (key: TrustedKey, extra: Record<string, unknown> = {}): Promise<Authenticator> {
  const internal = (file: string): string => internalModule('auth-handshake', file)
  const { TokenAuthenticator } = await import(internal('authenticator')) as { TokenAuthenticator: new (config: unknown, log: unknown, fastify: unknown) => Authenticator }
  const { validateOptions } = await import(internal('options')) as { validateOptions: (opts: unknown) => unknown }
  const silent = { warn () {}, error () {}, info () {}, debug () {} }
  return new TokenAuthenticator(validateOptions({ jwt: { issuer: ISS, audience: AUD, algorithms: [key.alg], jwks: key.jwks, claims: Type.Object({ tenant: Type.String() }) }, ...extra }), silent, {})
}

function logger (logging: Logging): boolean | Record<string, unknown> {
  if (logging === 'off') return false
  // 'app': Fastify's `logger: true` (pino's default destination, stdout, which the parent
  // points at /dev/null). 'built': the same lines made, handed to a stream that drops them.
  if (logging === 'app') return true
  return { level: 'info', stream: { write (_line: string) {} } }
}

/** The apps 'bare+loaded' keeps beside its own, for the life of the process. */
const beside: FastifyInstance[] = []

/** Builds the configuration and listens on 127.0.0.1, port 0; its websocket route is FEED_PATH. */
export async function stackApp (stack: Stack, logging: Logging, key: TrustedKey): Promise<FastifyInstance> {
  if (stack === 'bare+loaded') {
    // The whole stack registered and listening in the same process, on an app no client
    // dials: whether wsguard's code and heap slow the bare hook's handshakes by being there.
    beside.push(await stackApp('full', logging, key))
  }
  const app = Fastify({ logger: logger(logging) as never })
  await app.register(websocket)
  if (stack === 'bare' || stack === 'bare+hooks' || stack === 'bare+loaded') {
    const verify = createVerifier({ key: key.pem, algorithms: [key.alg], allowedIss: ISS, allowedAud: AUD })
    app.decorateRequest('user', null as unknown as string)
    app.addHook('onRequest', (request, reply, done) => {
      try {
        (request as unknown as { user: unknown }).user = verify((request.headers.authorization ?? '').slice(7))
        done()
      } catch {
        reply.code(401).send()
      }
    })
  }
  if (stack === 'bare+authenticate' || stack === 'bare+authenticate-nocache') {
    // The bare hook with auth-handshake's token check (JWKS, claims schema) in place of the
    // verifier, and none of the plugin's hooks: what the plugin costs around its token work.
    const authenticator = await tokenAuthenticator(key, stack === 'bare+authenticate-nocache' ? { verifiedTokenCacheSize: 0 } : {})
    app.decorateRequest('user', null as unknown as string)
    app.addHook('onRequest', (request, reply, done) => {
      const outcome = authenticator.authenticate((request.headers.authorization ?? '').slice(7)) as { ok: boolean, principal?: unknown }
      if (!outcome.ok) return reply.code(401).send()
      ;(request as unknown as { user: unknown }).user = outcome.principal
      done()
    })
  }
  if (stack === 'floor') {
    await floorRoute(app, '/feed/:tenant', await tokenAuthenticator(key), logging !== 'off')
    await app.listen({ port: 0, host: '127.0.0.1' })
    return app
  }
  if (stack === 'bare+hooks') {
    // The bare hook with as many no-op hooks, in the same phases, app-level and route-level,
    // as the whole stack adds to its websocket route: what Fastify's hook machinery costs alone.
    const noop = (_request: unknown, _reply: unknown, done: () => void): void => { done() }
    app.addHook('preValidation', noop)
    for (let i = 0; i < 3; i++) app.addHook('preHandler', noop)
    app.addHook('onRoute', (routeOptions) => {
      if (routeOptions.websocket !== true) return
      routeOptions.onRequest = [noop]
      routeOptions.preValidation = [noop, noop, noop]
      routeOptions.preHandler = [noop, noop]
      routeOptions.onResponse = [noop, noop]
    })
  }
  if (stack === 'diy') {
    // What teams write today: @fastify/jwt and `await request.jwtVerify()` in onRequest.
    await app.register(fastifyJwt, { secret: { public: key.pem }, verify: { algorithms: [key.alg], allowedIss: ISS, allowedAud: AUD } })
    app.addHook('onRequest', async (request, reply) => {
      try {
        await request.jwtVerify()
      } catch (err) {
        return reply.send(err)
      }
    })
  }
  const full = stack === 'full' || stack === 'full-no-audit' || stack === 'full-nocache' || stack === 'full-gated'
  if (full) {
    // 'full-gated': the per-IP storm gate as telemetry's README sets it, throttling (bench/reconnect-loop.ts).
    const perIp = stack === 'full-gated' ? { max: 120, windowMs: 60_000 } : { max: 1_000_000, windowMs: 60_000 }
    await app.register(telemetry, {
      audit: stack === 'full' || stack === 'full-gated',
      anomalies: {
        reconnectStorm: { perIp, perPrincipal: { max: 1_000_000, windowMs: 60_000 }, action: stack === 'full-gated' ? 'throttle' : 'log' },
        failureSpike: { ratio: 5, minPerMinute: 1_000_000 },
        longSession: { afterMs: 12 * 3600_000 }
      }
    })
  }
  const governed = stack !== 'plain' && !stack.startsWith('bare') && stack !== 'diy'
  if (governed) {
    // 'full-nocache': what the verified-token cache costs when every token is new.
    await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: [key.alg], jwks: key.jwks, claims: Type.Object({ tenant: Type.String() }) }, ...(stack === 'full-nocache' ? { verifiedTokenCacheSize: 0 } : {}) })
  }
  if (stack === 'auth+topics' || stack === 'auth+topics+expiry' || full) {
    await app.register(topicAuthz, { policies: [{ pattern: 'prices.{tenant}.>', actions: ['subscribe'], scopes: ['feed:read'], where: { tenant: 'claims.tenant' } }] })
  }
  if (stack === 'auth+topics+expiry' || full) {
    await app.register(sessionExpiry, { noticeMs: 60_000, graceMs: 5_000, maxLifetimeMs: 8 * 3600_000, idleTimeoutMs: 300_000, heartbeatMs: 30_000, refresh: true })
  }
  app.get('/feed/:tenant', {
    websocket: true,
    config: governed
      ? { auth: { scopes: ['feed:read'] }, ...(stack === 'auth' ? {} : { handshakeTopic: { action: 'subscribe', topic: 'prices.{params.tenant}.all' } }) }
      : {}
  }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}
