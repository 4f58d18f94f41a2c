// Starts a real OpenID Provider and the feed on loopback, then shows accepted and refused
// handshakes on the feed and on per-tenant order streams. With --once it exits after that (used as the example's test).
import WebSocket from 'ws'
import { generateKey, startOidcIssuer } from '@wsguard/testing'
import { buildServer } from './server.js'

const once = process.argv.includes('--once')
const op = await startOidcIssuer({
  keys: [generateKey('ES256'), generateKey('EdDSA')],
  audience: 'feed-api',
  clients: [
    { clientId: 'dashboard', scope: 'feed:read', claims: { tenant: 'acme' } },
    { clientId: 'admin-tool', scope: 'feed:read feed:admin', claims: { tenant: 'acme' } }
  ]
})
const app = await buildServer(op.issuer, !once)
const address = await app.listen({ port: once ? 0 : 3000, host: '127.0.0.1' })
const base = address.replace('http', 'ws')
const feed = base + '/feed'

function attempt (label: string, headers: Record<string, string>, url = feed): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.on('message', (data) => { ws.close(); resolve(`${label}: accepted, server said ${String(data)}`) })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve(`${label}: refused ${res.statusCode} ${JSON.parse(body).code} (${res.headers['www-authenticate'] ?? ''})`))
    })
    ws.on('error', (err) => resolve(`${label}: failed: ${err.message}`))
  })
}

const dashboard = { authorization: `Bearer ${await op.token({ clientId: 'dashboard', scope: 'feed:read' })}` }
const results = [
  await attempt('dashboard token (feed:read)', dashboard),
  await attempt('admin token (feed:read feed:admin)', { authorization: `Bearer ${await op.token({ clientId: 'admin-tool', scope: 'feed:read feed:admin', alg: 'EdDSA' })}` }),
  await attempt('no token', {}),
  await attempt('acme dashboard on /orders/acme', dashboard, base + '/orders/acme'),
  await attempt('acme dashboard on /orders/globex', dashboard, base + '/orders/globex')
]
// In-band: a refresh with the admin token is refused by the route's scope rules; then the
// dashboard's access is revoked while its socket is open, and its token refused afterwards.
function session (): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const seen: string[] = []
    const ws = new WebSocket(feed, { headers: dashboard })
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type?: string, code?: string }
      if (msg.type === undefined) {
        seen.push('session open')
        ws.send(JSON.stringify({ type: 'auth.refresh', token: adminToken }))
      } else if (msg.type === 'auth.refresh_failed') {
        seen.push(`refresh with the admin token: ${String(msg.code)}`)
        app.wsSessions.revoke({ subject: 'dashboard' }).catch(reject)
      }
    })
    ws.on('close', (code, reason) => { seen.push(`revoked while open: closed ${code} ${String(reason)}`); resolve(seen) })
    ws.on('error', reject)
  })
}
const adminToken = await op.token({ clientId: 'admin-tool', scope: 'feed:read feed:admin' })
for (const line of await session()) results.push(`dashboard session: ${line}`)
results.push(await attempt('dashboard token again, after the revocation', dashboard))

// What telemetry counted, read from /metrics.
const metrics = await (await fetch(address + '/metrics')).text()
const count = (pattern: RegExp): number => [...metrics.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0)
const accepted = count(/^wsguard_handshakes_total\{[^}]*outcome="accepted"[^}]*\} (\d+)$/gm)
const refused = count(/^wsguard_handshakes_total\{[^}]*outcome="rejected"[^}]*\} (\d+)$/gm)
const revoked = count(/^wsguard_revocations_total\{[^}]*\} (\d+)$/gm)
results.push(`/metrics: ${accepted} handshakes accepted, ${refused} refused, ${revoked} session revoked`)

for (const line of results) console.log(line)

if (once) {
  await app.close()
  await op.close()
  const expected = [
    'accepted', 'WSG_OVERSCOPED_TOKEN', 'WSG_CREDENTIAL_MISSING', 'server said {"own":true,"other":"claim-mismatch"}', 'refused 403 WSG_TOPIC_DENIED',
    'session open', 'refresh with the admin token: WSG_OVERSCOPED_TOKEN', 'closed 4403 access revoked', 'refused 401 WSG_TOKEN_REVOKED',
    '/metrics: 3 handshakes accepted, 4 refused, 1 session revoked'
  ]
  const failed = expected.filter((text, i) => results[i]?.includes(text) !== true).length
  console.log(`${expected.length - failed} passed, ${failed} failed`)
  const ok = failed === 0
  process.exit(ok ? 0 : 1)
} else {
  console.log(`\nfeed on ${feed}; OpenID Provider on ${op.issuer}. Get a token:\n` +
    `  curl -s -u dashboard:dashboard-secret -d grant_type=client_credentials -d scope=feed:read -d resource=https://wsguard.test/ES256 ${op.issuer}/token\n` +
    'Ctrl-C to stop.')
  const stop = async (): Promise<void> => { await app.close(); await op.close(); process.exit(0) }
  process.once('SIGINT', () => { stop().catch(() => process.exit(1)) })
}
