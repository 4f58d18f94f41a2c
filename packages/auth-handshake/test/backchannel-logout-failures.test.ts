import t, { type Test } from 'tap'
import type { ReplayStore } from '@wsguard/core'
import { generateKey, jwks, startJwksServer, until } from '@wsguard/testing'
import { MemoryReplayStore } from '../src/index.js'
import { CLIENT, ISS, T0, form, key, logoutApp, logoutClaims, logoutToken, type LogoutApp } from './logout-helpers.js'

/** A failure: 503 WSG_UNAVAILABLE with no-store, logged at error without the token. */
async function unavailable (t: Test, env: LogoutApp, token: string, logged: RegExp): Promise<void> {
  const res = await env.post(form({ logout_token: token }))
  t.equal(res.statusCode, 503, 'never a 200 when the logout was not applied')
  t.equal(res.json().code, 'WSG_UNAVAILABLE')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['retry-after'], '5', 'the OP may retry in 5 s')
  t.match(env.logs.text(), logged)
  t.notOk(env.logs.text().includes(token.split('.')[1] as string), 'no part of the token is logged')
}

/** A replay store of the test's making around a memory one. */
function replayStore (over: Partial<ReplayStore>): ReplayStore & { inner: MemoryReplayStore } {
  const inner = new MemoryReplayStore({ clock: { now: () => T0 } })
  return { inner, claim: (id, until) => inner.claim(id, until), release: (id) => inner.release(id), ...over }
}

t.test('a replay store that throws, rejects, never answers or answers nonsense: 503, nothing revoked', async (t) => {
  const stores: Array<[string, Partial<ReplayStore>]> = [
    ['throws', { claim: () => { throw new Error('replay store down') } }],
    ['rejects', { claim: async () => { throw new Error('replay store down') } }],
    ['never answers', { claim: async () => await new Promise<boolean>(() => {}) }],
    ['answers something else', { claim: async () => 'OK' as unknown as boolean }]
  ]
  for (const [name, over] of stores) {
    await t.test(name, async (t) => {
      const env = await logoutApp(t, { replays: replayStore(over), storeTimeoutMs: 50 })
      await unavailable(t, env, logoutToken(), /back-channel logout not applied: the replay store/)
      t.equal(env.store.revoked.length, 0)
    })
  }
})

t.test('a revocation store that fails: 503, and the jti is released so the IdP\'s retry is no replay', async (t) => {
  const replays = replayStore({})
  const env = await logoutApp(t, { replays, storeTimeoutMs: 50 })
  const token = logoutToken()
  env.store.failWith = new Error('revocation store down')
  await unavailable(t, env, token, /"message":"revocation store down".*the revocation store failed/)
  t.equal(replays.inner.size, 0, 'released')
  env.store.failWith = 'never'
  await unavailable(t, env, token, /"message":"the revocation store gave no answer within 50 ms"/)
  env.store.failWith = undefined
  env.clock.advance(60_000)
  t.equal((await env.post(form({ logout_token: token }))).statusCode, 200, 'the retry is applied')
  t.same(env.store.revoked, [{ filter: { sessionId: 'sid-1', issuer: ISS }, at: T0, until: T0 + 86_400_000 }],
    'as of the logout\'s iat, a minute later too: a retry is the same record')
  t.equal((await env.post(form({ logout_token: token }))).statusCode, 400, 'and only once')
})

t.test('a claim the replay store applies after storeTimeoutMs is released: the IdP\'s retry is applied, not refused as a replay', async (t) => {
  let land: (() => void) | undefined
  let released = 0
  const replays = replayStore({})
  replays.release = (id) => { released++; replays.inner.release(id) }
  // The first claim answers late (as a store with a longer timeout of its own can), and true.
  replays.claim = async (id, until) => {
    replays.claim = (i, u) => replays.inner.claim(i, u)
    await new Promise<void>((resolve) => { land = resolve })
    return replays.inner.claim(id, until)
  }
  const env = await logoutApp(t, { replays, storeTimeoutMs: 50 })
  const token = logoutToken()
  await unavailable(t, env, token, /the replay store gave no answer within 50 ms/)
  // The IdP retries before the first claim has answered: that claim may still land first.
  await unavailable(t, env, token, /an earlier delivery of this token is still unanswered by the replay store/)
  ;(land as () => void)()
  await until(() => released === 1, 'the late claim was released')
  t.equal(replays.inner.size, 0)
  t.equal((await env.post(form({ logout_token: token }))).statusCode, 200, 'the retry is applied')
  t.equal(env.store.revoked.length, 1)
  t.equal((await env.post(form({ logout_token: token }))).statusCode, 400, 'and only once')
})

