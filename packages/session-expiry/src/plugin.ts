import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { WebSocket } from '@fastify/websocket'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import {
  addHandshakeCheck, assertRegisteredOnce, appIdentity, CloseCode, governsHttp, invalidOption, linkRequest, publishRejection, refuseUngovernedRoutes, requestMark, requestOf, revocationOrigin, sendRejection, STORE_UNAVAILABLE_HEADERS,
  type Principal, type RequestMark, type RevocationOrigin, type RevocationStore, type SessionFilter, type SessionInfo, type WsguardErrorCode
} from '@wsguard/core'
import { bounded } from './bounded.js'
import { SessionCap, type CapCheck } from './cap.js'
import { ControlMatcher } from './control.js'
import { ReservedTypes } from './reserved.js'
import { checkFilter, checkRevokeOptions, filterKind, matches, type RevokeOptions } from './filter.js'
import { listLive, MemoryRevocationStore } from './memory.js'
import { validateOptions, type RefreshAuthenticator, type SessionExpiryConfig, type SessionExpiryOptions } from './options.js'
import { refreshQueueFor } from './refresh-queue.js'
import { schedulerFor } from './scheduler.js'
import { Session, type SessionHost } from './session.js'

export { SOURCE } from './source.js'
import { SOURCE } from './source.js'

/** avvio's onClose, which Fastify's types do not declare. */
type OnClose = { onClose(fn: (instance: FastifyInstance, done: (err?: unknown) => void) => void): void }

/**
 * Where a handshake admitted by the preValidation hook waits for the websocket server's
 * 'connection' event: on its Fastify request, under a symbol only this registration holds,
 * decorated (`null`) so every request keeps one shape; 'connection' finds the request from
 * the raw one through core's request links (`requestOf`). Not a property on the raw request:
 * adding one would change the shape of every IncomingMessage and slow all code that reads
 * them. Not a WeakMap: each entry would cost the garbage collector an ephemeron to walk.
 */
interface PendingSlot {
  /** the handshake's pending admission; `undefined` for a request never admitted (or already opened), and in a context created before the decorator */
  get (request: FastifyRequest): Pending | undefined
  set (request: FastifyRequest, pending: Pending | null): void
}

function pendingSlot (fastify: FastifyInstance): PendingSlot {
  const key = Symbol('@wsguard/session-expiry.pending')
  fastify.decorateRequest(key, null)
  type Slotted = Record<symbol, Pending | null | undefined>
  return {
    get (request) { return (request as unknown as Slotted)[key] ?? undefined },
    set (request, pending) { (request as unknown as Slotted)[key] = pending }
  }
}

/**
 * A handshake admitted by the check; `held`: the principal holding a place under
 * `maxSessionsPerPrincipal`, until the socket opens, the request is answered, or its
 * connection closes first (`gone`, listening for that).
 */
interface Pending { request: FastifyRequest, route: string, seen: number, held: Principal | undefined, gone: (() => void) | undefined }

/** Gives back the place a pending handshake holds under the cap, once, and stops listening for its connection's close. */
function giveBack (pending: Pending, raw: IncomingMessage, cap: SessionCap): void {
  if (pending.held === undefined) return
  cap.release(pending.held, raw)
  pending.held = undefined
  if (pending.gone !== undefined) raw.socket.removeListener('close', pending.gone)
  pending.gone = undefined
}

/** A revocation delivered to this instance, numbered in delivery order. */
export interface Delivered { filter: SessionFilter, origin: RevocationOrigin | undefined, seq: number, deliveredAt: number }

/** How long revocations are remembered for handshakes admitted but not yet upgraded, ms. */
const IN_FLIGHT_WINDOW_MS = 60_000

/** What session-expiry exposes on the instance. */
export interface WsSessions {
  /**
   * Closes every matching live session with 4403 at once, and refuses at the next handshake
   * the same token id (until it would have expired) or, for a subject, session or issuer,
   * tokens issued at or before now. Resolves with how many sessions this instance closed.
   * `options` say who asked and why: kept with the revocation, with this instance's name, and
   * published (`revocation`) wherever it closes a session.
   */
  revoke(filter: SessionFilter, options?: RevokeOptions): Promise<{ closed: number }>
  /** Open sessions (from the registry: every instance's with a shared one), optionally filtered. */
  list(filter?: SessionFilter): Promise<readonly SessionInfo[]>
  /** sessions open on this instance */
  readonly size: number
}

