import { EventEmitter } from 'node:events'
import type { FastifyRequest } from 'fastify'
import type { WebSocket } from '@fastify/websocket'
import {
  ChannelName, asNativePromise, channel, CloseCode, handshakeChecksOf, publishedOrigin, randomId, runHandshakeChecks, type AppIdentity, type AuthOutcome, type Principal,
  type RevocationOrigin, type RevocationStore, type SessionClosedMessage, type SessionOpenedMessage, type SessionInfo, type SessionRegistry, type TimerHandle, type TopicDenyReason, type WsguardErrorCode
} from '@wsguard/core'
import type { SessionCap } from './cap.js'
import type { ControlMatcher } from './control.js'
import type { Fragments, Outgoing, ReservedTypes } from './reserved.js'
import type { SessionExpiryConfig } from './options.js'
import type { Delivered } from './plugin.js'
import type { RefreshQueue } from './refresh-queue.js'
import { bounded } from './bounded.js'
import type { Scheduled, Scheduler } from './scheduler.js'
import { answers, nextPingTag, pingPayload } from './ping-tag.js'
import { SOURCE } from './source.js'

const opened = channel(ChannelName.sessionOpened)
const expiring = channel(ChannelName.sessionExpiring)
const refreshed = channel(ChannelName.sessionRefreshed)
const refreshFailed = channel(ChannelName.sessionRefreshFailed)
const revoked = channel(ChannelName.sessionRevoked)
const closedChannel = channel(ChannelName.sessionClosed)

/** What the plugin gives each session. */
export interface SessionHost {
  readonly config: SessionExpiryConfig
  readonly scheduler: Scheduler
  /** where in-band refreshes wait for their checks */
  readonly refreshes: RefreshQueue
  /** the registry given (a shared one), told of every session; `undefined`: none to tell */
  readonly registry: SessionRegistry | undefined
  readonly revocations: RevocationStore
  readonly instance: string
  /** `maxSessionsPerPrincipal`, when set */
  readonly cap: SessionCap | undefined
  /** the app its messages name (`appIdentity(fastify)`) */
  readonly app: AppIdentity
  readonly control: ControlMatcher
  /** the server's own control names, kept out of the app's frames */
  readonly reserved: ReservedTypes
  authenticate(token: string, request: FastifyRequest): Promise<AuthOutcome>
  /** how many revocations this instance has been delivered: a mark taken before a check starts */
  delivered(): number
  /** the first revocation delivered after mark `seen` that selects a connection id or principal */
  revokedSince(seen: number, id: string, principal: Principal | null): Delivered | undefined
  ended(session: Session): void
}

export interface SessionEvents {
  expiring: [{ expiresAt: number, deadline: number }]
  refreshed: [{ previousExpiresAt: number | undefined, expiresAt: number | undefined, principal: Principal }]
  refresh_failed: [{ code: WsguardErrorCode }]
  'topic-revoked': [{ topic: string, action: string, reason: TopicDenyReason | undefined }]
  revoked: [{ by: 'subject' | 'sessionId' | 'tokenId' | 'issuer', revocation?: RevocationOrigin }]
  closed: [{ code: number, reason: string }]
}

type Send = WebSocket['send']
type TopicAuthorizer = (action: string, topic: string) => { allow: boolean, reason?: TopicDenyReason }

const FOREVER = Number.POSITIVE_INFINITY
const EMPTY: ReadonlyMap<string, ReadonlySet<string>> = new Map()

/**
 * One open socket's session (`request.wsSession`). Holds one slot in the process-wide
 * scheduler, armed at its next due moment: the notice, the close after expiry + grace, the
 * lifetime cap, the idle limit or the next ping, whichever comes first.
 */
