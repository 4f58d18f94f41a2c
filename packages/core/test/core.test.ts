import t from 'tap'
import diagnostics from 'node:diagnostics_channel'
import {
  ChannelName, channel, CloseCode, errorCatalogue, errorClass, errorInfo, invalidOption, isWsguardError, wsgError,
  rejection, sendRejection, STORE_UNAVAILABLE_HEADERS, STORE_UNAVAILABLE_RETRY_AFTER_S, redactQuery, credentialRedactPaths, systemClock, isClock, systemTimerClock, isTimerClock, PrincipalSchema, ERROR_PREFIX, errorTableMarkdown
} from '../src/index.js'
import { Value } from '@sinclair/typebox/value'

t.test('every code has the prefix, a status, and an @fastify/error class', async (t) => {
  for (const [code, def] of Object.entries(errorCatalogue)) {
    t.ok(code.startsWith(ERROR_PREFIX), code)
    const err = wsgError(code as keyof typeof errorCatalogue, 'x')
    t.equal(err.code, code)
    t.equal(err.statusCode, def.status)
    t.ok(err instanceof errorClass(code as keyof typeof errorCatalogue))
    t.ok(isWsguardError(err))
    t.same(errorInfo(code as keyof typeof errorCatalogue), def)
  }
  t.equal(invalidOption('opts.a must be b').message, 'Invalid option: opts.a must be b')
  t.notOk(isWsguardError(new Error('x')))
  t.notOk(isWsguardError(Object.assign(new Error('x'), { code: 'FST_ERR' })))
  t.notOk(isWsguardError(null))
})

t.test('close codes of docs/ARCHITECTURE.md', async (t) => {
  t.same(CloseCode, { GOING_AWAY: 1001, BAD_CONTROL_MESSAGE: 4400, CREDENTIAL_EXPIRED: 4401, REVOKED: 4403, IDLE_TIMEOUT: 4408, MAX_LIFETIME: 4409, TOO_MANY_SESSIONS: 4429 })
  t.equal(errorInfo('WSG_TOKEN_EXPIRED').closeCode, 4401)
  t.equal(errorInfo('WSG_TOKEN_REVOKED').closeCode, 4403)
})

t.test('rejections are pre-serialised in Fastify\'s error shape', async (t) => {
  const r = rejection('WSG_TOKEN_EXPIRED')
  t.same(JSON.parse(r.body), { statusCode: 401, code: 'WSG_TOKEN_EXPIRED', error: 'Unauthorized', message: 'The token has expired' })
  t.equal(rejection('WSG_TOKEN_EXPIRED'), r, 'built once')
  const sent: Array<[string, unknown]> = []
  const reply = {
    code (n: number) { sent.push(['code', n]); return this },
    header (k: string, v: string) { sent.push([k, v]); return this },
    send (body: string) { sent.push(['body', body]); return this }
  }
  sendRejection(reply, 'WSG_RATE_LIMITED', { 'retry-after': '3' })
  sendRejection(reply, 'WSG_ORIGIN_DENIED')
  t.same(sent.map(([k]) => k), ['code', 'content-type', 'retry-after', 'body', 'code', 'content-type', 'body'])
  t.equal(sent[0]?.[1], 429)
  t.same(STORE_UNAVAILABLE_HEADERS, { 'retry-after': String(STORE_UNAVAILABLE_RETRY_AFTER_S) })
  t.ok(Object.isFrozen(STORE_UNAVAILABLE_HEADERS), 'one object shared by every plugin, never changed')
})

