// Starts a real OpenID Provider and the feed on loopback, then shows one accepted and two
// refused handshakes. With --once it exits after that (used as the example's test).
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
const feed = address.replace('http', 'ws') + '/feed'

function attempt (label: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(feed, { headers })
    ws.on('message', (data) => { ws.close(); resolve(`${label}: accepted, server said ${String(data)}`) })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve(`${label}: refused ${res.statusCode} ${JSON.parse(body).code} (${res.headers['www-authenticate'] ?? ''})`))
    })
    ws.on('error', (err) => resolve(`${label}: failed: ${err.message}`))
  })
}

const results = [
  await attempt('dashboard token (feed:read)', { authorization: `Bearer ${await op.token({ clientId: 'dashboard', scope: 'feed:read' })}` }),
  await attempt('admin token (feed:read feed:admin)', { authorization: `Bearer ${await op.token({ clientId: 'admin-tool', scope: 'feed:read feed:admin', alg: 'EdDSA' })}` }),
  await attempt('no token', {})
]
for (const line of results) console.log(line)

if (once) {
  await app.close()
  await op.close()
  const ok = results[0]?.includes('accepted') && results[1]?.includes('WSG_OVERSCOPED_TOKEN') && results[2]?.includes('WSG_CREDENTIAL_MISSING')
  console.log(ok ? '3 passed, 0 failed' : 'demo did not behave as described')
  process.exit(ok ? 0 : 1)
} else {
  console.log(`\nfeed on ${feed}; OpenID Provider on ${op.issuer}. Get a token:\n` +
    `  curl -s -u dashboard:dashboard-secret -d grant_type=client_credentials -d scope=feed:read -d resource=https://wsguard.test/ES256 ${op.issuer}/token\n` +
    'Ctrl-C to stop.')
  const stop = async (): Promise<void> => { await app.close(); await op.close(); process.exit(0) }
  process.once('SIGINT', () => { stop().catch(() => process.exit(1)) })
}
