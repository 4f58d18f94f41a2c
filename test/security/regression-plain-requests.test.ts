// Hardening finding 5: a plain GET or HEAD (no Upgrade) to a websocket route carrying a token
// ran auth-handshake's verification and passed telemetry's storm gate uncounted. Now no key or
// signature work is done for them, and they do not go by the gate unseen.
import t from 'tap'
import { jwks, startJwksServer, until } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'
import { exchange } from './raw-http.js'
import { securityServer } from './server.js'
import { claims, ec, rsa, sign } from './tokens.js'

const EACH = 10 // GETs, and as many HEADs
const GATE = { max: 5, windowMs: 60_000 }

const plain = (method: string, path: string, token: string): string =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${ALLOWED_ORIGIN}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`

t.test('plain GET and HEAD requests with a token, to a websocket route', async (t) => {
  const idp = await startJwksServer(jwks(ec, rsa))
  t.teardown(() => idp.close())
  // No cooldown: every token naming an unknown key makes the server fetch the key set, so the
  // fetches count the tokens that reached key lookup (the step before the signature).
  const server = await securityServer(t, {
    jwt: { jwksUri: idp.jwksUri, jwksCooldownMs: 0 },
    telemetry: { anomalies: { reconnectStorm: { perIp: GATE, action: 'throttle' } } }
  })
  await until(() => idp.hits.jwks === 1, 'the key set was loaded at start')
  const unknownKid = sign(ec, claims(server.clock.now()), { kid: 'rotated-away' })
  const valid = sign(ec, claims(server.clock.now()))
  const rejected = async (): Promise<number> => {
    const json = await server.app.wsguardTelemetry.registry?.getMetricsAsJSON() ?? []
    const handshakes = json.find((m) => m.name === 'wsguard_handshakes_total')?.values ?? []
    return handshakes.filter((v) => v.labels.outcome === 'rejected').reduce((n, v) => n + v.value, 0)
  }

  const first: number[] = []
  for (const method of ['GET', 'HEAD']) {
    for (let i = 0; i < EACH; i++) first.push((await exchange(server.port, plain(method, server.feed, unknownKid), 5000)).status)
  }
  t.comment(`answers to plain requests naming an unknown key: ${first.join(' ')}`)
  t.equal(idp.hits.jwks, 1, `no key lookup for ${2 * EACH} plain requests (key-set fetches: ${idp.hits.jwks - 1})`)

  // A new window of the gate, then plain requests with a token that would pass every check.
  server.clock.advance(2 * GATE.windowMs)
  const before = await rejected()
  const second: number[] = []
  for (const method of ['GET', 'HEAD']) {
    for (let i = 0; i < EACH; i++) second.push((await exchange(server.port, plain(method, server.feed, valid), 5000)).status)
  }
  const seen = await rejected() - before
  t.comment(`answers to plain requests with a valid token: ${second.join(' ')}; ${seen} recorded as refused handshakes`)
  t.same(second.filter((s) => s < 400), [], 'none succeeds')
  t.ok(2 * EACH - seen <= GATE.max, `at most the gate's allowance (${GATE.max}) goes by unrecorded: ${2 * EACH - seen} did`)
})
