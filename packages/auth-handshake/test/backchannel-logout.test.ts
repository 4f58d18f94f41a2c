import t, { type Test } from 'tap'
import { generateKey, hmacToken, segment } from '@wsguard/testing'
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/index.js'
import { CLIENT, ISS, T0, form, key, logoutApp, logoutClaims, logoutToken, type LogoutApp } from './logout-helpers.js'

/** A refusal: 400 with the catalogue's body and no-store; nothing revoked; the fault logged; the token nowhere. */
async function refused (t: Test, env: LogoutApp, token: string, fault: string, body = form({ logout_token: token })): Promise<void> {
  const before = env.store.revoked.length
  const res = await env.post(body)
  t.equal(res.statusCode, 400, `${fault}: 400`)
  t.same(res.json(), { statusCode: 400, code: 'WSG_LOGOUT_TOKEN_INVALID', error: 'Bad Request', message: 'The logout request or its logout token is invalid' })
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(env.store.revoked.length, before, `${fault}: nothing revoked`)
  t.match(env.logs.lines.slice(-3).join('\n'), new RegExp(`"fault":"${fault}"`), `logged as ${fault}`)
  if (token.length > 0) {
    t.notOk(res.body.includes(token), 'the token is not in the answer')
    t.notOk(env.logs.text().includes(token.split('.')[1] as string), 'no part of the token is logged')
  }
}

t.test('a valid logout token: 200, no-store, its IdP session revoked as of the token\'s iat, for the retention', async (t) => {
  const env = await logoutApp(t)
  const token = logoutToken()
  env.clock.advance(30_000) // delivered 30 s after the IdP issued it: tokens issued since are not refused
  const res = await env.post(form({ logout_token: token, state: 'ignored' }))
  t.equal(res.statusCode, 200)
  t.equal(res.body, '')
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(env.store.revoked, [{ filter: { sessionId: 'sid-1', issuer: ISS }, at: T0, until: T0 + 86_400_000 }])
  t.notOk(env.logs.text().includes(token.split('.')[1] as string), 'no part of the token is logged')
  t.match(env.logs.text(), /"issuer":"https:\/\/idp.test","by":"sessionId".*back-channel logout applied/)
  const charset = await env.post(form({ logout_token: logoutToken() }), 'application/x-www-form-urlencoded; charset=UTF-8')
  t.equal(charset.statusCode, 200, 'a charset parameter is fine')
})

t.test('which sessions: the sid, or the sub when there is no sid; revokeBy subject prefers the sub', async (t) => {
  const bySession = await logoutApp(t, { revocationRetentionMs: 3_600_000 })
  await bySession.post(form({ logout_token: logoutToken(logoutClaims(T0, { sid: undefined })) }))
  await bySession.post(form({ logout_token: logoutToken(logoutClaims(T0, { sub: undefined, sid: 'sid-2' })) }))
  t.same(bySession.store.revoked.map((r) => r.filter), [{ subject: 'alice', issuer: ISS }, { sessionId: 'sid-2', issuer: ISS }])
  t.equal(bySession.store.revoked[0]?.until, T0 + 3_600_000)

  const bySubject = await logoutApp(t, { revokeBy: 'subject' })
  await bySubject.post(form({ logout_token: logoutToken() }))
  await bySubject.post(form({ logout_token: logoutToken(logoutClaims(T0, { sub: undefined, sid: 'sid-3' })) }))
  t.same(bySubject.store.revoked.map((r) => r.filter), [{ subject: 'alice', issuer: ISS }, { sessionId: 'sid-3', issuer: ISS }])
})

