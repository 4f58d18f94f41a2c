// Found by session 20's adversarial review. `mtls.trustProxyCertificateHeader` relies on Node
// joining a repeated header into one string that is no certificate (one PEM block and nothing
// else is required since session 23: Z11), so a proxy that appends its certificate header
// without removing the client's copy still fails closed. But Node's
// parser silently drops every header line past its header-count limit (1,000 lines by
// default; the head here is ~8 KB, under the 16 KB limit). A client padded its request: the
// proxy's line, appended last, was dropped, and the copy the CLIENT wrote (another workload's
// certificate, which is public) was taken as verified by the proxy: 101 as billing. Now an
// upgrade whose header lines reached the limit is refused 400 before any credential or
// certificate is read (core's refuseTruncatedHeads, which auth-handshake installs).
//
// The bytes below are what such a proxy forwards for the `ingest` workload (its own, real
// certificate appended last), from 127.0.0.1, the trusted proxy.
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { createTestCa } from '@wsguard/testing'
import { authHandshake } from '../src/index.js'

const ca = await createTestCa()
const billing = await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'] })
const ingest = await ca.issue({ uris: ['spiffe://prod.example/ns/ingest/sa/worker'] })

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

/** The server's answer to `head`: status line and body text. */
async function answer (port: number, head: string): Promise<{ status: number, text: string }> {
  return await new Promise((resolve) => {
    let got = ''
    const socket = connect(port, '127.0.0.1', () => socket.write(head))
    const done = (): void => { socket.destroy(); resolve({ status: Number(got.slice(9, 12)) || 0, text: got }) }
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1')
      // a 101 is followed by the route's frame (the principal); a refusal ends with its JSON body
      if (/^HTTP\/1\.1 101/.test(got) ? got.includes('spiffe') : got.includes('}')) done()
    })
    socket.on('error', () => {})
    socket.on('close', done)
  })
}

function viaProxy (clientWrote: string, padding: number): string {
  let head = `GET /mtls HTTP/1.1\r\nHost: x\r\n${UPGRADE}X-Client-Cert: ${clientWrote}\r\n`
  for (let i = 0; i < padding; i++) head += 'a: b\r\n'
  return `${head}X-Client-Cert: ${encodeURIComponent(ingest.cert)}\r\n\r\n` // appended by the proxy: the real client's certificate
}

t.test('a padded head that would drop the proxy\'s certificate header is refused: the client\'s own copy is never trusted', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, {
    mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: { header: 'x-client-cert', proxies: ['127.0.0.1'], ca: [ca.cert] } }
  })
  app.get('/mtls', { websocket: true, config: { auth: { methods: ['mtls'] } } }, (socket, req) => { socket.send(JSON.stringify(req.principal)) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const stolen = encodeURIComponent(billing.cert) // public: no private key involved

  const joined = await answer(port, viaProxy(stolen, 10))
  t.same([joined.status, /WSG_CERT_UNTRUSTED/.test(joined.text)], [401, true], 'control: unpadded, the two copies are joined and refused (fails closed, as designed)')
  // Session 23's review (Z11): OpenSSL reads the first PEM block of the joined value when the
  // client's copy ends in a newline. The value must be one PEM block and nothing else.
  for (const [name, end] of [['no newline', ''], ['a trailing newline', '\n'], ['a trailing CRLF and spaces', '\r\n  ']] as const) {
    const got = await answer(port, viaProxy(encodeURIComponent(billing.cert.trimEnd() + end), 0))
    t.same([got.status, /WSG_CERT_UNTRUSTED/.test(got.text), /billing/.test(got.text)], [401, true, false], `joined, the client's copy ending in ${name}: refused`)
  }
  // The proxy's header alone is taken, its lines ending in LF or in CRLF.
  for (const [name, pem] of [['LF', ingest.cert], ['CRLF', ingest.cert.trimEnd().split('\n').join('\r\n') + '\r\n']] as const) {
    const alone = await answer(port, `GET /mtls HTTP/1.1\r\nHost: x\r\n${UPGRADE}X-Client-Cert: ${encodeURIComponent(pem)}\r\n\r\n`)
    t.match([alone.status, alone.text], [101, /"id":"spiffe:\/\/prod\.example\/ns\/ingest\/sa\/worker"/], `the proxy's header alone, ${name}: ingest's socket`)
  }

  const head = viaProxy(stolen, 1_100)
  t.ok(head.length < 16_384, `padded head: ${head.length} bytes`)
  const padded = await answer(port, head)
  t.same([padded.status, /WSG_BAD_REQUEST/.test(padded.text)], [400, true], `padded: refused before the certificate is read (principal ${/"id":"([^"]+)"/.exec(padded.text)?.[1] ?? '-'})`)

  // An app that lets Node keep every line (maxHeadersCount 0; the 16 KB head limit still
  // bounds it): nothing is dropped, and the two copies are joined and refused as unpadded.
  app.server.maxHeadersCount = 0
  const kept = await answer(port, head)
  t.same([kept.status, /WSG_CERT_UNTRUSTED/.test(kept.text)], [401, true], 'maxHeadersCount 0: every line kept, refused as the joined copies')
  // A lower limit the app set is the one checked.
  app.server.maxHeadersCount = 20
  const few = await answer(port, viaProxy(stolen, 30))
  t.same([few.status, /WSG_BAD_REQUEST/.test(few.text)], [400, true], 'maxHeadersCount 20: 36 lines are refused')
})

// Found by the review of this change: a route that asks for its plain HTTP requests to be
// governed (config.governHttp) reads the same certificate header on a plain GET.
t.test('a plain GET with a padded head to a config.governHttp route is refused too', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, {
    mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: { header: 'x-client-cert', proxies: ['127.0.0.1'], ca: [ca.cert] } }
  })
  app.route({
    method: 'GET',
    url: '/dual',
    config: { governHttp: true, auth: { methods: ['mtls'] } },
    handler: async (req) => ({ principal: req.principal?.id ?? null }),
    wsHandler: (socket) => { socket.close() }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  let head = `GET /dual HTTP/1.1\r\nHost: x\r\nX-Client-Cert: ${encodeURIComponent(billing.cert)}\r\n`
  for (let i = 0; i < 1_100; i++) head += 'a: b\r\n'
  head += `X-Client-Cert: ${encodeURIComponent(ingest.cert)}\r\nConnection: close\r\n\r\n`
  const got = await answer(port, head)
  t.same([got.status, /WSG_BAD_REQUEST/.test(got.text), /billing/.test(got.text)], [400, true, false], 'refused before the certificate is read')
})
