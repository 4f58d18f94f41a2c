import t, { type Test } from 'tap'
import { Type } from '@sinclair/typebox'
import type { Principal } from '@wsguard/core'
import { generateKey, startOidcIssuer, FakeClock, type OidcIssuer } from '@wsguard/testing'
import { buildApp, connect } from './helpers.js'

// A real OpenID Provider (oidc-provider) on 127.0.0.1, issuing RFC 9068 JWT access tokens
// by client credentials; auth-handshake finds its keys by discovery.
const AUD = 'feed-api'
const keys = [generateKey('ES256'), generateKey('EdDSA'), generateKey('RS256'), generateKey('PS256')]

async function idp (t: Test, signing = keys, audience = AUD): Promise<OidcIssuer> {
  const issuer = await startOidcIssuer({
    keys: signing,
    audience,
    clients: [
      { clientId: 'billing', scope: 'feed:read feed:write', claims: { tenant: 'acme' } },
      { clientId: 'reporting', scope: 'feed:read', claims: { tenant: 'globex' } }
    ]
  })
  t.teardown(() => issuer.close())
  return issuer
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

t.test('tokens from a real OpenID Provider, found by discovery, in every algorithm', async (t) => {
  const op = await idp(t)
  const { url } = await buildApp(t, {
    jwt: {
      issuer: op.issuer,
      audience: AUD,
      algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'],
      discovery: true,
      typ: 'at+jwt',
      claims: Type.Object({ tenant: Type.String(), client_id: Type.String() })
    }
  }, {
    routes: (app) => app.get('/read', { websocket: true, config: { auth: { scopes: ['feed:read'], allowedScopes: ['feed:read'] } } }, (socket, req) => socket.send(JSON.stringify({ principal: req.principal })))
  })
  for (const alg of ['ES256', 'EdDSA', 'RS256', 'PS256']) {
    const token = await op.token({ clientId: 'billing', scope: 'feed:read', alg })
    t.equal(JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()).alg, alg, `the OP signed with ${alg}`)
    const res = await connect(t, url, { ...bearer(token), path: '/read' })
    t.equal(res.open, true, `${alg} accepted`)
    const p = res.open ? res.message.principal as Principal : undefined
    t.match(p, { id: 'billing', kind: 'workload', method: 'jwt', issuer: op.issuer, scopes: ['feed:read'], claims: { tenant: 'acme' } })
    t.type(p?.tokenId, 'string')
  }
  const wide = await connect(t, url, { ...bearer(await op.token({ clientId: 'billing', scope: 'feed:read feed:write' })), path: '/read' })
  t.equal(!wide.open && JSON.parse(wide.body).code, 'WSG_OVERSCOPED_TOKEN', 'an over-scoped token from the OP is refused')
})

t.test('the OP rotates its signing keys: new tokens are accepted without a restart', async (t) => {
  const first = [generateKey('ES256')]
  const op = await idp(t, first)
  const clock = new FakeClock()
  const { url } = await buildApp(t, { jwt: { issuer: op.issuer, audience: AUD, algorithms: ['ES256'], discovery: true }, clock })
  const before = await op.token({ clientId: 'reporting' })
  const firstTry = await connect(t, url, bearer(before))
  t.equal(firstTry.open, true, firstTry.open ? 'accepted' : `${firstTry.status} ${firstTry.headers['www-authenticate']}`)
  const requestsBefore = op.jwksRequests

  const next = generateKey('ES256')
  op.rotate([next, ...first])
  const after = await op.token({ clientId: 'reporting' })
  t.equal(JSON.parse(Buffer.from(after.split('.')[0] as string, 'base64url').toString()).kid, next.kid, 'signed with the new key')
  clock.advance(30_001)
  t.equal((await connect(t, url, bearer(after))).open, true, 'new key found by one refetch')
  t.equal(op.jwksRequests, requestsBefore + 1)
  t.equal((await connect(t, url, bearer(before))).open, true, 'tokens of the old key still work while the OP publishes it')
})

t.test('several issuers, each with its own keys and audience', async (t) => {
  const a = await idp(t, [generateKey('ES256')], 'api-a')
  const b = await idp(t, [generateKey('ES256')], 'api-b')
  const { url } = await buildApp(t, {
    jwt: [
      { issuer: a.issuer, audience: 'api-a', algorithms: ['ES256'], discovery: true },
      { issuer: b.issuer, audience: 'api-b', algorithms: ['ES256'], discovery: true }
    ]
  })
  const fromA = await connect(t, url, bearer(await a.token({ clientId: 'reporting' })))
  const fromB = await connect(t, url, bearer(await b.token({ clientId: 'reporting' })))
  t.equal(fromA.open && (fromA.message.principal as Principal).issuer, a.issuer)
  t.equal(fromB.open && (fromB.message.principal as Principal).issuer, b.issuer)

  // B's OP issuing a token for A's audience is still B's token: A's audience is not B's.
  const crossed = await idp(t, [generateKey('ES256')], 'api-a')
  const foreign = await connect(t, url, bearer(await crossed.token({ clientId: 'reporting' })))
  t.equal(!foreign.open && foreign.status, 401, 'an untrusted OP is refused')
})