export async function sessionExpiryPlugin (fastify: FastifyInstance, opts: SessionExpiryOptions): Promise<void> {
  assertRegisteredOnce(fastify, SOURCE, 'wsSessions')
  const config = validateOptions(opts)
  const live = new Set<Session>()
  // A registry given (a shared one) is told of every session; without one, list() reads the live set.
  const registry = config.registry
  const revocations: RevocationStore = config.revocations ?? new MemoryRevocationStore()
  const cap = config.maxSessionsPerPrincipal > 0 ? new SessionCap(config.maxSessionsPerPrincipal, config.registry) : undefined
  let authenticate: RefreshAuthenticator | undefined = config.authenticate
  let drained: (() => void) | undefined

  const host: SessionHost = {
    config,
    registry,
    revocations,
    instance: randomUUID(),
    cap,
    app: appIdentity(fastify),
    scheduler: schedulerFor(config.clock, (err) => fastify.log.error({ err }, 'session-expiry: a session timer failed')),
    refreshes: refreshQueueFor(config.clock, (err) => fastify.log.error({ err }, 'session-expiry: a refresh check failed')),
    // The refresh name is read whether or not refresh is on: a token sent in-band never reaches the app.
    control: new ControlMatcher(config.messages.refresh, config.maxControlFrameBytes),
    reserved: new ReservedTypes([config.messages.expiring, config.messages.refreshed, config.messages.refreshFailed, config.messages.topicRevoked]),
    authenticate: (token, request) => (authenticate as RefreshAuthenticator)(token, request),
    delivered: () => delivered,
    revokedSince,
    ended: (session) => {
      live.delete(session)
      if (cap !== undefined && session.counted !== null) cap.ended(session.counted)
      if (live.size === 0) drained?.()
    }
  }

  /**
   * Closes the live sessions a filter selects; `uncovered` gets the principals of those whose
   * token the record would not refuse at a handshake: a connection named by its id (no token
   * carries it), and, when `at` is given, one whose token a record dated `at` would not cover.
   */
  function closeMatching (filter: SessionFilter, origin: RevocationOrigin | undefined, uncovered: Principal[], at?: number): number {
    let closed = 0
    const by = filterKind(filter)
    const connection = 'sessionId' in filter ? filter.sessionId : undefined
    for (const s of live) {
      if (!s.closed && matches(filter, s.id, s.principal)) {
        s.revoke(by, origin)
        closed++
        if (s.id === connection && s.principal !== null) {
          uncovered.push(s.principal)
          continue
        }
        if (at === undefined) continue
        // Issued after the record's date, but within the in-flight window of it: a token the
        // revoker's clock (running behind) dated too early, not one issued well after the
        // revocation by a user who signed in again (which a record delivered late would close).
        const iat = s.principal?.claims.iat
        const after = typeof iat === 'number' ? iat * 1000 - at : 0
        if (after > 0 && after <= IN_FLIGHT_WINDOW_MS) uncovered.push(s.principal as Principal)
      }
    }
    return closed
  }

  /**
   * Refuses by its id, as `revoke({ tokenId })` would, each token a record closed but does not
   * refuse (a token without a `jti` cannot be): a connection revoked by its id (`wsSessions.list()`
   * gives it; no token carries it), or a token a subject, session or issuer record delivered
   * from elsewhere dated too early (the clock of the instance that issued it may run behind the
   * IdP's by more than the tolerance: its `iat` was after the record's `at`). Gives the writes,
   * each resolving once its record is written; a failure is logged, never thrown.
   */
  function refuseUncovered (principals: readonly Principal[], origin: RevocationOrigin | undefined): Array<Promise<void>> {
    const now = config.clock.now()
    // Who asked and why are the record's; the instance that refuses the token is this one.
    const pinnedBy = revocationOrigin({ ...origin, instance: revocations.instance ?? host.instance })
    const seen = new Set<string>()
    const writes: Array<Promise<void>> = []
    for (const p of principals) {
      // One record per token, however many of its sockets this record closed.
      if (p.tokenId === undefined || seen.has(p.tokenId)) continue
      seen.add(p.tokenId)
      // Whole milliseconds: a token's exp may have a fraction, which a store with TTLs in ms would refuse.
      const revocation = { filter: { tokenId: p.tokenId }, at: now, until: Math.ceil((p.expiresAt ?? now) + config.revocationRetentionMs), origin: pinnedBy }
      writes.push(Promise.resolve().then(() => revocations.revoke(revocation)).catch((err: unknown) => {
        fastify.log.error({ err }, 'session-expiry: a token whose session a revocation closed could not be refused by its id')
      }))
    }
    return writes
  }

  // A revocation delivered while a check is under way (the store answering asynchronously),
  // or after a handshake passed its check but before its socket opened, would miss both the
  // check and the live sessions it closes. Recent ones are kept, numbered in delivery order:
  // a handshake or refresh takes the current number before its check starts, and applies
  // every later one to its result.
  const recent: Delivered[] = []
  let delivered = 0
  const unsubscribe = revocations.subscribe((r) => {
    // What a store delivers is published as it is only once checked: it may come from elsewhere.
    const origin = revocationOrigin(r.origin)
    const uncovered: Principal[] = []
    closeMatching(r.filter, origin, uncovered, 'tokenId' in r.filter ? undefined : r.at)
    if (uncovered.length > 0) refuseUncovered(uncovered, origin)
    const now = config.clock.now()
    while (recent.length > 0 && (recent[0] as Delivered).deliveredAt < now - IN_FLIGHT_WINDOW_MS) recent.shift()
    recent.push({ filter: r.filter, origin, seq: ++delivered, deliveredAt: now })
  })

  /** The first revocation delivered after mark `seen` that selects a connection (its id) or principal. */
  function revokedSince (seen: number, id: string, principal: Principal | null): Delivered | undefined {
    for (let i = recent.length - 1; i >= 0; i--) {
      const r = recent[i] as Delivered
      if (r.seq <= seen) return undefined
      if (matches(r.filter, id, principal)) return r
    }
    return undefined
  }

  /**
   * A subject, session or issuer record refuses tokens issued (`iat`, the IdP's clock) at or
   * before its `at`: dated by this server's clock, a token the verifier accepts with an `iat`
   * up to its clock tolerance ahead, the one just closed among them, would count as issued
   * after the revocation and open again. So `at` is that far ahead (the filter's issuer's
   * tolerance), and never before the `iat` of a session it closes. (A token id record refuses
   * whatever the `iat`.)
   */
  function revokedAsOf (f: SessionFilter, now: number): number {
    if ('tokenId' in f) return now
    // The filter's issuer's tolerance when it names one (a subject or session is only unique
    // within its issuer); else the largest, so that no issuer's early token slips through.
    const auth = fastify.hasDecorator('wsguardAuth') ? fastify.wsguardAuth : undefined
    let at = now + (auth?.clockToleranceMs?.((f as { issuer?: string }).issuer) ?? 0)
    for (const s of live) {
      const iat = s.principal?.claims.iat
      if (typeof iat === 'number' && Number.isFinite(iat) && iat * 1000 > at && matches(f, s.id, s.principal)) at = iat * 1000
    }
    return at
  }

  fastify.decorateRequest('wsSession', null as never)
  fastify.decorate('wsSessions', {
    async revoke (filter: SessionFilter, options?: RevokeOptions): Promise<{ closed: number }> {
      const f = checkFilter(filter, 'wsSessions.revoke')
      // The store's name is the store's to give: bounded like any origin before it is kept or published.
      const origin = revocationOrigin({ ...checkRevokeOptions(options, 'wsSessions.revoke'), instance: revocations.instance ?? host.instance })
      const now = config.clock.now()
      let until = now + config.revocationRetentionMs
      if ('tokenId' in f) {
        // A token id is refused for the retention past the token's expiry, when a live session
        // tells it: a verifier accepts a token a little past its exp (its clock tolerance),
        // so the record must outlive the exp itself.
        for (const s of live) {
          const exp = s.principal?.tokenId === f.tokenId ? s.expiresAt : undefined
          if (exp !== undefined) until = Math.max(until, Math.ceil(exp + config.revocationRetentionMs))
        }
      }
      const byId: Principal[] = []
      const closed = closeMatching(f, origin, byId)
      await revocations.revoke({ filter: f, at: revokedAsOf(f, now), until, origin })
      if (byId.length > 0) await Promise.all(refuseUncovered(byId, origin))
      return { closed }
    },
    async list (filter?: SessionFilter): Promise<readonly SessionInfo[]> {
      const f = filter === undefined ? undefined : checkFilter(filter, 'wsSessions.list')
      return registry === undefined ? listLive(live, f) : await registry.list(f)
    },
    get size () { return live.size }
  } satisfies WsSessions)

  // The positive mark of a plain HTTP request (config.governHttp) the check let through: it
  // opens no socket, so it is not pending a connection and holds no place under the cap.
  const httpAdmitted = requestMark(fastify, '@wsguard/session-expiry.http-admitted')
  const pendings = pendingSlot(fastify)

  const wss = fastify.websocketServer
  function onConnection (socket: WebSocket, raw: IncomingMessage): void {
    const request = requestOf(raw)
    const pending = request === undefined ? undefined : pendings.get(request)
    if (pending === undefined) return
    pendings.set(pending.request, null)
    const principal = pending.request.principal ?? null
    // What the session counts under, until it ends: the app may set request.principal later.
    let counted: Principal | null = null
    if (cap !== undefined && principal !== null) {
      giveBack(pending, raw, cap)
      cap.opened(counted = principal)
    }
    const session = new Session(host, pending.request, socket, pending.route, counted)
    pending.request.wsSession = session
    live.add(session)
    session.start()
    const revokedBy = revokedSince(pending.seen, session.id, session.principal)
    if (revokedBy !== undefined) session.revoke(filterKind(revokedBy.filter), revokedBy.origin)
    // Admitted just before the shutdown began: governed, audited, and closed like the others.
    else if (shuttingDown) session.close(CloseCode.GOING_AWAY, 'server shutting down')
  }
  wss.on('connection', onConnection)

  /** From the shutdown's start: handshakes are refused 503, and a socket admitted before is closed 1001 as it opens. */
  let shuttingDown = false
  async function shutdown (): Promise<void> {
    shuttingDown = true
    await closeAll()
    // Only now: until every session has closed, revocations still close them, and a socket
    // still opening gets its session.
    unsubscribe()
    wss.off('connection', onConnection)
  }

  async function closeAll (): Promise<void> {
    if (live.size === 0) return
    await new Promise<void>((resolve) => {
      const timer = config.clock.setTimer(() => {
        // Clients that did not answer the close in time are cut off; each still reports 1001.
        for (const s of live) s.terminate(CloseCode.GOING_AWAY, 'server shutting down')
      }, config.closeTimeoutMs)
      drained = () => { config.clock.clearTimer(timer); resolve() }
      // A socket the app's own preClose is already closing keeps its code; it is waited for.
      for (const s of [...live]) if (s.socketOpen) s.close(CloseCode.GOING_AWAY, 'server shutting down')
    })
  }
  const runShutdown = (done: (err?: unknown) => void): void => { shutdown().then(() => done(), done) }

  if (config.shutdown === 'after-preclose') {
    // preClose hooks run in the order they were added, and @fastify/websocket (a declared
    // dependency) added its own, the app's custom preClose included, before this one.
    fastify.addHook('preClose', function wsguardShutdown (done) { runShutdown(done as (err?: unknown) => void) })
  }

  fastify.addHook('onReady', function (done) {
    if (config.refresh && authenticate === undefined) {
      if (!fastify.hasDecorator('wsguardAuth')) {
        done(invalidOption('opts.refresh needs @wsguard/auth-handshake registered (fastify.wsguardAuth), or opts.authenticate, or refresh: false'))
        return
      }
      authenticate = (token, request) => fastify.wsguardAuth.authenticate(token, request)
    }
    // onClose handlers run last-in first-out, and Fastify registers the one that runs the
    // preClose hooks before onReady. Added now, this one runs first: every session is
    // closed 1001 before @fastify/websocket's preClose closes its clients with no code.
    if (config.shutdown === 'first') (fastify as unknown as OnClose).onClose((_instance, closed) => { runShutdown(closed) })
    done()
  })

  // After every route's preValidation, a governed handshake has been admitted by the session check.
  refuseUngovernedRoutes(fastify, {
    source: SOURCE,
    phase: 'preHandler',
    handled: (request) => pendings.get(request) !== undefined || httpAdmitted.has(request),
    exempt: (routeConfig) => routeConfig?.session === false,
    consequence: 'its sockets could not expire or be revoked',
    optOut: 'config.session: false'
  })

  function releaseHeld (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const pending = pendings.get(request)
    if (pending !== undefined) {
      pendings.set(request, null)
      giveBack(pending, request.raw, cap as SessionCap)
    }
    done()
  }

  fastify.addHook('onRoute', (routeOptions: RouteOptions) => {
    if (routeOptions.websocket !== true && typeof routeOptions.wsHandler !== 'function') return
    const value = (routeOptions.config as { session?: unknown } | undefined)?.session
    if (value === false) return
    if (value !== undefined) throw invalidOption(`route ${String(routeOptions.method)} ${routeOptions.url}: config.session must be false or absent`)
    const http = governsHttp(routeOptions)
    // An in-band refresh checks the new principal's expiry and revocations too (core's handshake checks).
    addHandshakeCheck(routeOptions, {
      source: SOURCE,
      check: (_request, principal) => expiryCheck(config, principal) ?? revocationCheck(host, principal)
    })
    const hook = makeHandshakeHook({ host, route: routeOptions.url, http, httpAdmitted, pendings, closing: () => shuttingDown })
    routeOptions.preValidation = [...hooksOf(routeOptions.preValidation), hook]
    // A handshake refused by a later hook gets an HTTP answer: the place it held under the cap is given back.
    if (cap !== undefined) routeOptions.onResponse = [...hooksOf(routeOptions.onResponse), releaseHeld]
  })
}

