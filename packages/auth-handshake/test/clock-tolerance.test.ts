import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { generateKey, jwks } from '@wsguard/testing'
import { authHandshake } from '../src/index.js'

t.test('wsguardAuth.clockToleranceMs(issuer): that issuer\'s tolerance, else the largest', async (t) => {
  const key = generateKey('ES256')
  const issuer = (iss: string, clockToleranceMs?: number) => ({ issuer: iss, audience: 'api', algorithms: ['ES256' as const], jwks: jwks(key), ...(clockToleranceMs !== undefined ? { clockToleranceMs } : {}) })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: [issuer('https://a.example'), issuer('https://b.example', 60_000), issuer('https://c.example', 0)] })
  const tolerance = app.wsguardAuth.clockToleranceMs
  t.equal(tolerance?.('https://a.example'), 5_000, 'the default')
  t.equal(tolerance?.('https://b.example'), 60_000)
  t.equal(tolerance?.('https://c.example'), 0, 'a tolerance of 0 is that issuer\'s, not the largest')
  t.equal(tolerance?.(), 60_000, 'no issuer: the largest')
  t.equal(tolerance?.('https://elsewhere.example'), 60_000, 'an issuer it does not know: the largest')

  const mtlsOnly = Fastify()
  t.teardown(() => mtlsOnly.close())
  await mtlsOnly.register(websocket)
  await mtlsOnly.register(authHandshake, { mtls: { identity: 'spiffe', trustDomains: ['example.org'] } })
  t.equal(mtlsOnly.wsguardAuth.clockToleranceMs?.(), 0, 'no token issuer: no tolerance')
})