t.test('refused logout tokens: each 400, nothing revoked, no-store, the token never echoed or logged', async (t) => {
  const env = await logoutApp(t)
  const now = T0 / 1000
  const claims = (over: Record<string, unknown>) => logoutClaims(T0, over)
  const other = generateKey('ES256', key.kid)
  const unsigned = `${segment({ alg: 'none', typ: 'logout+jwt' })}.${segment(claims({}))}.`
  const noneWithSignature = `${segment({ alg: 'none', typ: 'logout+jwt' })}.${segment(claims({}))}.AAAA`
  const pem = key.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const hs256 = hmacToken({ alg: 'HS256', kid: key.kid, typ: 'logout+jwt' }, claims({}), pem)
  const valid = logoutToken()
  const long = logoutToken(claims({ pad: 'x'.repeat(6300) }))
  const tampered = `${valid.split('.').slice(0, 2).join('.')}.${logoutToken().split('.')[2] as string}`
  const cases: Array<[string, string, string]> = [
    ['unsigned (alg none, no signature)', unsigned, 'malformed'],
    ['alg none with a signature', noneWithSignature, 'algorithm'],
    ['HS256 keyed with the public key', hs256, 'algorithm'],
    ['signed by another key under the same kid', logoutToken(claims({}), {}, other), 'signature'],
    ['tampered signature', tampered, 'signature'],
    ['unknown kid', logoutToken(claims({}), { kid: 'nobody' }), 'unknown-key'],
    ['crit header', logoutToken(claims({}), { crit: ['exp'] }), 'crit'],
    ['typ of an access token', logoutToken(claims({}), { typ: 'at+jwt' }), 'typ'],
    ['typ that is not a string', logoutToken(claims({}), { typ: 7 }), 'typ'],
    ['wrong issuer', logoutToken(claims({ iss: 'https://evil.test' })), 'issuer'],
    ['no issuer', logoutToken(claims({ iss: undefined })), 'issuer'],
    ['wrong audience', logoutToken(claims({ aud: 'another-client' })), 'audience'],
    ['audience list without ours', logoutToken(claims({ aud: ['a', 'b'] })), 'audience'],
    ['no audience', logoutToken(claims({ aud: undefined })), 'audience'],
    ['no iat', logoutToken(claims({ iat: undefined })), 'missing-iat'],
    ['iat that is not a number', logoutToken(claims({ iat: '1800000000' })), 'missing-iat'],
    ['stale iat (past maxTokenAgeMs and the tolerance)', logoutToken(claims({ iat: now - 126, exp: now + 100 })), 'too-old'],
    ['iat in the future', logoutToken(claims({ iat: now + 6, exp: now + 126 })), 'issued-in-future'],
    ['expired', logoutToken(claims({ exp: now - 6 })), 'expired'],
    ['exp that is not a number', logoutToken(claims({ exp: 'soon' })), 'expired'],
    ['nbf in the future', logoutToken(claims({ nbf: now + 60 })), 'not-yet-valid'],
    ['no jti', logoutToken(claims({ jti: undefined })), 'jti'],
    ['empty jti', logoutToken(claims({ jti: '' })), 'jti'],
    ['no events (an ID token)', logoutToken(claims({ events: undefined })), 'events'],
    ['events without the logout event', logoutToken(claims({ events: { 'https://schemas.openid.net/secevent/risc/event-type/sessions-revoked': {} } })), 'events'],
    ['events as an array', logoutToken(claims({ events: [BACKCHANNEL_LOGOUT_EVENT] })), 'events'],
    ['the logout event not an object', logoutToken(claims({ events: { [BACKCHANNEL_LOGOUT_EVENT]: true } })), 'events'],
    ['the logout event an array', logoutToken(claims({ events: { [BACKCHANNEL_LOGOUT_EVENT]: [] } })), 'events'],
    ['neither sid nor sub', logoutToken(claims({ sid: undefined, sub: undefined })), 'subject'],
    ['empty sid', logoutToken(claims({ sid: '' })), 'subject'],
    ['sub that is not a string', logoutToken(claims({ sub: 42 })), 'subject'],
    // Session 22's review: each logout is a record kept for the retention, sid and all.
    ['sid longer than 255 characters', logoutToken(claims({ sid: 's'.repeat(256) })), 'subject'],
    ['sub longer than 255 characters', logoutToken(claims({ sub: 'u'.repeat(256) })), 'subject'],
    ['nonce-carrying', logoutToken(claims({ nonce: 'n-0S6_WzA2Mj' })), 'nonce'],
    ['nonce even when null', logoutToken(claims({ nonce: null })), 'nonce'],
    ['an ID token of the same issuer and client', logoutToken({ iss: ISS, aud: CLIENT, sub: 'alice', sid: 'sid-1', iat: now, exp: now + 300, nonce: 'n', jti: 'x' }, { typ: 'JWT' }), 'events'],
    ['encrypted (JWE, not supported)', 'eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn', 'malformed'],
    ['not a JWT', 'hello', 'malformed'],
    ['longer than maxTokenBytes', long, 'malformed']
  ]
  t.ok(long.length > 8192 && long.length < 8192 + 1024, 'past maxTokenBytes, within the body limit')
  for (const [name, token, fault] of cases) {
    await t.test(name, async (t) => { await refused(t, env, token, fault) })
  }
})

