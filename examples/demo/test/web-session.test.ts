// The web app's session store: every map bounded, every entry expiring.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { MAX_LIVE_TOKENS, MAX_PENDING_SIGN_INS, MAX_SESSIONS, SESSION_TTL_MS, SIGN_IN_TTL_MS, TOKEN_TOLERANCE_MS, WebSessions } from '../src/web-session.js'
import { USERS } from '../src/users.js'

const pending = (n: number): { state: string, verifier: string, url: string } => ({ state: `s${n}`, verifier: `v${n}`, url: `u${n}` })
const tokens = { accessToken: 'a', refreshToken: 'r', expiresAt: 0 }
const withCookie = (id: string): FastifyRequest => ({ headers: { cookie: `demo_session=${id}` } }) as unknown as FastifyRequest
const alice = USERS[0] as (typeof USERS)[number]

t.test('sign-ins under way: at most MAX_PENDING_SIGN_INS (the oldest forgotten), each for SIGN_IN_TTL_MS', async (t) => {
  let now = 0
  const sessions = new WebSessions(() => now)
  const keys: string[] = []
  for (let i = 0; i < MAX_PENDING_SIGN_INS + 5; i++) keys.push(sessions.startSignIn(pending(i)))
  t.equal(sessions.size.signIns, MAX_PENDING_SIGN_INS)
  t.equal(sessions.takeSignIn(keys[4]), undefined, 'one of the oldest is gone')
  t.same(sessions.takeSignIn(keys[5]), pending(5), 'the oldest kept is still there, used once')
  t.equal(sessions.takeSignIn(keys[5]), undefined)
  now = SIGN_IN_TTL_MS
  t.equal(sessions.takeSignIn(keys[6]), undefined, 'expired')
  t.equal(sessions.size.signIns, MAX_PENDING_SIGN_INS - 2)
})

t.test('sessions: at most MAX_SESSIONS (the oldest signed out), each for SESSION_TTL_MS', async (t) => {
  let now = 0
  const sessions = new WebSessions(() => now)
  const ids: string[] = []
  for (let i = 0; i < MAX_SESSIONS + 3; i++) ids.push(sessions.create(alice, tokens).id)
  t.equal(sessions.size.sessions, MAX_SESSIONS)
  t.equal(sessions.of(withCookie(ids[2] as string)), undefined)
  t.equal(sessions.of(withCookie(ids[3] as string))?.id, ids[3])
  now = SESSION_TTL_MS
  t.equal(sessions.of(withCookie(ids[3] as string)), undefined, 'expired, and forgotten')
  t.equal(sessions.size.sessions, MAX_SESSIONS - 1)
})

t.test('tokens handed out: at most MAX_LIVE_TOKENS still accepted somewhere; older ones forgotten past their exp and any tolerance', async (t) => {
  let now = 0
  const sessions = new WebSessions(() => now)
  const session = sessions.create(alice, tokens)
  for (let i = 0; i < MAX_LIVE_TOKENS; i++) t.ok(sessions.handOut(session, `j${i}`, 1_000 + i))
  t.notOk(sessions.handOut(session, 'one-more', 5_000))
  t.equal(session.handedOut.size, MAX_LIVE_TOKENS)
  now = 1_000 + TOKEN_TOLERANCE_MS
  t.ok(sessions.handOut(session, 'one-more', 5_000))
  t.same([...session.handedOut.keys()].slice(0, 2), ['j1', 'j2'], 'only the one past its tolerance went')
})
