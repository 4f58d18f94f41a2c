// The web app: sign-in (code flow with PKCE against the embedded provider), the session
// that keeps the tokens, the prices and admin pages, and the endpoints their script calls.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authorizationRequest, exchangeCode, refresh } from './oidc-client.js'
import { PROTOCOL, TICKET_PATH, feedPath } from './api.js'
import { topicsOf } from './prices.js'
import { adminPage } from './pages/admin.js'
import { landingPage, messagePage } from './pages/landing.js'
import { pricesPage } from './pages/prices.js'
import { SESSION_COOKIE, SIGN_IN_COOKIE, WebSessions, cookie, setCookie, type WebSession } from './web-session.js'
import { TENANTS, USERS, userById } from './users.js'

export interface WebOptions {
  issuer: string
  /** the app's origin, known once it listens */
  origin: () => string
  sessions: WebSessions
  /** the pages' script (/app.js) */
  script: string
  /** revokes a user's sockets (session-expiry); resolves with how many closed */
  revoke: (subject: string) => Promise<number>
  /** revokes access tokens by `jti` (session-expiry): their sockets close, their next handshake is refused */
  revokeTokens: (tokenIds: string[]) => Promise<void>
  /** the open sessions, for the admin page */
  sessionsList: () => Promise<Array<{ subject: string, tenant: string, socket: string, route: string, expiresAt?: number }>>
}

/** A token with less than this left is refreshed before it is handed to the page. */
export const MIN_TOKEN_LEFT_MS = 3_000

const html = (reply: FastifyReply, status: number, body: string): FastifyReply =>
  reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body)

/** The claims of a JWT from our own provider, read (not verified: it came from the token endpoint). */
function claimsOf (jwt: string): { sub: string, jti: string, exp: number } {
  return JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()) as { sub: string, jti: string, exp: number }
}

