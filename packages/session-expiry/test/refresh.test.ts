import t from 'tap'
import { ChannelName, type SessionRefreshedMessage, type SessionRefreshFailedMessage } from '@wsguard/core'
import { mintToken, claimsFor, generateKey } from '@wsguard/testing'
import { harness, open, listen, T0, ISS, AUD, key } from './helpers.js'

const refresh = (token: string): { type: string, token: string } => ({ type: 'auth.refresh', token })

t.test('refresh: the new token replaces the principal and moves the deadline past the old exp', async (t) => {
  const refreshedMsgs = listen<SessionRefreshedMessage>(t, ChannelName.sessionRefreshed)
  const { clock, base, token, app } = await harness(t, { session: { noticeMs: 10_000, graceMs: 1_000 } })
  const c = await open(t, `${base}/feed`, token('alice', 60))
  clock.advance(50_000)
  t.same(await c.next(), { type: 'auth.expiring', expiresAt: T0 + 60_000, deadline: T0 + 61_000 })
  const fresh = token('alice', 600)
  t.same(await c.ask(refresh(fresh)), { type: 'auth.refreshed', expiresAt: T0 + 650_000 })
  t.same(await c.ask('who'), { id: 'alice', expiresAt: T0 + 650_000 }, 'request.principal is the new one')
  clock.advance(20_000)
  t.equal(await c.ask('after the old deadline'), 'echo:after the old deadline')
  const [info] = await app.wsSessions.list({ subject: 'alice' })
  t.match(info, { expiresAt: T0 + 650_000, deadline: T0 + 651_000, openedAt: T0, route: '/feed' })
  t.match(await refreshedMsgs.wait(() => true), { previousExpiresAt: T0 + 60_000, expiresAt: T0 + 650_000, principal: { id: 'alice' } })
  clock.advance(570_000)
  t.same(await c.next(), { type: 'auth.expiring', expiresAt: T0 + 650_000, deadline: T0 + 651_000 }, 'the notice is armed again for the new exp')
})

t.test('refresh failures keep the old deadline; each says its code', async (t) => {
  const failures = listen<SessionRefreshFailedMessage>(t, ChannelName.sessionRefreshFailed)
  const { clock, base, token } = await harness(t, { session: { noticeMs: 0, graceMs: 0, refreshLimit: { max: 20, windowMs: 60_000 } } })
  const c = await open(t, `${base}/feed`, token('alice', 60, { tenant: 'acme' }))
  const other = generateKey('ES256')
  const cases: Array<[string, string, string]> = [
    ['another subject', token('bob', 600), 'WSG_TOKEN_INVALID'],
    ['another issuer key', mintToken(other, { ...claimsFor(ISS, AUD, 'alice', clock.now(), 600), scope: 'feed:read' }), 'WSG_TOKEN_INVALID'],
    ["a narrower scope than the route's", token('alice', 600, { scope: 'profile' }), 'WSG_INSUFFICIENT_SCOPE'],
    ['an expired token', mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now() - 600_000, 60), scope: 'feed:read' }), 'WSG_TOKEN_EXPIRED'],
    ['garbage', 'not-a-jwt', 'WSG_TOKEN_INVALID'],
    ['an exp that does not move forward', token('alice', 60), 'WSG_TOKEN_INVALID']
  ]
  for (const [name, tok, code] of cases) {
    t.same(await c.ask(refresh(tok)), { type: 'auth.refresh_failed', code }, name)
  }
  t.same(await c.ask('who'), { id: 'alice', expiresAt: T0 + 60_000, tenant: 'acme' }, 'the principal did not change')
  t.same(failures.seen.map((f) => f.code), cases.map((c) => c[2]))
  clock.advance(60_000)
  t.same(await c.closed, { code: 4401, reason: 'credential expired' }, 'the old deadline stood')
})