t.test('typ: absent, JWT and logout+jwt pass by default; requireExplicitTyp wants logout+jwt', async (t) => {
  const env = await logoutApp(t)
  for (const typ of [undefined, 'JWT', 'logout+jwt', 'application/logout+JWT']) {
    const res = await env.post(form({ logout_token: logoutToken(logoutClaims(), { typ }) }))
    t.equal(res.statusCode, 200, `typ ${String(typ)}`)
  }
  const strict = await logoutApp(t, { requireExplicitTyp: true })
  await refused(t, strict, logoutToken(logoutClaims(), { typ: undefined }), 'typ')
  await refused(t, strict, logoutToken(logoutClaims(), { typ: 'JWT' }), 'typ')
  t.equal((await strict.post(form({ logout_token: logoutToken(logoutClaims(), { typ: 'application/logout+jwt' }) }))).statusCode, 200)
})

t.test('the time checks follow the injected clock, with the tolerance', async (t) => {
  const env = await logoutApp(t, { maxTokenAgeMs: 60_000, clockToleranceMs: 0 })
  const token = logoutToken(logoutClaims(T0, { exp: undefined }))
  env.clock.advance(60_001)
  await refused(t, env, token, 'too-old')
  env.clock.set(T0 + 60_000)
  t.equal((await env.post(form({ logout_token: token }))).statusCode, 200, 'at maxTokenAgeMs exactly: accepted (no exp needed)')
})

t.test('a replayed logout token is refused, and a refused one never uses up its jti', async (t) => {
  const env = await logoutApp(t)
  const claims = logoutClaims()
  const token = logoutToken(claims)
  // A forgery carrying the genuine jti (tampered signature, wrong audience) is refused and burns nothing.
  const forged = `${token.split('.').slice(0, 2).join('.')}.${logoutToken().split('.')[2] as string}`
  await refused(t, env, forged, 'signature')
  await refused(t, env, logoutToken({ ...claims, aud: 'another-client' }), 'audience')
  t.equal((await env.post(form({ logout_token: token }))).statusCode, 200, 'the genuine token still passes')
  await refused(t, env, token, 'replayed')
  await refused(t, env, logoutToken({ ...claims, sid: 'sid-other' }), 'replayed')
  t.equal(env.store.revoked.length, 1, 'revoked once')
  t.equal((await env.post(form({ logout_token: logoutToken({ ...claims, iss: ISS, jti: `${claims.jti as string}x` }) }))).statusCode, 200, 'another jti passes')
})

