// The web app's sessions: a random id in an HttpOnly cookie, the tokens in this process's
// memory. The page never holds a refresh token, and an access token only in memory, when
// it asks for one (see server.ts, POST /session/token).
import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { PendingSignIn, Tokens } from './oidc-client.js'
import type { DemoUser } from './users.js'

export const SESSION_COOKIE = 'demo_session'
export const SIGN_IN_COOKIE = 'demo_signin'

export interface WebSession {
  id: string
  user: DemoUser
  tokens: Tokens
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

export class WebSessions {
  readonly #sessions = new Map<string, WebSession>()
  readonly #signIns = new Map<string, PendingSignIn>()

  /** Remembers a sign-in under way; returns the key for its cookie. */
  startSignIn (pending: PendingSignIn): string {
    const key = randomBytes(16).toString('base64url')
    this.#signIns.set(key, pending)
    return key
  }

  /** The sign-in a callback finishes, used once. */
  takeSignIn (key: string | undefined): PendingSignIn | undefined {
    const pending = this.#signIns.get(key ?? '')
    this.#signIns.delete(key ?? '')
    return pending
  }

  create (user: DemoUser, tokens: Tokens): WebSession {
    const session = { id: randomBytes(24).toString('base64url'), user, tokens }
    this.#sessions.set(session.id, session)
    return session
  }

  of (request: FastifyRequest): WebSession | undefined {
    return this.#sessions.get(cookie(request, SESSION_COOKIE) ?? '')
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
