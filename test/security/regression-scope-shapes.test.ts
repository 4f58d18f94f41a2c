// Hardening finding 7: scopes were read from a `scope` string or an `scp` array only, so a
// token carrying its scopes as a `scope` array or an `scp` string had none, and passed
// `allowedScopes` however much it held. Every shape is read now; one that cannot be read is
// an invalid token.
import t from 'tap'
import { ALLOWED_ORIGIN } from './carriers.js'
import { handshake } from './client.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

interface Row { name: string, scopes: Record<string, unknown>, path: 'allowed-only' | 'feed', status: number, code?: string }

const ROWS: Row[] = [
  { name: '`scope` array beyond allowedScopes', scopes: { scope: ['feed:read', 'admin'] }, path: 'allowed-only', status: 403, code: 'WSG_OVERSCOPED_TOKEN' },
  { name: '`scp` string beyond allowedScopes', scopes: { scope: undefined, scp: 'feed:read admin' }, path: 'allowed-only', status: 403, code: 'WSG_OVERSCOPED_TOKEN' },
  { name: '`scope` object', scopes: { scope: { admin: true } }, path: 'allowed-only', status: 401, code: 'WSG_TOKEN_INVALID' },
  { name: '`scope` array beyond allowedScopes, on a route that requires feed:read', scopes: { scope: ['feed:read', 'admin'] }, path: 'feed', status: 403, code: 'WSG_OVERSCOPED_TOKEN' },
  { name: '`scope` array within', scopes: { scope: ['feed:read'] }, path: 'feed', status: 101 },
  { name: '`scp` string within', scopes: { scope: undefined, scp: 'feed:read' }, path: 'feed', status: 101 },
  // the shapes that were read before, unchanged
  { name: '`scope` string beyond allowedScopes', scopes: { scope: 'feed:read admin' }, path: 'allowed-only', status: 403, code: 'WSG_OVERSCOPED_TOKEN' },
  { name: '`scp` array beyond allowedScopes', scopes: { scope: undefined, scp: ['feed:read', 'admin'] }, path: 'allowed-only', status: 403, code: 'WSG_OVERSCOPED_TOKEN' },
  { name: '`scope` string within', scopes: { scope: 'feed:read' }, path: 'allowed-only', status: 101 }
]

t.test('scopes in every shape are held to allowedScopes', async (t) => {
  const server = await securityServer(t, {
    routes: (app) => app.get('/allowed-only', { websocket: true, config: { auth: { allowedScopes: ['feed:read', 'feed:write'] } } }, (socket) => socket.send('open'))
  })
  for (const row of ROWS) {
    const token = sign(ec, claims(server.clock.now(), row.scopes))
    const answer = await handshake(server.url(row.path === 'feed' ? server.feed : '/allowed-only'), { origin: ALLOWED_ORIGIN, authorization: `Bearer ${token}` }, (fn) => t.teardown(fn))
    t.equal(answer.status, row.status, `${row.name}: status`)
    if (row.code !== undefined) t.match(answer.body, `"code":"${row.code}"`, `${row.name}: code`)
  }
})