t.test('the request: a form POST with exactly one logout_token, else 400', async (t) => {
  const env = await logoutApp(t)
  const token = logoutToken()
  const shapes: Array<[string, string, string | undefined]> = [
    ['JSON body', JSON.stringify({ logout_token: token }), 'application/json'],
    ['text/plain', `logout_token=${token}`, 'text/plain'],
    ['a look-alike media type', `logout_token=${token}`, 'application/x-www-form-urlencoded-evil'],
    ['empty form', '', 'application/x-www-form-urlencoded'],
    ['form without logout_token', form({ id_token: token }), 'application/x-www-form-urlencoded'],
    ['empty logout_token', form({ logout_token: '' }), 'application/x-www-form-urlencoded'],
    ['two logout_token', `${form({ logout_token: token })}&${form({ logout_token: token })}`, 'application/x-www-form-urlencoded'],
    ['body past maxTokenBytes + 1 KB', form({ logout_token: token, pad: 'x'.repeat(10_000) }), 'application/x-www-form-urlencoded']
  ]
  for (const [name, body, type] of shapes) {
    await t.test(name, async (t) => {
      const res = await env.app.inject({ method: 'POST', url: '/oidc/backchannel-logout', payload: body, headers: type === undefined ? {} : { 'content-type': type } })
      t.equal(res.statusCode, 400)
      t.equal(res.json().code, 'WSG_LOGOUT_TOKEN_INVALID')
      t.equal(res.headers['cache-control'], 'no-store')
      t.notOk(res.body.includes(token))
    })
  }
  const noBody = await env.app.inject({ method: 'POST', url: '/oidc/backchannel-logout' })
  t.equal(noBody.statusCode, 400, 'no body, no content type')
  t.equal(noBody.headers['cache-control'], 'no-store')
  const noType = await env.app.inject({ method: 'POST', url: '/oidc/backchannel-logout', payload: Buffer.from(form({ logout_token: token })) })
  t.equal(noType.statusCode, 400, 'a body without a content type')
  const inUrl = await env.app.inject({ method: 'POST', url: `/oidc/backchannel-logout?${form({ logout_token: token })}` })
  t.equal(inUrl.statusCode, 400, 'a token in the URL is no logout request')
  t.match(env.logs.text(), /"url":"\/oidc\/backchannel-logout\?logout_token=\[REDACTED\]"/, 'and the URL is logged without it')
  t.equal(env.store.revoked.length, 0)
  t.notOk(env.logs.text().includes(token.split('.')[1] as string), 'no part of the token is logged')
})

t.test('the endpoint keeps to itself: its parsers, error handler and no-store stay off the app\'s routes', async (t) => {
  const env = await logoutApp(t, { path: '/idp/logout' }, (app) => {
    app.post('/json', async (request) => ({ got: request.body }))
    app.post('/form', async () => 'unreachable')
  })
  const json = await env.app.inject({ method: 'POST', url: '/json', payload: { a: 1 } })
  t.same(json.json(), { got: { a: 1 } })
  t.equal(json.headers['cache-control'], undefined)
  const formRoute = await env.app.inject({ method: 'POST', url: '/form', payload: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(formRoute.statusCode, 415, 'the app parses no forms because the endpoint does')
  t.equal(formRoute.json().code, 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
  t.equal((await env.app.inject({ method: 'POST', url: '/idp/logout', payload: form({ logout_token: logoutToken() }), headers: { 'content-type': 'application/x-www-form-urlencoded' } })).statusCode, 200)
  t.equal((await env.post(form({ logout_token: logoutToken() }))).statusCode, 404, 'not at the default path')
})

t.test('the signature is checked after the claims, against the issuer\'s keys only', async (t) => {
  const env = await logoutApp(t, { issuers: [{ issuer: ISS, audience: [CLIENT, 'other-client'], algorithms: ['ES256'], jwks: { keys: [key.publicJwk] } }, { issuer: 'https://second.test', audience: CLIENT, algorithms: ['ES256'], jwks: { keys: [] } }] })
  t.equal((await env.post(form({ logout_token: logoutToken(logoutClaims(T0, { aud: ['x', 'other-client'] })) }))).statusCode, 200, 'either client id')
  await refused(t, env, logoutToken(logoutClaims(T0, { iss: 'https://second.test' })), 'unknown-key')
})