t.test('refresh attempts are rate-limited per session', async (t) => {
  const { clock, base, token } = await harness(t, { session: { refreshLimit: { max: 2, windowMs: 10_000 } } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  t.same(await c.ask(refresh('x')), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  t.same(await c.ask(refresh('x')), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  t.same(await c.ask(refresh(token('alice', 7200))), { type: 'auth.refresh_failed', code: 'WSG_RATE_LIMITED' }, 'even a good token, over the limit')
  c.send(refresh(token('alice', 7200)))
  t.equal(await c.ask('after'), 'echo:after', 'the next attempt of the window is dropped unanswered (the next frame is the app\'s echo)')
  clock.advance(10_000)
  t.same(await c.ask(refresh(token('alice', 7200))), { type: 'auth.refreshed', expiresAt: T0 + 10_000 + 7_200_000 }, 'a new window')
})

t.test('a flood of refresh frames is closed 4400 once it sends twice the limit in a window, answered once over it', async (t) => {
  const { base, token } = await harness(t, { session: { refreshLimit: { max: 2, windowMs: 10_000 } } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  const replies: string[] = []
  c.ws.on('message', (data) => { replies.push(String(data)) })
  for (let i = 0; i < 50; i++) c.send(refresh('x'))
  t.same(await c.closed, { code: 4400, reason: 'too many refresh messages' }, 'closed at the fifth attempt (twice the limit, plus one)')
  t.same(replies.map((r) => JSON.parse(r)), [{ type: 'auth.refresh_failed', code: 'WSG_RATE_LIMITED' }],
    'the third attempt is told it is limited; the answers of the two checked ones come after the close, and are not sent')
})

t.test('only control frames are intercepted; malformed ones close 4400', async (t) => {
  const { base, token } = await harness(t)
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  const ordinary = [
    '{"type":"chat","text":"how do I send auth.refresh?"}',
    '{"type":"chat","text":"\\"auth.refresh\\""}',
    'plain "auth.refresh" text, not JSON',
    '{"type":"auth.expiring"}',
    '["auth.refresh"]',
    '{"type":"auth.refreshed","token":"x"}'
  ]
  for (const frame of ordinary) t.equal(await c.ask(frame), `echo:${frame}`, frame)
  const big = JSON.stringify({ type: 'chat', text: 'x'.repeat(20_000) })
  t.equal(await c.ask(big), `echo:${big}`, 'a frame over maxControlFrameBytes that is no refresh is the app\'s')
  c.ws.send(Buffer.from(JSON.stringify(refresh('x'))), { binary: true })
  t.equal(await c.next(), `echo:${JSON.stringify(refresh('x'))}`, 'binary frames are the app\'s')
  c.send({ type: 'auth.refresh', token: 42 })
  t.same(await c.closed, { code: 4400, reason: 'malformed control message' })
})

t.test('empty token is malformed too', async (t) => {
  const { base, token } = await harness(t)
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  c.send({ type: 'auth.refresh', token: '' })
  t.same(await c.closed, { code: 4400, reason: 'malformed control message' })
})

t.test('refresh: false refuses an in-band token (WSG_BAD_REQUEST) and never hands it to the app', async (t) => {
  const failures = listen<SessionRefreshFailedMessage>(t, ChannelName.sessionRefreshFailed)
  const { base, token } = await harness(t, { session: { refresh: false, refreshLimit: { max: 2, windowMs: 60_000 } } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  const fresh = token('alice', 7200)
  t.same(await c.ask(refresh(fresh)), { type: 'auth.refresh_failed', code: 'WSG_BAD_REQUEST' })
  t.same(await c.ask('who'), { id: 'alice', expiresAt: T0 + 3_600_000 }, 'the principal did not change')
  t.same(failures.seen.map((f) => f.code), ['WSG_BAD_REQUEST'])
  t.same(await c.ask(refresh(fresh)), { type: 'auth.refresh_failed', code: 'WSG_BAD_REQUEST' })
  t.same(await c.ask(refresh(fresh)), { type: 'auth.refresh_failed', code: 'WSG_RATE_LIMITED' }, 'the refresh limit bounds these too')
  t.equal(await c.ask('plain'), 'echo:plain', 'other frames still reach the app')
})

t.test('custom message names', async (t) => {
  const { base, token } = await harness(t, { session: { messages: { refresh: 'reauth', refreshed: 'reauthed' } } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  t.same(await c.ask({ type: 'reauth', token: token('alice', 7200) }), { type: 'reauthed', expiresAt: T0 + 7_200_000 })
})