t.test('redactQuery', async (t) => {
  t.equal(redactQuery('/feed', ['access_token']), '/feed')
  t.equal(redactQuery('/feed?x=1', ['access_token']), '/feed?x=1')
  t.equal(redactQuery('/feed?x=1&access_token=abc&y', ['access_token']), '/feed?x=1&access_token=[REDACTED]&y')
  t.equal(redactQuery('/feed?access%5Ftoken=abc', ['access_token']), '/feed?access%5Ftoken=[REDACTED]', 'encoded names')
  t.equal(redactQuery('/feed?%E0%A4%A=1&access_token', ['access_token']), '/feed?%E0%A4%A=1&access_token=[REDACTED]', 'bad escapes and bare names')
  // Wherever the router could read a query from: after '#', after ';' (useSemicolonDelimiter), and past a later '?'.
  t.equal(redactQuery('/feed#x&access_token=abc', ['access_token']), '/feed#x&access_token=[REDACTED]', 'after #')
  t.equal(redactQuery('/feed#access_token=abc', ['access_token']), '/feed#access_token=[REDACTED]')
  t.equal(redactQuery('/feed;access_token=abc', ['access_token']), '/feed;access_token=[REDACTED]', 'after ;')
  t.equal(redactQuery('/feed;x?access_token=abc', ['access_token']), '/feed;x?access_token=[REDACTED]', 'after a ; then a ?')
  t.equal(redactQuery('/feed?a=1#access_token=abc;access_token=def', ['access_token']), '/feed?a=1#access_token=[REDACTED];access_token=[REDACTED]', 'every separator')
  t.equal(redactQuery('/feed;jsessionid=1', ['access_token']), '/feed;jsessionid=1', 'unchanged when absent')
  t.ok(credentialRedactPaths.includes('req.headers.authorization'))
  t.ok(credentialRedactPaths.includes('err.rawPacket'), 'the request head Fastify logs when it cannot parse it')
})

t.test('clock and principal schema', async (t) => {
  t.ok(Math.abs(systemClock.now() - Date.now()) < 1000)
  t.ok(isClock(systemClock))
  t.notOk(isClock({ now: 1 }))
  t.notOk(isClock(null))
  t.ok(isTimerClock(systemTimerClock))
  t.ok(Math.abs(systemTimerClock.now() - Date.now()) < 1000)
  t.notOk(isTimerClock(systemClock), 'now() alone is not a timer clock')
  t.ok(Value.Check(PrincipalSchema, { id: 'a', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's' }))
  t.notOk(Value.Check(PrincipalSchema, { id: 'a', kind: 'robot', method: 'jwt', scopes: [], claims: {}, sessionId: 's' }))
})

t.test('typed channels are node:diagnostics_channel channels', async (t) => {
  const ch = channel(ChannelName.sessionClosed)
  t.equal(ch, diagnostics.channel('wsguard:session:closed'))
  t.equal(ch.hasSubscribers, false)
})

t.test('docs/errors.md is generated from the catalogue and up to date', async (t) => {
  const { readFileSync } = await import('node:fs')
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
  t.ok(doc.endsWith(errorTableMarkdown()), 'run `pnpm errors:doc` after changing the catalogue')
})

t.test('the system timer clock fires once, can be cleared, and does not hold the process open', async (t) => {
  const fired: string[] = []
  let done = (): void => {}
  const record = (label: string) => (): void => { fired.push(label); done() }
  const cleared = systemTimerClock.setTimer(record('cleared'), 1)
  systemTimerClock.clearTimer(cleared)
  await new Promise<void>((resolve) => {
    done = resolve
    const handle = systemTimerClock.setTimer(record('fired'), 1) as NodeJS.Timeout
    t.equal(handle.hasRef(), false, 'unref()ed')
    handle.ref() // only so that this test's process waits for it
  })
  t.same(fired, ['fired'])
})

t.test('publishedOrigin: an Origin as messages carry it, cut past MAX_PUBLISHED_ORIGIN', async (t) => {
  const { MAX_PUBLISHED_ORIGIN, publishedOrigin } = await import('../src/index.js')
  const longest = `https://${'a'.repeat(253)}:65535`
  t.equal(publishedOrigin(longest), longest, 'the longest valid origin is kept whole')
  t.equal(publishedOrigin(undefined), undefined)
  const flood = 'https://x.test, '.repeat(1000)
  const cut = publishedOrigin(flood) as string
  t.equal(cut.length, MAX_PUBLISHED_ORIGIN + 1)
  t.ok(cut.endsWith('…') && flood.startsWith(cut.slice(0, -1)), 'a prefix, marked as cut')
})