export class Session extends EventEmitter<SessionEvents> implements Scheduled, Outgoing {
  /** this connection's id, unique per socket */
  readonly id: string = randomId()
  /**
   * The principal this session counts under for `maxSessionsPerPrincipal` (the one it opened
   * with), or null when not counted: the app may set `request.principal` later (an `auth: false`
   * route), and what ends must be what was counted.
   */
  readonly counted: Principal | null
  readonly openedAt: number
  readonly route: string
  /**
   * false on a socket that negotiated a closed subprotocol (graphql-transport-ws, graphql-ws,
   * the app's `closedSubprotocols`): no control frame is sent or read there
   */
  readonly controlFrames: boolean
  dueAt = 0
  heapIndex = -1
  /** where the app's message being sent in fragments stands (see ReservedTypes) */
  fragments: Fragments = 0

  readonly #host: SessionHost
  readonly #request: FastifyRequest
  readonly #socket: WebSocket
  readonly #send: Send
  readonly #capAt: number
  #expiresAt: number | undefined
  #noticeSent = false
  #lastActivity: number
  #nextPingAt: number
  /** the tag of the ping awaiting its pong, 0 when none awaits (see ping-tag.ts) */
  #pingTag = 0
  /** the ping before it, still unanswered when it was sent (0 if answered): its late echo still counts */
  #lastPingTag = 0
  #missedPongs = 0
  #framesIn = 0
  #framesOut = 0
  #windowStart = 0
  #attempts = 0
  /** refreshes queued or being checked: while any is, the idle close waits for its answer */
  #refreshing = 0
  #closeCode: number | undefined
  #closeReason = ''
  #revokedBy: RevocationOrigin | undefined
  #ended = false
  #topics: Map<string, Set<string>> | undefined
  #closeTimer: TimerHandle | undefined
  #remoteAddress = ''
  #withheldWarned = false

  constructor (host: SessionHost, request: FastifyRequest, socket: WebSocket, route: string, counted: Principal | null) {
    super()
    this.counted = counted
    this.#host = host
    this.#request = request
    this.#socket = socket
    this.route = route
    const { config } = host
    const now = config.clock.now()
    this.openedAt = now
    this.#lastActivity = now
    this.#nextPingAt = config.heartbeatMs > 0 ? now + config.heartbeatMs : FOREVER
    this.#capAt = config.maxLifetimeMs > 0 ? now + config.maxLifetimeMs : FOREVER
    this.#expiresAt = this.principal?.expiresAt
    this.controlFrames = !config.closedSubprotocols.has(socket.protocol)
    this.#send = socket.send
    this.#intercept()
  }