function hooksOf<H> (existing: H | H[] | undefined): H[] {
  return existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]
}

/** The revocation store's answer for a principal, bounded by `revocationTimeoutMs`: a refusal code or `undefined`. */
function revocationCheck (host: SessionHost, principal: Principal): WsguardErrorCode | undefined | Promise<WsguardErrorCode | undefined> {
  const { clock, revocationTimeoutMs } = host.config
  const answer = bounded(host.revocations.isRevoked(principal, clock.now()), clock, revocationTimeoutMs, 'the revocation store')
  const code = (revoked: boolean): WsguardErrorCode | undefined => (revoked ? 'WSG_TOKEN_REVOKED' : undefined)
  return answer instanceof Promise ? answer.then(code) : code(answer)
}

/**
 * A credential that has expired (inside the verifier's clock tolerance) or expires within
 * `minRemainingMs` is refused: admitted, its socket would be closed 4401 at once, and a client
 * that reconnects with the same token would loop open → close. The code says which credential:
 * a certificate-only principal's certificate, else the token.
 */
function expiryCheck (config: SessionExpiryConfig, principal: Principal): WsguardErrorCode | undefined {
  const { expiresAt } = principal
  if (expiresAt === undefined) return undefined
  const left = expiresAt - config.clock.now()
  if (left > 0 && left >= config.minRemainingMs) return undefined
  return principal.method === 'mtls' ? 'WSG_CERT_UNTRUSTED' : 'WSG_TOKEN_EXPIRED'
}

