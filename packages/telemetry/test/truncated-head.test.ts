// Found by session 20's adversarial review. Behind a proxy that appends its own
// `X-Forwarded-For` line at the end of the head (HAProxy's `option forwardfor` does), with
// Fastify's trustProxy set correctly (only the proxy's address is trusted), a client pads its
// request with ~1,100 short header lines. Node's parser silently drops every header line past
// its header-count limit (1,000 lines by default; the head is still only ~7 KB), the proxy's
// line among them, so `request.ip` was the X-Forwarded-For value the CLIENT wrote: a client with
// no credential pushed any address it named into a 429 bucket, or took a fresh bucket per
// attempt. Now such an upgrade is refused 400 before the gate counts it (core's
// refuseTruncatedHeads, which telemetry installs).
//
// The bytes below are what the proxy forwards: the client's head (its forged XFF and padding)
// with the proxy's `X-Forwarded-For: <real client>` appended last; the connection comes from
// 127.0.0.1, the trusted proxy.
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { telemetry } from '../src/index.js'

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

/** The status the server answers `head` with (read up to the end of its head). */
async function status (port: number, head: string): Promise<number> {
  return await new Promise((resolve) => {
    let got = ''
    const socket = connect(port, '127.0.0.1', () => socket.write(head))
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1')
      if (got.includes('\r\n\r\n')) { socket.destroy(); resolve(Number(got.slice(9, 12))) }
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve(Number(got.slice(9, 12)) || 0))
  })
}

/** What the proxy forwards for a client at `real` that wrote `forged` and `padding` lines. */
function viaProxy (real: string, forged?: string, padding = 0): string {
  let head = `GET /ws HTTP/1.1\r\nHost: x\r\n${UPGRADE}`
  if (forged !== undefined) head += `X-Forwarded-For: ${forged}\r\n`
  for (let i = 0; i < padding; i++) head += 'a: b\r\n'
  return `${head}X-Forwarded-For: ${real}\r\n\r\n` // appended by the proxy
}

t.test('a padded head that would drop the proxy\'s X-Forwarded-For is refused before the per-IP gate counts it', async (t) => {
  const app = Fastify({ trustProxy: '127.0.0.1' }) // only the proxy is trusted: the right setting
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(telemetry, { anomalies: { reconnectStorm: { perIp: { max: 2, windowMs: 60_000 }, action: 'throttle' } } })
  app.get('/ws', { websocket: true }, (socket) => { socket.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const attacker = '203.0.113.66'

  // Control: without padding the forged value is to the left of the proxy's: the attacker fills its own bucket.
  const own = [await status(port, viaProxy(attacker, '198.51.100.9')), await status(port, viaProxy(attacker, '198.51.100.9')), await status(port, viaProxy(attacker, '198.51.100.9'))]
  t.same(own, [101, 101, 429], 'unpadded: the attacker is throttled in its own bucket')
  t.equal(await status(port, viaProxy('198.51.100.9')), 101, 'and the address it named is untouched')

  // Padded: two handshakes naming 198.51.100.10, then that client's own (ordinary) handshake.
  const padded = viaProxy(attacker, '198.51.100.10', 1_100)
  t.ok(padded.length < 16_384, `padded head: ${padded.length} bytes`)
  t.same([await status(port, padded), await status(port, padded)], [400, 400], 'the padded handshakes are refused, counted against no one')
  t.equal(await status(port, viaProxy('198.51.100.10')), 101, 'the victim, who never stormed, must not be throttled')
  // Evasion: the attacker's own bucket is full (above), yet a new forged value per attempt is a new bucket.
  const fresh: number[] = []
  for (let i = 1; i <= 5; i++) fresh.push(await status(port, viaProxy(attacker, `192.0.2.${i}`, 1_100)))
  t.same(fresh, [400, 400, 400, 400, 400], 'an attacker over its limit gets no socket by naming new addresses')
})