t.test('a late claim that answers false, or fails, releases nothing', async (t) => {
  const answers: Array<[string, () => Promise<boolean>]> = [
    ['false', async () => false],
    ['a rejection', async () => { throw new Error('late and broken') }]
  ]
  for (const [name, late] of answers) {
    await t.test(name, async (t) => {
      let land: (() => void) | undefined
      let released = 0
      const replays = replayStore({
        claim: async () => { await new Promise<void>((resolve) => { land = resolve }); return await late() },
        release: () => { released++ }
      })
      const env = await logoutApp(t, { replays, storeTimeoutMs: 50 })
      await unavailable(t, env, logoutToken(), /the replay store gave no answer within 50 ms/)
      ;(land as () => void)()
      await new Promise<void>((resolve) => setImmediate(resolve))
      t.equal(released, 0)
    })
  }
})

t.test('a release that fails too is logged: a retry of that token will be refused', async (t) => {
  const env = await logoutApp(t, { replays: replayStore({ release: () => { throw new Error('gone') } }) })
  env.store.failWith = new Error('revocation store down')
  await unavailable(t, env, logoutToken(), /"message":"gone".*could not be released/)
})

t.test('the default replay store is bounded: full of ids in force, it refuses (503) rather than forget one', async (t) => {
  const replays = new MemoryReplayStore({ maxEntries: 2, clock: { now: () => T0 } })
  const env = await logoutApp(t, { replays })
  const first = logoutToken()
  t.equal((await env.post(form({ logout_token: first }))).statusCode, 200)
  t.equal((await env.post(form({ logout_token: logoutToken() }))).statusCode, 200)
  await unavailable(t, env, logoutToken(), /MemoryReplayStore: 2 ids in force/)
  t.equal((await env.post(form({ logout_token: first }))).statusCode, 400, 'a replay is still told apart')
  t.equal(env.store.revoked.length, 2)
})

t.test('an issuer whose keys cannot be fetched: 503, and its keys are found again when it is back', async (t) => {
  const server = await startJwksServer(jwks(key))
  t.teardown(() => server.close())
  server.failWith(500)
  const env = await logoutApp(t, { issuers: { issuer: server.issuer, audience: CLIENT, algorithms: ['ES256'], jwksUri: server.jwksUri, jwksCooldownMs: 0 } })
  const claims = (over: Record<string, unknown> = {}) => logoutClaims(T0, { iss: server.issuer, ...over })
  await unavailable(t, env, logoutToken(claims()), /the issuer's keys are unavailable/)
  server.failWith(undefined)
  t.equal((await env.post(form({ logout_token: logoutToken(claims()) }))).statusCode, 200, 'fetched on demand')
  const rotated = generateKey('ES256')
  server.setKeys(jwks(rotated))
  t.equal((await env.post(form({ logout_token: logoutToken(claims(), {}, rotated) }))).statusCode, 200, 'an unknown kid refetches the set')
  const unknown = await env.post(form({ logout_token: logoutToken(claims(), { kid: 'nobody' }) }))
  t.equal(unknown.statusCode, 400, 'a kid the refetched set lacks')
})

t.test('keys are fetched by discovery when the app is ready', async (t) => {
  const server = await startJwksServer(jwks(key))
  t.teardown(() => server.close())
  await logoutApp(t, { issuers: { issuer: server.issuer, audience: CLIENT, algorithms: ['ES256'], discovery: true } })
  await until(() => server.hits.jwks === 1, 'the key set was fetched on ready')
  t.equal(server.hits.discovery, 1)
})

t.test('an error past the handler (a clock that throws) is a 503, never a 200', async (t) => {
  const env = await logoutApp(t, { clock: { now: () => { throw new Error('clock broken') } } })
  await unavailable(t, env, logoutToken(), /"message":"clock broken".*back-channel logout failed/)
})