  get principal (): Principal | null { return this.#request.principal ?? null }
  /** when the credential expires, ms since epoch (token `exp`, certificate `notAfter`) */
  get expiresAt (): number | undefined { return this.#expiresAt }
  /** when the socket will be closed unless the credential is refreshed: expiry + grace, or the lifetime cap */
  get deadline (): number { return Math.min(this.#credentialCloseAt(), this.#capAt) }
  get closed (): boolean { return this.#ended || this.#closeCode !== undefined }
  /** whether the socket is open: no close begun by either side, or by the app */
  get socketOpen (): boolean { return this.#socket.readyState === this.#socket.OPEN }

  /** Remembers a topic the client holds, so a refresh that narrows the grants can revoke it. */
  trackTopic (topic: string, action = 'subscribe'): void {
    const topics = this.#topics ??= new Map()
    const actions = topics.get(topic)
    if (actions === undefined) topics.set(topic, new Set([action]))
    else actions.add(action)
  }

  /** Forgets one action the client holds on a topic, or (without `action`) all of them. */
  untrackTopic (topic: string, action?: string): void {
    const actions = this.#topics?.get(topic)
    if (actions === undefined) return
    if (action !== undefined) actions.delete(action)
    if (action === undefined || actions.size === 0) this.#topics?.delete(topic)
  }

  get topics (): ReadonlyMap<string, ReadonlySet<string>> { return this.#topics ?? EMPTY }

  info (): SessionInfo {
    return Object.freeze({
      id: this.id,
      route: this.route,
      remoteAddress: this.#remoteAddress,
      principal: this.principal,
      openedAt: this.openedAt,
      ...(this.#expiresAt !== undefined ? { expiresAt: this.#expiresAt } : {}),
      deadline: this.deadline,
      instance: this.#host.instance
    })
  }

  /** Called once the socket is open, before the app's handler. */
  start (): void {
    // Read while the socket is open: once it is destroyed Node no longer knows the peer's address.
    this.#remoteAddress = this.#request.ip
    const p = this.principal
    if (opened.hasSubscribers) {
      const origin = publishedOrigin(this.#request.headers.origin)
      // Optional fields set on the literal, not spread in: a spread builds a throwaway object per session.
      const message: SessionOpenedMessage = { app: this.#host.app, sessionId: this.id, route: this.route, principal: p, openedAt: this.openedAt, deadline: this.deadline, remoteAddress: this.#remoteAddress }
      if (origin !== undefined) message.origin = origin
      opened.publish(message)
    }
    const { registry } = this.#host
    if (registry !== undefined) this.#settle(registry.add(this.info()))
    this.fire(this.openedAt)
  }

  /** The scheduler's call: does what is due, then re-arms at the next due moment. */
  fire (now: number): void {
    const { config } = this.#host
    if (now >= this.#capAt && this.#capAt <= this.#credentialCloseAt()) return this.close(CloseCode.MAX_LIFETIME, 'maximum session lifetime reached')
    if (now >= this.#credentialCloseAt()) return this.close(CloseCode.CREDENTIAL_EXPIRED, 'credential expired')
    if (this.#idleAt() <= now) return this.close(CloseCode.IDLE_TIMEOUT, 'idle timeout')
    if (now >= this.#nextPingAt) {
      if (this.#pingTag !== 0 && ++this.#missedPongs >= 2) return this.terminate(CloseCode.IDLE_TIMEOUT, 'heartbeat timeout')
      this.#lastPingTag = this.#pingTag
      this.#pingTag = nextPingTag()
      this.#socket.ping(pingPayload(this.#pingTag))
      this.#nextPingAt = now + config.heartbeatMs
    }
    if (!this.#noticeSent && this.#expiresAt !== undefined && now >= this.#expiresAt - config.noticeMs) this.#notice()
    this.#host.scheduler.arm(this, this.#nextDue())
  }

  /**
   * Closes the socket with a code; the session ends when the socket reports closed. From now
   * on no frame reaches the app, and a peer that does not answer the close frame within
   * `closeTimeoutMs` is cut off (ws itself would wait 30 s, delivering frames meanwhile).
   */
  close (code: number, reason: string): void {
    if (this.closed) return
    this.#closeCode = code
    this.#closeReason = reason
    this.#host.scheduler.cancel(this)
    const { clock, closeTimeoutMs } = this.#host.config
    this.#closeTimer = clock.setTimer(() => { this.#socket.terminate() }, closeTimeoutMs)
    this.#socket.close(code, reason)
  }

  /** Closes 4403 because a revocation selected this session; `origin` says where the revocation came from. */
  revoke (by: 'subject' | 'sessionId' | 'tokenId' | 'issuer', origin?: RevocationOrigin): void {
    // Closed first: a 'revoked' listener that throws cannot leave a revoked socket open, nor
    // stop a revocation from reaching the other sessions it selects (the close frame is sent
    // now; the 'closed' event still comes after 'revoked').
    this.#revokedBy = origin
    this.close(CloseCode.REVOKED, 'access revoked')
    const revocation = origin !== undefined ? { revocation: origin } : {}
    if (revoked.hasSubscribers) revoked.publish({ app: this.#host.app, sessionId: this.id, route: this.route, principal: this.principal, by, ...revocation })
    this.#emitSafely('revoked', { by, ...revocation })
  }

  /** Cuts the socket off (no close handshake) and reports `code`. */
  terminate (code: number, reason: string): void {
    this.#closeCode = code
    this.#closeReason = reason
    this.#host.scheduler.cancel(this)
    this.#socket.terminate()
  }

  #credentialCloseAt (): number {
    return this.#expiresAt === undefined ? FOREVER : this.#expiresAt + this.#host.config.graceMs
  }

  #nextDue (): number {
    const { config } = this.#host
    let at = Math.min(this.#capAt, this.#credentialCloseAt(), this.#nextPingAt, this.#idleAt())
    if (!this.#noticeSent && this.#expiresAt !== undefined) at = Math.min(at, this.#expiresAt - config.noticeMs)
    return at
  }

  /**
   * When the session is closed as idle. A refresh that arrived in time holds it while it is
   * queued or checked (it counts as activity only if it succeeds), so a valid refresh is never
   * idle-closed while it waits its turn; once answered, a refused one lets the close happen.
   * The hold lasts one more `idleTimeoutMs` at most: a check that never answers (an app's
   * `authenticate` that hangs) cannot keep a silent socket open.
   */
  #idleAt (): number {
    const { idleTimeoutMs } = this.#host.config
    if (idleTimeoutMs <= 0) return FOREVER
    return this.#lastActivity + (this.#refreshing === 0 ? idleTimeoutMs : 2 * idleTimeoutMs)
  }

  #notice (): void {
    this.#noticeSent = true
    const expiresAt = this.#expiresAt as number
    const deadline = this.deadline
    this.#control({ type: this.#host.config.messages.expiring, expiresAt, deadline })
    if (expiring.hasSubscribers) expiring.publish({ app: this.#host.app, sessionId: this.id, route: this.route, principal: this.principal, expiresAt, deadline })
    this.#emitSafely('expiring', { expiresAt, deadline })
  }

  #control (message: Record<string, unknown>): void {
    // A closed subprotocol's client would fail on a message its protocol does not define.
    if (!this.controlFrames) return
    this.#framesOut++
    ;(this.#send as (data: string) => void).call(this.#socket, JSON.stringify(message))
  }

  /**
   * Counts frames both ways and takes refresh messages out of the stream before any of the
   * app's `message` listeners see them; every other frame reaches the app untouched.
   */
  #intercept (): void {
    const session = this
    const socket = this.#socket
    const emit = socket.emit
    // On a closed subprotocol every frame is the framework's: none is read as a refresh.
    const control = this.controlFrames ? this.#host.control : undefined
    // pong and close are seen here too: no listener, and no closure, per socket for them.
    socket.emit = function (this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'pong') {
        // Only the echo of one of the last two pings answers (a reader up to two heartbeats
        // behind is not cut); any other pong still reaches the app.
        if (answers(args[0], session.#pingTag) || answers(args[0], session.#lastPingTag)) {
          session.#pingTag = session.#lastPingTag = 0
          session.#missedPongs = 0
        }
      } else if (event === 'close') {
        session.#onClose(args[0] as number, args[1] as Buffer)
      } else if (event === 'message') {
        // A session being closed (expired, revoked, idle, shutting down) delivers nothing more.
        if (session.#closeCode !== undefined) return false
        const now = session.#host.config.clock.now()
        // A deadline already past (its timer late behind a busy loop) closes the session here,
        // before the frame is read: no frame, and no refresh, is taken after expiry + grace or
        // the lifetime cap.
        if (session.#closedPastDeadline(now)) return false
        session.#framesIn++
        if (control !== undefined) {
          const token = control.read(args[0], args[1])
          if (token === null) {
            session.close(CloseCode.BAD_CONTROL_MESSAGE, 'malformed control message')
            return true
          }
          // A refresh message counts as activity only once it succeeds: refused or dropped
          // ones, which cost the client nothing, do not hold a silent socket open.
          if (token !== undefined) {
            session.#refresh(token)
            return true
          }
        }
        session.#lastActivity = now
      }
      return emit.call(this, event, ...args)
    } as WebSocket['emit']
    const send = this.#send
    const reserved = this.controlFrames ? this.#host.reserved : undefined
    socket.send = function (this: WebSocket, ...args: Parameters<Send>) {
      // The app's frame that a client would read as one of ours is not sent (see ReservedTypes).
      // On a socket that is not open ws sends nothing, and tells the app so itself.
      if (reserved !== undefined && this.readyState === this.OPEN && reserved.withholds(args[0], args[1], session)) return session.#withheld(args)
      session.#framesOut++
      session.#lastActivity = session.#host.config.clock.now()
      return send.apply(this, args)
    } as Send
  }

  #withheld (args: unknown[]): void {
    const cb = args.findLast((a) => typeof a === 'function') as ((err?: Error) => void) | undefined
    if (!this.#withheldWarned) {
      this.#withheldWarned = true
      this.#request.log.warn({ sessionId: this.id, route: this.route }, 'session-expiry: a frame from the app holds the type of a control message only session-expiry sends, and was not sent (it is withheld each time; this is said once per session)')
    }
    if (cb !== undefined) process.nextTick(cb, new Error('session-expiry: not sent: the frame holds the type of a control message only session-expiry sends'))
  }

  #refresh (token: string): void {
    const { config } = this.#host
    const now = config.clock.now()
    if (now - this.#windowStart >= config.refreshLimit.windowMs) {
      this.#windowStart = now
      this.#attempts = 0
    }
    // Past the limit, the first attempt of the window is answered WSG_RATE_LIMITED and the
    // next ones are dropped unanswered; a client that sends as many again in the window is
    // flooding, and is closed 4400 (a misbehaving client, which must not loop). A flood of
    // refresh frames costs no reply, no diagnostics message and no audit line each.
    const { max } = config.refreshLimit
    if (++this.#attempts > max) {
      if (this.#attempts === max + 1) this.#refreshFailed('WSG_RATE_LIMITED')
      else if (this.#attempts > 2 * max) this.close(CloseCode.BAD_CONTROL_MESSAGE, 'too many refresh messages')
      return
    }
    // With refresh off the name is still reserved: a token sent in-band is refused, never handed to the app.
    if (!config.refresh) return this.#refreshFailed('WSG_BAD_REQUEST')
    const before = this.principal
    // A socket without a principal has nothing to refresh: refused without a signature check.
    if (before === null) return this.#refreshFailed('WSG_TOKEN_INVALID')
    // Taken before the checks start: a revocation delivered while they run is applied to their result.
    const seen = this.#host.delivered()
    // The checks (a signature) wait their turn in the shared queue, so a burst of refreshes
    // cannot hold the event loop for long (see RefreshQueue).
    this.#refreshing++
    this.#host.refreshes.add(() => { this.#checkRefresh(token, before, seen) })
  }

  /** A refresh was answered (or dropped, its session closed): the idle close it held is due again. */
  #refreshDone (): void {
    if (--this.#refreshing === 0 && !this.closed) this.#host.scheduler.arm(this, this.#nextDue())
  }

  #checkRefresh (token: string, before: Principal, seen: number): void {
    // While it was queued the session may have been closed, or passed a deadline whose timer is late.
    if (this.closed || this.#closedPastDeadline(this.#host.config.clock.now())) return this.#refreshDone()
    const { clock, refreshTimeoutMs } = this.#host.config
    let checked: Promise<AuthOutcome>
    try {
      // Promise.resolve: an app's authenticate written in JavaScript may answer synchronously.
      // Bounded: one that never answers would hold the refresh (and the idle close it holds,
      // the session, its request and the token) for as long as it does not.
      checked = Promise.resolve(bounded(this.#host.authenticate(token, this.#request), clock, refreshTimeoutMs, 'the refresh\'s authenticate'))
    } catch (err) {
      checked = Promise.reject(err)
    }
    checked.then(
      (outcome) => this.#applyRefresh(before, outcome, seen),
      (err: unknown) => {
        this.#request.log.error({ err }, 'session-expiry: refresh check failed; refused')
        this.#refreshFailed('WSG_UNAVAILABLE')
      }
    ).catch((err: unknown) => { this.#request.log.error({ err }, 'session-expiry: refresh could not be applied') })
      .finally(() => { this.#refreshDone() })
  }

  /** Closes the session (4401 or 4409) when `now` is past expiry + grace or the lifetime cap. */
  #closedPastDeadline (now: number): boolean {
    if (now < this.#credentialCloseAt() && now < this.#capAt) return false
    this.fire(now)
    return true
  }

  async #applyRefresh (before: Principal, outcome: AuthOutcome, seen: number): Promise<void> {
    if (!outcome.ok) return this.#refreshFailed(outcome.code)
    const next = outcome.principal
    // A refresh is a handshake: every check the route's handshake applies (scope rules, the
    // handshake topic, revocations, whichever plugins registered them) runs on the new principal.
    // The checks live on the route's config (under symbol keys): an app's onRoute hook that
    // rebuilt it without them (structuredClone, JSON) would let a refresh skip every check.
    // This plugin's own check is always there otherwise: its absence refuses.
    if (!handshakeChecksOf(this.#request).some((c) => c.source === SOURCE)) {
      this.#request.log.error({ route: this.route }, `${SOURCE}: the route's handshake checks are gone from its config (an onRoute hook replaced config without its symbol keys); refresh refused`)
      return this.#refreshFailed('WSG_UNAVAILABLE')
    }
    // Another subject is refused before the route's checks run on it: they would decide (and
    // publish, as audit lines naming it) a principal this socket can never take.
    if (next.issuer !== before.issuer || next.id !== before.id) return this.#refreshFailed('WSG_TOKEN_INVALID')
    let code: WsguardErrorCode | undefined
    try {
      // Bounded as the token check is: a check of the app's own (core's addHandshakeCheck) may hang.
      const { clock, refreshTimeoutMs } = this.#host.config
      code = await bounded(runHandshakeChecks(this.#request, next), clock, refreshTimeoutMs, 'the route\'s handshake checks')
    } catch (err) {
      this.#request.log.error({ err }, 'session-expiry: a handshake check failed; refresh refused')
      return this.#refreshFailed('WSG_UNAVAILABLE')
    }
    if (code === undefined && this.#host.revokedSince(seen, this.id, next) !== undefined) code = 'WSG_TOKEN_REVOKED'
    if (code !== undefined) return this.#refreshFailed(code)
    // From here on nothing awaits: the comparisons hold for what is applied. A principal
    // replaced meanwhile (a concurrent refresh won) makes this one stale.
    const current = this.principal
    if (current !== before) return this.#refreshFailed('WSG_TOKEN_INVALID')
    if (next.certificate?.fingerprint256 !== current.certificate?.fingerprint256) return this.#refreshFailed('WSG_CERT_BINDING_MISMATCH')
    if (current.expiresAt !== undefined && (next.expiresAt === undefined || next.expiresAt <= current.expiresAt)) return this.#refreshFailed('WSG_TOKEN_INVALID')
    // Checks that waited (a key set fetched, a slow store) must not renew a session past its deadline.
    if (this.closed || this.#closedPastDeadline(this.#host.config.clock.now())) return

    const previousExpiresAt = this.#expiresAt
    this.#request.principal = next
    this.#lastActivity = this.#host.config.clock.now()
    this.#expiresAt = next.expiresAt
    this.#noticeSent = false
    this.#host.scheduler.arm(this, this.#nextDue())
    this.#control({ type: this.#host.config.messages.refreshed, ...(next.expiresAt !== undefined ? { expiresAt: next.expiresAt } : {}) })
    if (refreshed.hasSubscribers) {
      refreshed.publish({ app: this.#host.app, sessionId: this.id, route: this.route, principal: next, ...(previousExpiresAt !== undefined ? { previousExpiresAt } : {}), ...(next.expiresAt !== undefined ? { expiresAt: next.expiresAt } : {}) })
    }
    const { registry } = this.#host
    if (registry !== undefined) this.#settle(registry.update(this.info()))
    this.#emitSafely('refreshed', { previousExpiresAt, expiresAt: next.expiresAt, principal: next })
    this.#recheckTopics()
  }

  /** After a refresh: every tracked topic the new principal may no longer hold is revoked. */
  #recheckTopics (): void {
    const authorize = (this.#request as unknown as { authorizeTopic?: TopicAuthorizer }).authorizeTopic
    const topics = this.#topics
    if (typeof authorize !== 'function' || topics === undefined) return
    // Each action held on a topic is checked on its own: losing one (subscribe) while keeping
    // another (publish) revokes that one.
    for (const [topic, actions] of [...topics]) {
      for (const action of [...actions]) {
        const decision = authorize.call(this.#request, action, topic)
        if (decision.allow) continue
        this.untrackTopic(topic, action)
        this.#control({ type: this.#host.config.messages.topicRevoked, topic, action })
        this.#emitSafely('topic-revoked', { topic, action, reason: decision.reason })
      }
    }
  }

  #refreshFailed (code: WsguardErrorCode): void {
    if (this.closed) return
    this.#control({ type: this.#host.config.messages.refreshFailed, code })
    if (refreshFailed.hasSubscribers) refreshFailed.publish({ app: this.#host.app, sessionId: this.id, route: this.route, principal: this.principal, code })
    this.#emitSafely('refresh_failed', { code })
  }

  #onClose (code: number, reason: Buffer): void {
    this.#ended = true
    if (this.#closeTimer !== undefined) this.#host.config.clock.clearTimer(this.#closeTimer)
    this.#host.scheduler.cancel(this)
    const closeCode = this.#closeCode ?? code
    const closeReason = this.#closeCode !== undefined ? this.#closeReason : reason.toString('utf8')
    const { registry } = this.#host
    if (registry !== undefined) this.#settle(registry.remove(this.id))
    this.#host.ended(this)
    if (closedChannel.hasSubscribers) {
      const message: SessionClosedMessage = {
        app: this.#host.app,
        sessionId: this.id,
        route: this.route,
        principal: this.principal,
        closeCode,
        closedBy: this.#closeCode !== undefined ? 'server' : 'peer',
        reason: closeReason,
        openedAt: this.openedAt,
        closedAt: this.#host.config.clock.now(),
        framesIn: this.#framesIn,
        framesOut: this.#framesOut
      }
      if (this.#revokedBy !== undefined) message.revocation = this.#revokedBy
      closedChannel.publish(message)
    }
    // The event's object is built only for someone listening (most apps listen to the socket).
    if (this.listenerCount('closed') > 0) this.#emitSafely('closed', { code: closeCode, reason: closeReason })
  }

  /**
   * Tells each of the app's listeners of `event` in turn. One that throws is logged, and the
   * others still hear the event: the session's own work around it (arming its next deadline
   * after 'expiring', re-checking the tracked topics after 'refreshed', revoking the next topic,
   * closing) must not depend on the app's code, or an app bug would keep a socket open past its
   * deadline or its grants.
   */
  #emitSafely<K extends keyof SessionEvents> (event: K, payload: SessionEvents[K][0]): void {
    // rawListeners: a listener added with once() is removed as it is called, as emit() does.
    for (const listener of (this as EventEmitter).rawListeners(event) as Array<(e: SessionEvents[K][0]) => void>) {
      try {
        listener.call(this, payload)
      } catch (err) {
        this.#request.log.error({ err, sessionId: this.id }, `session-expiry: an app listener of '${event}' threw`)
      }
    }
  }

  /** A registry call may be async (Redis): its failure is logged, never thrown at the socket. */
  #settle (given: void | Promise<void>): void {
    const result = asNativePromise(given)
    if (result instanceof Promise) result.catch((err: unknown) => this.#request.log.error({ err }, 'session-expiry: session registry call failed'))
  }
}
