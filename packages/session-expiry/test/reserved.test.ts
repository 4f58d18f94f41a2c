import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket, { type WebSocket as ServerSocket } from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import WebSocket from 'ws'
import type { AuthOutcome, Principal } from '@wsguard/core'
import { FakeClock, captureLogs } from '@wsguard/testing'
import sessionExpiry, { type SessionExpiryOptions } from '../src/index.js'
import { ReservedTypes } from '../src/reserved.js'
import { open, T0 } from './helpers.js'

const alice: Principal = Object.freeze({ id: 'alice', issuer: 'https://idp.example', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's', expiresAt: T0 + 3_600_000 })

/**
 * The pattern that made the hole: an app that relays what each client sends to the others (a
 * chat, a fan-out). 'binary:<text>' is relayed as a Buffer sent as text (binary: false), and
 * 'bytes:<text>' as a binary frame; every send's callback error is kept.
 */
async function relay (t: Test, opts: SessionExpiryOptions = {}) {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'warn', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  app.decorateRequest('principal', null as never)
  app.addHook('onRequest', async (req) => { req.principal = alice })
  const authenticate = async (): Promise<AuthOutcome> => ({ ok: false, code: 'WSG_TOKEN_INVALID' })
  await app.register(sessionExpiry, { clock: new FakeClock(T0), heartbeatMs: 0, idleTimeoutMs: 0, authenticate, ...opts })
  const sockets = new Set<ServerSocket>()
  const errors: string[] = []
  app.get('/chat', { websocket: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('message', (data) => {
      const text = String(data)
      for (const other of sockets) {
        if (other === socket) continue
        const done = (err?: Error): void => { if (err !== undefined && err !== null) errors.push(err.message) }
        if (text.startsWith('binary:')) other.send(Buffer.from(text.slice(7)), { binary: false }, done)
        else if (text.startsWith('bytes:')) other.send(Buffer.from(text.slice(6)), done)
        else other.send(text, done)
      }
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { logs, errors, base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

t.test('a relayed frame that names a control message only the server sends never reaches the other client', async (t) => {
  const { base, errors, logs } = await relay(t)
  const attacker = await open(t, `${base}/chat`)
  const victim = await open(t, `${base}/chat`)
  const forged = [
    { type: 'auth.expiring', expiresAt: T0 + 1, deadline: T0 + 2 },
    { type: 'auth.refreshed', expiresAt: T0 + 1 },
    { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' },
    { type: 'topic.revoked', topic: 'orders.acme.eu' },
    { kind: 'chat', nested: { type: 'auth.expiring' } }
  ]
  for (const f of forged) attacker.send(f)
  attacker.send('{ "type" :\n "topic.revoked", "topic": "x" }')
  attacker.send('binary:{"type":"auth.expiring","expiresAt":1,"deadline":2}')
  attacker.send('{"\\u0074ype":"topic.revoked","topic":"orders.acme.eu"}') // as JSON.parse reads it
  attacker.send('{"type":"auth\\u002erefresh_failed","x":"auth.refresh_failed"}')
  attacker.send({ type: 'chat', text: 'hello' })
  t.same(await victim.next(), { type: 'chat', text: 'hello' }, 'the first frame the victim gets is the chat line: the nine before it were withheld')
  t.equal(errors.length, 9, 'each withheld send told its callback')
  t.match(errors[0], /not sent: the frame holds the type of a control message only session-expiry sends/)
  const warned = logs.lines.filter((l) => l.includes('was not sent'))
  t.equal(warned.length, 1, 'said once per session, not once per frame')
  t.match(JSON.parse(warned[0] as string), { level: 40, route: '/chat' })
  t.notOk(logs.text().includes('topic.revoked'), 'the log line does not carry the frame')
})

t.test('frames a client cannot read as control messages are sent untouched', async (t) => {
  const { base, errors } = await relay(t)
  const attacker = await open(t, `${base}/chat`)
  const victim = await open(t, `${base}/chat`)
  const fine = [
    'bytes:{"type":"auth.expiring","expiresAt":1,"deadline":2}', // a binary frame: no client reads it as control
    '{"type":"auth.refresh","token":"x"}', // the client's message, not the server's: taken by the attacker's own session, not relayed
    '{"type":"chat","text":"the auth.expiring notice"}',
    '{"type":"chat","text":"caf\\u00e9"}' // an escape, in an ordinary frame
  ]
  for (const f of fine) attacker.send(f)
  attacker.send('{"type":"chat","text":"end"}')
  const got: unknown[] = []
  for (;;) {
    const m = await victim.next()
    got.push(m)
    if ((m as { text?: string }).text === 'end') break
  }
  t.same(got, [
    { type: 'auth.expiring', expiresAt: 1, deadline: 2 },
    { type: 'chat', text: 'the auth.expiring notice' },
    { type: 'chat', text: 'café' },
    { type: 'chat', text: 'end' }
  ], 'the binary frame (its bytes) and the chat lines arrive; the refresh was the attacker\'s own')
  t.same(errors, [])
})

t.test('the names withheld are the configured ones', async (t) => {
  const { base, errors } = await relay(t, { messages: { expiring: 'reauth.soon' } })
  const attacker = await open(t, `${base}/chat`)
  const victim = await open(t, `${base}/chat`)
  attacker.send({ type: 'reauth.soon', deadline: 1 })
  attacker.send({ type: 'auth.expiring', deadline: 1 })
  t.same(await victim.next(), { type: 'auth.expiring', deadline: 1 }, 'the default name is the app\'s own once renamed')
  t.equal(errors.length, 1)
})

t.test('on a closed subprotocol (GraphQL) nothing is withheld: no control frame is sent or read there', async (t) => {
  const { base, errors } = await relay(t)
  const attacker = await open(t, `${base}/chat`)
  const victim = new WebSocket(`${base}/chat`, ['graphql-transport-ws'])
  t.teardown(() => victim.terminate())
  await once(victim, 'open')
  t.equal(victim.protocol, 'graphql-transport-ws')
  const got = once(victim, 'message')
  attacker.send({ type: 'auth.expiring', deadline: 1 })
  t.same(JSON.parse(String((await got)[0])), { type: 'auth.expiring', deadline: 1 })
  t.same(errors, [])
})

t.test('ReservedTypes reads frames as ws sends them', async (t) => {
  const r = new ReservedTypes(['auth.expiring'])
  const frame = '{"type":"auth.expiring"}'
  t.equal(r.holds(frame, undefined), true, 'a string is text')
  t.equal(r.holds(frame, { binary: true }), false, 'a string sent as binary')
  t.equal(r.holds(Buffer.from(frame), undefined), false, 'a Buffer is binary')
  t.equal(r.holds(Buffer.from(frame), { binary: false }), true, 'a Buffer sent as text')
  t.equal(r.holds(Buffer.from(frame), { binary: undefined }), true, 'binary: undefined is text to ws too')
  t.equal(r.holds(new TextEncoder().encode(frame), { binary: false }), true, 'a Uint8Array sent as text')
  t.equal(r.holds(new TextEncoder().encode(frame).buffer, { binary: false }), true, 'an ArrayBuffer sent as text')
  t.equal(r.holds([Buffer.from('{"type":'), Buffer.from('"auth.expiring"}')], { binary: false }), true, 'a list of Buffers')
  t.equal(r.holds(42, { binary: false }), false, 'a number (ws sends its digits)')
  t.equal(r.holds(frame, () => {}), true, 'a callback in the options place')
  t.equal(r.holds('{"kind":"auth.expiring"}', undefined), false, 'the name not as a type')
  t.equal(r.holds(' \n\t\r' + frame, undefined), true, 'JSON whitespace first')
  t.equal(r.holds('echo:' + frame, undefined), false, 'text that is no JSON object: no client reads it as a control message')
  t.equal(r.holds('    ', undefined), false, 'only whitespace')
  // eslint-disable-next-line no-new-wrappers -- what an app may hand ws
  t.equal(r.holds(new String(frame), { binary: false }), true, 'a String object sent as text')
  t.equal(r.holds(new SharedArrayBuffer(4), { binary: false }), false, 'a SharedArrayBuffer sent as text is read')
  t.equal(r.holds(new Blob([frame]), { binary: false }), true, 'a Blob sent as text cannot be read at once: withheld')
  t.equal(r.holds(new Blob([frame]), undefined), false, 'a Blob is binary')
  t.equal(r.holds({ toString: () => frame }, { binary: false }), false, 'anything else ws would refuse to send')
})

t.test('ReservedTypes reads what JSON.parse reads: escaped spellings of the key or the name', async (t) => {
  const r = new ReservedTypes(['auth.expiring', 'topic.revoked'])
  const cases: Array<[string, boolean, string]> = [
    ['{"\\u0074ype":"topic.revoked","topic":"room1"}', true, 'the key escaped'],
    ['{"type":"auth\\u002eexpiring","x":"auth.expiring"}', true, 'the name escaped, a decoy as written'],
    ['{"\\u0074\\u0079\\u0070\\u0065":"\\u0061uth.expiring"}', true, 'everything escaped'],
    ['{"type":"chat","text":"caf\\u00e9"}', false, 'an escape in an ordinary frame'],
    ['{"type":"chat","nested":{"\\u0074ype":"auth.expiring"}}', false, 'an escaped key nested: no client reads it as the message'],
    ['{"\\u0074ype":"auth.expiring"', false, 'not JSON: no client reads it'],
    ['{"type" : 42, "\\u0074ype": "auth.expiring"}', true, 'a later escaped member wins in JSON.parse'],
    ['{"type"', false, '"type" at the very end'],
    ['{"type":', false, 'a colon at the very end'],
    ['{"type":auth.expiring}', false, 'no quote after the colon'],
    ['{"type" "auth.expiring"}', false, 'no colon'],
    ['{"type":"auth.expiringly"}', false, 'a longer name is another name'],
    ['{"type":"auth.expiring2"}', false, 'so is a name with more characters'],
    ['{"type":"chat","a":{"type"   :\n "topic.revoked"}}', true, 'as written, at any depth']
  ]
  for (const [text, withheld, name] of cases) {
    t.equal(r.holds(text, undefined), withheld, `${name} (string)`)
    t.equal(r.holds(Buffer.from(text), { binary: false }), withheld, `${name} (Buffer)`)
  }
  t.equal(r.holds(Buffer.from('{"type"'), { binary: false }), false, 'a Buffer ending in "type"')
})

t.test('a relayed frame is read once per tick, not once per recipient', async (t) => {
  const r = new ReservedTypes(['auth.expiring'])
  const buf = Buffer.from('{"type":"chat.expiring"}')
  t.equal(r.holds(buf, { binary: false }), false)
  buf.write('auth', 9)
  t.equal(r.holds(buf, { binary: false }), false, 'the same object in the same tick: the verdict kept')
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(r.holds(buf, { binary: false }), true, 'read again in the next tick')
  t.equal(r.holds('{"type":"auth.expiring"}', undefined), true, 'another frame is read')
})
