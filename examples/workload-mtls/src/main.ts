// Two services on loopback: `billing` streams events to `ingest` over wss. The billing
// workload authenticates twice at once: with its SPIFFE certificate (mTLS) and with an access
// token bound to that certificate. A copy of the token on another workload is refused.
// With --once it exits after the demonstration (used as the example's test).
import WebSocket from 'ws'
import { claimsFor, createTestCa, generateKey, jwks, mintToken, type TestCertificate } from '@wsguard/testing'
import { buildIngest } from './ingest.js'

const once = process.argv.includes('--once')
const ISSUER = 'https://issuer.prod.example'

// A throw-away PKI and token issuer; in production: SPIRE (or your CA) and your OpenID Provider.
const ca = await createTestCa('prod.example workload CA')
const ingestCert = await ca.issue({ commonName: 'ingest', uris: ['spiffe://prod.example/ns/ingest/sa/api'], ipAddresses: ['127.0.0.1'] })
const billing = await ca.issue({ commonName: 'billing', uris: ['spiffe://prod.example/ns/billing/sa/exporter'] })
const reports = await ca.issue({ commonName: 'reports', uris: ['spiffe://prod.example/ns/billing/sa/reports'] })
const issuerKey = generateKey('ES256')
const tokenFor = (cert: TestCertificate, sub: string): string =>
  mintToken(issuerKey, { ...claimsFor(ISSUER, 'ingest', sub, Date.now(), 300), scope: 'ingest:write', cnf: { 'x5t#S256': cert.thumbprint } }, { header: { typ: 'at+jwt' } })

const app = await buildIngest({ tls: { cert: ingestCert.cert, key: ingestCert.key, ca: ca.cert }, issuer: { issuer: ISSUER, jwks: jwks(issuerKey) }, logger: !once })
const address = await app.listen({ port: once ? 0 : 8443, host: '127.0.0.1' })
const url = address.replace('https', 'wss') + '/ingest'

/** One workload's stream: its certificate, a token, `count` events, then 'done'. */
function stream (label: string, cert: TestCertificate | undefined, token: string, count: number): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, {
      ca: ca.cert, // the client checks the ingest service's certificate too
      ...(cert !== undefined ? { cert: cert.cert, key: cert.key } : {}),
      headers: { authorization: `Bearer ${token}` }
    })
    ws.on('open', () => {
      for (let i = 0; i < count; i++) ws.send(JSON.stringify({ seq: i, amount: i * 10 }))
      ws.send('done')
    })
    ws.on('message', (data) => { ws.close(); resolve(`${label}: streamed, ingest said ${String(data)}`) })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve(`${label}: refused ${res.statusCode} ${JSON.parse(body).code}`))
    })
    ws.on('error', (err) => resolve(`${label}: failed: ${err.message}`))
  })
}

const billingToken = tokenFor(billing, 'billing-exporter')
const results = [
  await stream('billing, its certificate and its bound token', billing, billingToken, 100),
  await stream('reports, with a copy of the billing token', reports, billingToken, 1),
  await stream('billing token, no certificate', undefined, billingToken, 1),
  await stream('billing, a token bound to no certificate', billing, mintToken(issuerKey, { ...claimsFor(ISSUER, 'ingest', 'billing-exporter'), scope: 'ingest:write' }, { header: { typ: 'at+jwt' } }), 1)
]
for (const line of results) console.log(line)

if (once) {
  await app.close()
  const expected = [
    'ingest said {"received":101,"from":"spiffe://prod.example/ns/billing/sa/exporter","as":"billing-exporter","method":"jwt+mtls"}',
    'refused 401 WSG_CERT_BINDING_MISMATCH',
    'refused 401 WSG_CERT_REQUIRED',
    'refused 401 WSG_CERT_BINDING_MISMATCH'
  ]
  const failed = expected.filter((text, i) => results[i]?.includes(text) !== true).length
  console.log(`${expected.length - failed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
} else {
  console.log(`\ningest on ${url} (mTLS). Ctrl-C to stop.`)
  process.once('SIGINT', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
