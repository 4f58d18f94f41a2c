// The web app's sessions: a random id in an HttpOnly cookie, the tokens in this process's
// memory. The page never holds a refresh token, and an access token only in memory, when
// it asks for one (see server.ts, POST /session/token).
import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { PendingSignIn, Tokens } from './oidc-client.js'
import type { DemoUser } from './users.js'

export const SESSION_COOKIE = 'demo_session'
export const SIGN_IN_COOKIE = 'demo_signin'

/** Sign-ins under way kept at most (the oldest is forgotten first), and for how long: the sign-in cookie's life. */
export const MAX_PENDING_SIGN_INS = 1_000
export const SIGN_IN_TTL_MS = 600_000
/** Signed-in browsers kept at most (the oldest is signed out first), and for how long: the refresh token's life at the provider. */
export const MAX_SESSIONS = 1_000
export const SESSION_TTL_MS = 86_400_000
/** Access tokens one session may have handed to its page that are still accepted somewhere. */
export const MAX_LIVE_TOKENS = 16
/** How long past its `exp` a handed-out token is still revoked at sign-out: more than any verifier's clock tolerance. */
export const TOKEN_TOLERANCE_MS = 60_000

export interface WebSession {
  id: string
  user: DemoUser
  tokens: Tokens
  /** ms since epoch */
  createdAt: number
  /** the `jti` of each access token handed to the page, and its `exp` (ms): revoked at sign-out */
  handedOut: Map<string, number>
}

/** The value of cookie `name` in a Cookie header. */
export function cookie (request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function setCookie (reply: FastifyReply, name: string, value: string, path: string, maxAgeS: number): void {
  reply.header('set-cookie', `${name}=${value}; Path=${path}; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}`)
}

/** Keeps at most `max` entries of a map in insertion order: the oldest go first. */
function trim (map: Map<string, unknown>, max: number): void {
  for (const key of map.keys()) {
    if (map.size < max) return
    map.delete(key)
  }
}

/**
 * Every entry expires and each map is bounded: `/login` answers anyone, and every click on it
 * remembered a sign-in for good (as every sign-in did a session), so a loop grew the process
 * without end.
 */
export class WebSessions {
  readonly #sessions = new Map<string, WebSession>()
  readonly #signIns = new Map<string, PendingSignIn & { at: number }>()
  readonly #now: () => number

  constructor (now: () => number = Date.now) {
    this.#now = now
  }

  /** Remembers a sign-in under way; returns the key for its cookie. */
  startSignIn (pending: PendingSignIn): string {
    const key = randomBytes(16).toString('base64url')
    trim(this.#signIns, MAX_PENDING_SIGN_INS)
    this.#signIns.set(key, { ...pending, at: this.#now() })
    return key
  }

  /** The sign-in a callback finishes, used once, within SIGN_IN_TTL_MS. */
  takeSignIn (key: string | undefined): PendingSignIn | undefined {
    const pending = this.#signIns.get(key ?? '')
    this.#signIns.delete(key ?? '')
    if (pending === undefined || this.#now() - pending.at >= SIGN_IN_TTL_MS) return undefined
    const { at: _at, ...rest } = pending
    return rest
  }

  create (user: DemoUser, tokens: Tokens): WebSession {
    const session = { id: randomBytes(24).toString('base64url'), user, tokens, createdAt: this.#now(), handedOut: new Map<string, number>() }
    trim(this.#sessions, MAX_SESSIONS)
    this.#sessions.set(session.id, session)
    return session
  }

  of (request: FastifyRequest): WebSession | undefined {
    const id = cookie(request, SESSION_COOKIE) ?? ''
    const session = this.#sessions.get(id)
    if (session === undefined || this.#now() - session.createdAt < SESSION_TTL_MS) return session
    this.#sessions.delete(id)
    return undefined
  }

  /**
   * Records an access token handed to the session's page; false (nothing recorded) when
   * MAX_LIVE_TOKENS it was given have not expired yet.
   */
  handOut (session: WebSession, jti: string, expiresAt: number): boolean {
    const now = this.#now()
    for (const [id, exp] of session.handedOut) if (exp + TOKEN_TOLERANCE_MS <= now) session.handedOut.delete(id)
    if (session.handedOut.size >= MAX_LIVE_TOKENS) return false
    session.handedOut.set(jti, expiresAt)
    return true
  }

  /** sign-ins under way and sessions held */
  get size (): { signIns: number, sessions: number } {
    return { signIns: this.#signIns.size, sessions: this.#sessions.size }
  }

  end (id: string): void {
    this.#sessions.delete(id)
  }

  /** Signs a user out everywhere; returns how many sessions ended. */
  endUser (userId: string): number {
    let ended = 0
    for (const [id, session] of this.#sessions) {
      if (session.user.id === userId) {
        this.#sessions.delete(id)
        ended++
      }
    }
    return ended
  }
}