t.test('publishRejection builds a message only when someone listens', async (t) => {
  const { appIdentity, channel, ChannelName, publishRejection } = await import('../src/index.js')
  const seen: unknown[] = []
  const app = { server: {} } // what a request's Fastify instance gives: its app's server
  publishRejection('src', { server: app, ip: '127.0.0.1', headers: {} }, '/r', 'WSG_TOPIC_DENIED', 0)
  const l = (m: unknown): void => { seen.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(l)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(l))
  const principal = { id: 'a', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's' } as const
  publishRejection('src', { server: app, ip: '127.0.0.1', headers: {} }, '/r', 'WSG_TOPIC_DENIED', 0)
  publishRejection('src', { server: app, ip: '::1', headers: { origin: 'https://o.test' } }, '/r', 'WSG_TOKEN_REVOKED', performance.now(), 'revoked', principal)
  publishRejection('src', { server: app, ip: '::1', headers: {} }, '/r', 'WSG_TOKEN_REVOKED', 0, undefined, null)
  publishRejection('src', { server: app, ip: '::1', headers: { origin: 'o'.repeat(20_000) } }, '/r', 'WSG_ORIGIN_DENIED', 0)
  t.same(seen[0], { app: appIdentity(app), source: 'src', code: 'WSG_TOPIC_DENIED', statusCode: 403, route: '/r', remoteAddress: '127.0.0.1', durationMs: 0 })
  t.equal(typeof (seen[0] as { app: unknown }).app, 'symbol', 'the app is named by a symbol')
  t.notOk('app' in (JSON.parse(JSON.stringify(seen[0])) as object), 'which a message logged as JSON leaves out')
  t.not(appIdentity({ server: {} }), appIdentity(app), 'another server, another app')
  t.match(seen[1], { statusCode: 401, origin: 'https://o.test', detail: 'revoked', principal: { id: 'a' } })
  t.ok((seen[1] as { durationMs: number }).durationMs >= 0)
  t.notOk('principal' in (seen[2] as object), 'null principal: left out')
  t.equal((seen[3] as { origin: string }).origin.length, 301, 'a flood of an Origin is cut')
  t.equal(seen.length, 4)
})

t.test('revocationOrigin keeps only its string fields, cut, frozen', async (t) => {
  const { revocationOrigin, MAX_REVOCATION_ORIGIN_LENGTH } = await import('../src/index.js')
  t.equal(revocationOrigin(undefined), undefined)
  t.equal(revocationOrigin('api-1'), undefined)
  t.equal(revocationOrigin({}), undefined)
  t.equal(revocationOrigin({ instance: '', actor: 7 }), undefined, 'empty and non-string fields are dropped')
  const kept = revocationOrigin({ instance: 'api-1', actor: 'admin', reason: 'r'.repeat(500), extra: 'x' })
  t.strictSame(kept, { instance: 'api-1', actor: 'admin', reason: `${'r'.repeat(MAX_REVOCATION_ORIGIN_LENGTH)}…` })
  t.ok(Object.isFrozen(kept))
})

t.test('a sliding estimate weighs the previous window by what it still covers', async (t) => {
  const { slidingEstimate, isWindowCounter } = await import('../src/index.js')
  t.equal(slidingEstimate({ current: 3, previous: 10, start: 1000, elapsedMs: 0 }, 1000), 13)
  t.equal(slidingEstimate({ current: 3, previous: 10, start: 1000, elapsedMs: 500 }, 1000), 8)
  t.equal(slidingEstimate({ current: 3, previous: 10, start: 1000, elapsedMs: 5000 }, 1000), 3, 'an elapsed time past the window weighs nothing, never less')
  t.equal(slidingEstimate({ current: 3, previous: 10, start: 1000, elapsedMs: -5 }, 1000), 13, 'nor more than all of it')
  t.equal(isWindowCounter({ hit: () => undefined }), true)
  t.equal(isWindowCounter({ hit: 1 }), false)
  t.equal(isWindowCounter(null), false)
})
