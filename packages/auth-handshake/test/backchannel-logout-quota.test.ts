import t from 'tap'
import { DEFAULT_LOGOUT_MAX_PER_SUBJECT, MAX_LOGOUT_SUBJECTS, MemoryReplayStore } from '../src/index.js'
import { T0, form, logoutApp, logoutClaims, logoutToken } from './logout-helpers.js'

// Session 26's adversarial review: one account at the trusted IdP, signing in and out in a loop,
// had each sign-out's logout (a fresh `sid` each time) kept as a record for the retention, until
// the revocation store's bound was reached (Redis's default 100,000 in 28 s of this server's
// time); every later logout, a victim's among them, was then answered 503 and not applied: her
// socket stayed open and her logged-out token was accepted. Now each user (`iss` and `sub`) has a
// share of the store on each instance, `maxLogoutsPerSubject`. The review's case, end to end on
// Redis stores, is `redis/test/logout-share.test.ts`.

const post = (token: string) => form({ logout_token: token })

t.test('one user\'s logouts beyond maxLogoutsPerSubject are refused 503 and not applied; the jti is released; others\' are applied', async (t) => {
  const env = await logoutApp(t, { maxLogoutsPerSubject: 3 })
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await env.post(post(logoutToken(logoutClaims(T0, { sub: 'mallory', sid: `m-${i}` }))))).statusCode)
  t.same(statuses, [200, 200, 200, 503], 'three in force, the fourth refused')
  t.equal(env.store.revoked.length, 3)
  t.match(env.logs.text(), /back-channel logout not applied: this user's logouts in force reached maxLogoutsPerSubject \(3\)/)
  t.notOk(env.logs.text().includes('mallory'), 'the user is not named in the log')

  t.equal((await env.post(post(logoutToken(logoutClaims(T0, { sub: 'alice', sid: 'a-1' }))))).statusCode, 200, 'another user\'s logout is applied')
  t.equal((await env.post(post(logoutToken(logoutClaims(T0, { sub: undefined, sid: 's-only' }))))).statusCode, 200, 'a token with no sub is counted against nobody')

  // A refused logout's jti is released: the IdP's retry of the same token is no replay (400).
  const held = logoutToken(logoutClaims(T0, { sub: 'mallory', sid: 'm-held' }))
  t.equal((await env.post(post(held))).statusCode, 503)
  t.equal((await env.post(post(held))).statusCode, 503, 'the same token again: refused for the share, not as a replay')
  // Her share frees as her logouts leave their retention (the held token is too old by then: a new one).
  env.clock.advance(86_400_000 + 1)
  const retry = logoutToken(logoutClaims(env.clock.now(), { sub: 'mallory', sid: 'm-held' }))
  t.equal((await env.post(post(retry))).statusCode, 200, 'her share frees as her logouts leave their retention')
})

t.test('a logout the revocation store refuses gives its place in the user\'s share back', async (t) => {
  const env = await logoutApp(t, { maxLogoutsPerSubject: 1, storeTimeoutMs: 50 })
  env.store.failWith = new Error('store down')
  t.equal((await env.post(post(logoutToken(logoutClaims(T0, { sub: 'bob', sid: 'b-1' }))))).statusCode, 503)
  env.store.failWith = undefined
  t.equal((await env.post(post(logoutToken(logoutClaims(T0, { sub: 'bob', sid: 'b-2' }))))).statusCode, 200)
  t.equal((await env.post(post(logoutToken(logoutClaims(T0, { sub: 'bob', sid: 'b-3' }))))).statusCode, 503)
})

t.test(`while ${MAX_LOGOUT_SUBJECTS} users have logouts in force, a new one takes the place of one with the fewest: a user signing out in a loop is never forgotten`, async (t) => {
  // A replay store with room for every jti (the default holds 10,000).
  const env = await logoutApp(t, { maxLogoutsPerSubject: 2, replays: new MemoryReplayStore({ maxEntries: 2 * MAX_LOGOUT_SUBJECTS, clock: { now: () => T0 } }) })
  const logout = async (sub: string, sid: string, at = T0): Promise<number> => (await env.post(post(logoutToken(logoutClaims(at, { sub, sid }))))).statusCode
  // Ordinary traffic: that many users signed out once each (the loop is bounded by that count).
  for (let i = 0; i < MAX_LOGOUT_SUBJECTS; i++) {
    const status = await logout(`u-${i}`, `s-${i}`)
    if (status !== 200) t.fail(`logout ${i}: ${status}`)
  }
  // Found by the review of this change: a full table used to apply a new user's logouts uncounted.
  t.same([await logout('mallory', 'm-0'), await logout('mallory', 'm-1'), await logout('mallory', 'm-2')], [200, 200, 503], 'a new user meets the share')
  for (let i = 0; i < 3; i++) t.equal(await logout(`new-${i}`, `n-${i}`), 200, 'each new user takes the place of one with a single logout')
  t.equal(await logout('mallory', 'm-3'), 503, 'never hers: she holds the most')
  t.equal(await logout('u-0', 's-0b'), 200, 'a forgotten user is counted again from nothing')
  env.clock.advance(86_400_000 + 1)
  const later = env.clock.now()
  t.same([await logout('after', 'x-1', later), await logout('after', 'x-2', later), await logout('after', 'x-3', later)], [200, 200, 503], 'the expired ones swept')
  t.equal(await logout('mallory', 'm-4', later), 200, 'her logouts left their retention too')
})

t.test(`the default share is ${DEFAULT_LOGOUT_MAX_PER_SUBJECT} logouts in force per user`, async (t) => {
  const env = await logoutApp(t)
  let applied = 0
  for (let i = 0; i <= DEFAULT_LOGOUT_MAX_PER_SUBJECT; i++) {
    if ((await env.post(post(logoutToken(logoutClaims(T0, { sub: 'carol', sid: `c-${i}` }))))).statusCode === 200) applied++
  }
  t.equal(applied, DEFAULT_LOGOUT_MAX_PER_SUBJECT)
})