export function registerWeb (app: FastifyInstance, options: WebOptions): void {
  const { sessions } = options
  const redirectUri = (): string => `${options.origin()}/callback`
  /** A state-changing request from our own page: the browser's Origin says so. */
  const sameOrigin = (request: FastifyRequest): boolean => request.headers.origin === options.origin()

  app.get('/favicon.ico', async (_request, reply) => await reply.code(204).send())
  app.get('/app.js', async (_request, reply) => await reply.type('text/javascript; charset=utf-8').send(options.script))

  app.get('/', async (request, reply) => {
    const session = sessions.of(request)
    if (session === undefined) return html(reply, 200, landingPage())
    const { tenant } = session.user
    const other = TENANTS.find((t) => t !== tenant) as string
    return html(reply, 200, pricesPage(session, {
      page: 'prices',
      user: session.user.id,
      tenant,
      feed: feedPath(tenant),
      topics: topicsOf(tenant),
      otherTopic: topicsOf(other)[0] as string,
      otherFeed: feedPath(other),
      ticketUrl: TICKET_PATH,
      protocol: PROTOCOL
    }))
  })

  app.get('/login', async (_request, reply) => {
    const pending = authorizationRequest(options.issuer, redirectUri())
    setCookie(reply, SIGN_IN_COOKIE, sessions.startSignIn(pending), '/callback', 600)
    return await reply.redirect(pending.url, 303)
  })

  app.get<{ Querystring: { code?: string, state?: string } }>('/callback', async (request, reply) => {
    const pending = sessions.takeSignIn(cookie(request, SIGN_IN_COOKIE))
    const { code, state } = request.query
    if (pending === undefined || code === undefined || state !== pending.state) {
      return html(reply, 400, messagePage('Sign-in failed', 'This sign-in was not started here, or was used already. <a href="/login">Sign in again</a>.'))
    }
    const tokens = await exchangeCode(options.issuer, redirectUri(), code, pending.verifier)
    const session = sessions.create(userById(claimsOf(tokens.accessToken).sub) as NonNullable<ReturnType<typeof userById>>, tokens)
    reply.header('set-cookie', [
      `${SESSION_COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Lax`,
      `${SIGN_IN_COOKIE}=; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=0`
    ])
    return await reply.redirect('/', 303)
  })

  // Signing out ends what the page was given too: every access token it got is revoked, so
  // its sockets close (4403) and its next handshake or ticket's is refused, rather than both
  // living on until the token expires (another tab's socket, a copied token).
  // A same-origin POST only: the session cookie is SameSite=Lax, which a top-level GET from
  // another site still carries, so a GET that signed out could be triggered by any link.
  // GET /logout shows the button instead.
  const signOutForm = '<form method="post" action="/logout" enctype="text/plain"><button class="primary">Sign out</button></form>'
  app.get('/logout', async (_request, reply) => html(reply, 200, messagePage('Sign out', `Sign out of the demo? ${signOutForm}`)))
  app.post('/logout', async (request, reply) => {
    if (!sameOrigin(request)) return await reply.code(403).send({ error: 'cross-origin' })
    const session = sessions.of(request)
    if (session !== undefined) {
      sessions.end(session.id)
      await options.revokeTokens([...session.handedOut.keys()])
    }
    setCookie(reply, SESSION_COOKIE, '', '/', 0)
    return await reply.redirect('/', 303)
  })

  // The page's access token, for its ticket requests and the in-band refresh. Same-origin
  // POST only (the session cookie is SameSite=Lax and HttpOnly; the Origin is checked);
  // never cached. 'refresh' and 'expired' always get a new token from the provider.
  app.post<{ Body: { reason?: string } | undefined }>('/session/token', async (request, reply) => {
    reply.header('cache-control', 'no-store')
    const session = sessions.of(request)
    if (!sameOrigin(request)) return await reply.code(403).send({ error: 'cross-origin' })
    if (session === undefined) return await reply.code(401).send({ error: 'signed out' })
    const reason = request.body?.reason
    if (reason !== 'connect' || session.tokens.expiresAt - Date.now() < MIN_TOKEN_LEFT_MS) {
      session.tokens = await refresh(options.issuer, session.tokens)
    }
    const { jti, exp } = claimsOf(session.tokens.accessToken)
    // Each token handed out is recorded to be revoked at sign-out; a page asking for more than
    // it can use is refused, so the record stays small.
    if (!sessions.handOut(session, jti, exp * 1000)) return await reply.code(429).send({ error: 'too many live tokens' })
    return { token: session.tokens.accessToken }
  })

  const admin = (request: FastifyRequest): WebSession | undefined => {
    const session = sessions.of(request)
    return session?.user.roles.includes('admin') === true ? session : undefined
  }

  app.get('/admin', async (request, reply) => {
    const session = admin(request)
    if (session === undefined) return html(reply, 403, messagePage('Admins only', 'Sign in as <b>admin</b> to revoke users. <a href="/logout">Sign out</a> first.'))
    return html(reply, 200, adminPage(session, { page: 'admin', users: USERS.filter((u) => u.id !== session.user.id).map(({ id, tenant }) => ({ id, tenant })) }))
  })

  app.get('/admin/sessions', async (request, reply) => {
    if (admin(request) === undefined) return await reply.code(403).send({ error: 'admins only' })
    return await options.sessionsList()
  })

  app.post<{ Body: { subject?: unknown } | undefined }>('/admin/revoke', async (request, reply) => {
    if (admin(request) === undefined || !sameOrigin(request)) return await reply.code(403).send({ error: 'admins only, from this app' })
    const subject = request.body?.subject
    if (typeof subject !== 'string' || userById(subject) === undefined) return await reply.code(400).send({ error: 'unknown user' })
    const closed = await options.revoke(subject)
    // Signed out of the app too: the page's next token request gets 401.
    sessions.endUser(subject)
    return { closed }
  })
}
