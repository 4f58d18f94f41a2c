// An ordinary app, installed from the packed tarballs with npm and compiled with a plain
// NodeNext tsconfig: every import and type below comes from a published @wsguard package.
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { Type, type Static } from '@sinclair/typebox'
import { Registry } from 'prom-client'
import { authHandshake } from '@wsguard/auth-handshake'
import { connect, type ClientEvent } from '@wsguard/client'
import { CloseCode, isWsguardError, type WsguardErrorCode } from '@wsguard/core'
import { redisStores } from '@wsguard/redis'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry } from '@wsguard/telemetry'
import { claimsFor, connectSocket, generateKey, jwks, mintToken, openSocket, startJwksServer } from '@wsguard/testing'
import { topicAuthz, type TopicDecision } from '@wsguard/topic-authz'

const claims = Type.Object({ tenant: Type.String() })
declare module '@wsguard/core' {
  interface WsguardClaims extends Static<typeof claims> {}
}

const AUDIENCE = 'consumer-api'
const key = generateKey('ES256')
const idp = await startJwksServer(jwks(key))
const token = (scope: string, ttlSeconds: number, sub = 'alice'): string =>
  mintToken(key, { ...claimsFor(idp.issuer, AUDIENCE, sub, Date.now(), ttlSeconds), scope, tenant: 'acme' })

const registry = new Registry()
const app = Fastify()
await app.register(websocket)
await app.register(telemetry, { metrics: { path: '/metrics', registry }, audit: false })
await app.register(authHandshake, {
  jwt: { issuer: idp.issuer, audience: AUDIENCE, algorithms: ['ES256'], jwksUri: idp.jwksUri, claims }
})
await app.register(topicAuthz, {})
await app.register(sessionExpiry, { heartbeatMs: 0 })

app.get('/orders/:tenant', {
  websocket: true,
  config: {
    auth: { scopes: ['orders:read'] },
    topics: [{ pattern: 'orders.{tenant}.>', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }],
    handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}.all' }
  }
}, (socket, req) => {
  socket.on('message', (raw) => {
    const decision: TopicDecision = req.authorizeTopic('subscribe', String(raw))
    const tenant: string | undefined = req.principal?.claims.tenant
    socket.send(JSON.stringify({ tenant, allow: decision.allow, reason: decision.reason, expiresAt: req.wsSession?.expiresAt }))
  })
})

await app.listen({ port: 0, host: '127.0.0.1' })
const base = `127.0.0.1:${(app.server.address() as AddressInfo).port}`
try {
  // One handshake accepted, with the route's topic rules in-band.
  const client = await openSocket(`ws://${base}/orders/acme`, { token: token('orders:read', 600) })
  const first = await client.ask('orders.acme.eu') as { tenant: string, allow: boolean, expiresAt: number }
  assert.deepEqual([first.tenant, first.allow], ['acme', true])
  assert.deepEqual(await client.ask('orders.globex.eu'), { tenant: 'acme', allow: false, reason: 'claim-mismatch', expiresAt: first.expiresAt })
  console.log('accepted: alice of acme; orders.acme.eu allowed, orders.globex.eu denied claim-mismatch')

  // One refused, with its code, before any socket exists.
  const refused = await connectSocket(`ws://${base}/orders/acme`, { token: token('profile', 600) })
  assert.ok('refused' in refused, 'a token without orders:read must be refused')
  const code = refused.body.code as WsguardErrorCode
  assert.deepEqual([refused.status, code], [403, 'WSG_INSUFFICIENT_SCOPE'])
  console.log(`refused: ${refused.status} ${code}`)

  // One in-band refresh: a later expiry, the same socket.
  const refreshed = await client.ask({ type: 'auth.refresh', token: token('orders:read', 1200) }) as { type: string, expiresAt: number }
  assert.equal(refreshed.type, 'auth.refreshed')
  assert.ok(refreshed.expiresAt > first.expiresAt, 'the refresh moves the expiry forward')
  console.log(`refreshed: expiry moved ${Math.round((refreshed.expiresAt - first.expiresAt) / 1000)} s forward`)

  // Revoked while open: closed 4403.
  await app.wsSessions.revoke({ subject: 'alice' })
  assert.equal((await client.closed).code, CloseCode.REVOKED)
  console.log(`revoked: closed ${CloseCode.REVOKED}`)

  // What telemetry counted, read from /metrics over HTTP.
  const metrics = await (await fetch(`http://${base}/metrics`)).text()
  const sample = (name: string, labels: string): number => {
    const line = metrics.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)))
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  assert.equal(sample('wsguard_handshakes_total', 'outcome="accepted"'), 1)
  assert.equal(sample('wsguard_handshakes_total', 'outcome="rejected",code="WSG_INSUFFICIENT_SCOPE"'), 1)
  assert.equal(sample('wsguard_refreshes_total', 'outcome="success"'), 1)
  assert.equal(sample('wsguard_revocations_total', 'by="subject"'), 1)
  console.log('/metrics: 1 accepted, 1 refused WSG_INSUFFICIENT_SCOPE, 1 refresh, 1 revocation')

  // @wsguard/redis loads and validates its options without a server.
  assert.throws(() => redisStores({ url: 'redis://127.0.0.1:6379' }, { keyPrefix: '{bad}' }), (err: unknown) => isWsguardError(err) && err.code === 'WSG_INVALID_OPTION')
  console.log('redis: a bad keyPrefix throws WSG_INVALID_OPTION')

  // @wsguard/client's Node build (on ws): the token in the handshake, stopped by a revocation.
  const seen: Array<ClientEvent['type']> = []
  const stopped = await new Promise<ClientEvent>((resolve, reject) => {
    const feed = connect({
      url: `ws://${base}/orders/acme`,
      protocols: ['orders.v1'],
      getToken: () => token('orders:read', 600, 'bob'),
      onEvent: (event) => {
        seen.push(event.type)
        if (event.type === 'connected') app.wsSessions.revoke({ subject: 'bob' }).catch(reject)
        if (event.type === 'stopped') resolve(event)
      }
    })
    assert.equal(feed.state, 'connecting')
  })
  assert.deepEqual(seen, ['connecting', 'connected', 'closed', 'stopped'])
  assert.deepEqual(stopped, { type: 'stopped', cause: 'revoked', code: CloseCode.REVOKED, reason: 'access revoked' })
  console.log(`client: connected as bob, stopped on ${CloseCode.REVOKED}`)
} finally {
  await app.close()
  await idp.close()
}