/**
 * Before the upgrade: a revoked token (by id, or its subject, session or issuer revoked
 * after it was issued) gets 401 WSG_TOKEN_REVOKED; a principal already holding
 * `maxSessionsPerPrincipal` sessions gets 429 WSG_RATE_LIMITED with Retry-After; a store or
 * registry that fails gets 503. Runs in preValidation, after every onRequest hook, so
 * auth-handshake's principal is set.
 */
/** What one governed route's handshake hook needs, built once per route. */
interface HandshakeRoute {
  readonly host: SessionHost
  readonly route: string
  /** `config.governHttp`: plain HTTP requests are checked too */
  readonly http: boolean
  /** the positive mark of a plain HTTP request let through */
  readonly httpAdmitted: RequestMark
  /** where an admitted handshake waits for its socket */
  readonly pendings: PendingSlot
  /** whether the plugin's shutdown has begun */
  readonly closing: () => boolean
}

function makeHandshakeHook ({ host, route, http, httpAdmitted, pendings, closing }: HandshakeRoute) {
  const { config, cap } = host
  const challenge = (description: string): Record<string, string> =>
    ({ 'www-authenticate': `Bearer realm="${config.realm}", error="invalid_token", error_description="${description}"` })
  const retryAfter = { 'retry-after': String(Math.ceil(config.maxSessionsRetryAfterMs / 1000)) }
  const headers: Partial<Record<WsguardErrorCode, Record<string, string>>> = {
    WSG_TOKEN_REVOKED: challenge('The token has been revoked'),
    WSG_TOKEN_EXPIRED: challenge('The token has expired'),
    WSG_RATE_LIMITED: retryAfter,
    WSG_UNAVAILABLE: STORE_UNAVAILABLE_HEADERS
  }

  function refuse (request: FastifyRequest, reply: FastifyReply, code: WsguardErrorCode, principal: Principal | null, detail: string): void {
    sendRejection(reply, code, headers[code])
    // A plain HTTP request (config.governHttp) is answered alike, but is no handshake to count.
    if (request.ws === true) publishRejection(SOURCE, request, route, code, 0, detail, principal)
  }

  // Per route, not per request: the synchronous path (a store in memory) allocates no closure.
  function admit (request: FastifyRequest, upgrade: boolean, seen: number, held: Principal | undefined, done: HookHandlerDoneFunction): void {
    if (upgrade) {
      const raw = request.raw
      const pending: Pending = { request, route, seen, held, gone: undefined }
      pendings.set(request, pending)
      if (held !== undefined) {
        // A client gone before its socket opens gets neither a 'connection' nor a response:
        // its place is given back when its connection closes (or at once, already closed), so
        // neither the place nor its request is kept until HOLD_MS and the principal's next count.
        if (raw.socket.destroyed) giveBack(pending, raw, cap as SessionCap)
        else raw.socket.once('close', pending.gone = () => { giveBack(pending, raw, cap as SessionCap) })
      }
      linkRequest(request)
    } else {
      httpAdmitted.set(request)
    }
    done()
  }

  function failed (request: FastifyRequest, reply: FastifyReply, principal: Principal, what: string, err: unknown): void {
    request.log.error({ err }, `session-expiry: ${what} check failed; handshake refused`)
    refuse(request, reply, 'WSG_UNAVAILABLE', principal, what === 'revocation' ? 'revocation-store' : 'session-registry')
  }

  function decide (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, upgrade: boolean, seen: number, principal: Principal, answer: WsguardErrorCode | undefined): void {
    let code = answer
    if (code === undefined && host.revokedSince(seen, '', principal) !== undefined) code = 'WSG_TOKEN_REVOKED'
    if (code !== undefined) return refuse(request, reply, code, principal, 'revoked')
    if (cap === undefined || !upgrade) return admit(request, upgrade, seen, undefined, done)
    let check: CapCheck
    try {
      check = cap.check(principal)
    } catch (err) {
      return failed(request, reply, principal, 'session cap', err)
    }
    const counted = (open: number): void => {
      if (!cap.admit(check, open, request.raw, config.clock.now())) return refuse(request, reply, 'WSG_RATE_LIMITED', principal, 'session-cap')
      admit(request, upgrade, seen, principal, done)
    }
    const open = check.open
    if (!(open instanceof Promise)) return counted(open)
    const answered = bounded(open, config.clock, config.revocationTimeoutMs, 'the session registry') as Promise<number>
    answered.then(counted, (err: unknown) => {
      cap.drop(check)
      failed(request, reply, principal, 'session cap', err)
    }).catch(done)
  }

  return function wsguardSessionCheck (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // Not an upgrade: no socket will open, so nothing to admit, unless the route asked for
    // its HTTP requests to be governed: then the same expiry and revocation checks, no cap.
    const upgrade = request.ws === true
    if (!upgrade && !http) return done()
    const principal = request.principal ?? null
    // Shutting down (shutdown: 'first' runs before Fastify refuses requests itself): a socket
    // opened now would outlive the sessions being closed.
    if (upgrade && closing()) return refuse(request, reply, 'WSG_UNAVAILABLE', principal, 'shutting-down')
    // Taken before the check starts: a revocation delivered while the store answers is applied to its result.
    const seen = host.delivered()
    if (principal === null) return admit(request, upgrade, seen, undefined, done)
    const expired = expiryCheck(config, principal)
    if (expired !== undefined) return refuse(request, reply, expired, principal, 'expired')
    let answer: WsguardErrorCode | undefined | Promise<WsguardErrorCode | undefined>
    try {
      answer = revocationCheck(host, principal)
    } catch (err) {
      return failed(request, reply, principal, 'revocation', err)
    }
    if (answer instanceof Promise) {
      answer.then((code) => { decide(request, reply, done, upgrade, seen, principal, code) }, (err: unknown) => { failed(request, reply, principal, 'revocation', err) }).catch(done)
    } else {
      decide(request, reply, done, upgrade, seen, principal, answer)
    }
  }
}
