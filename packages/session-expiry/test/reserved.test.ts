import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket, { type WebSocket as ServerSocket } from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import WebSocket from 'ws'
import type { AuthOutcome, Principal } from '@wsguard/core'
import { FakeClock, captureLogs } from '@wsguard/testing'
import sessionExpiry, { type SessionExpiryOptions } from '../src/index.js'
import { ReservedTypes, type Outgoing } from '../src/reserved.js'
import { open, T0 } from './helpers.js'

const alice: Principal = Object.freeze({ id: 'alice', issuer: 'https://idp.example', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's', expiresAt: T0 + 3_600_000 })

/**
 * The pattern that made the hole: an app that relays what each client sends to the others (a
 * chat, a fan-out). 'binary:<text>' is relayed as a Buffer sent as text (binary: false),
 * 'bytes:<text>' as a binary frame, 'bom:<text>' after a byte order mark, 'frag:<text>' in two
 * fragments; every send's callback error is kept.
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
        else if (text.startsWith('bom:')) other.send('\uFEFF' + text.slice(4), done)
        else if (text.startsWith('frag:')) {
          other.send(text.slice(5, 14), { fin: false })
          other.send(text.slice(14), { fin: true }, done)
        } else if (text.startsWith('bytes:')) other.send(Buffer.from(text.slice(6)), done)
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
  attacker.send('bom:{"type":"auth.expiring","expiresAt":1,"deadline":2}') // a WHATWG client drops the mark
  attacker.send('frag:{"type":"topic.revoked","topic":"x"}') // judged whole
  attacker.send({ type: 'chat', text: 'hello' })
  t.same(await victim.next(), { type: 'chat', text: 'hello' }, 'the first frame the victim gets is the chat line: the eleven before it were withheld')
  t.equal(errors.length, 11, 'each withheld send told its callback')
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

/** ReservedTypes as one open socket uses it, for whole messages. */
function reader (names: string[]) {
  const r = new ReservedTypes(names)
  const out: Outgoing = { fragments: 0 }
  return { holds: (data: unknown, options: unknown): boolean => r.withholds(data, options, out), out, r }
}

t.test('ReservedTypes reads frames as ws sends them', async (t) => {
  const r = reader(['auth.expiring'])
  const frame = '{"type":"auth.expiring"}'
  t.equal(r.holds(frame, undefined), true, 'a string is text')
  t.equal(r.holds(frame, { binary: true }), false, 'a string sent as binary')
  t.equal(r.holds(Buffer.from(frame), undefined), false, 'a Buffer is binary')
  t.equal(r.holds(Buffer.from(frame), { binary: false }), true, 'a Buffer sent as text')
  t.equal(r.holds(Buffer.from(frame), { binary: undefined }), true, 'binary: undefined is text to ws too')
  t.equal(r.holds(new TextEncoder().encode(frame), { binary: false }), true, 'a Uint8Array sent as text')
  t.equal(r.holds(new TextEncoder().encode(frame).buffer, { binary: false }), true, 'an ArrayBuffer sent as text')
  t.equal(r.holds([Buffer.from('{"type":'), Buffer.from('"auth.expiring"}')], { binary: false }), false, 'a list of Buffers: Buffer.from makes zeros of it, as ws sends it')
  t.equal(r.holds(42, undefined), false, 'a number (ws sends its digits, as text)')
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
  const duck = { arrayBuffer: async () => new ArrayBuffer(0), type: '', stream: () => null, [Symbol.toStringTag]: 'Blob' }
  t.equal(r.holds(duck, { binary: false }), true, 'what ws takes for a Blob, sent as text')
  t.equal(r.holds(new File([frame], 'f.json'), { binary: false }), true, 'a File')
  for (const [k, v] of [['arrayBuffer', 1], ['type', 1], ['stream', 1], [Symbol.toStringTag, 'Object']] as const) {
    t.equal(r.holds({ ...duck, [k]: v }, { binary: false }), false, `no Blob to ws without ${String(k)}: Buffer.from refuses it, ws throws`)
  }
  t.equal(r.holds([...Buffer.from(frame)], { binary: false }), true, 'an array of byte values sent as text (Buffer.from reads it, as ws does)')
  t.equal(r.holds({ type: 'Buffer', data: [...Buffer.from(frame)] }, { binary: false }), true, 'a Buffer as JSON (what JSON.parse gives of a JSON.stringify-ed Buffer) sent as text')
  t.equal(r.holds(frame, Object.create({ binary: true })), true, 'an inherited binary option: ws spreads own members only, so the string goes as text')
  t.equal(r.holds(Buffer.from(frame), Object.create({ binary: false })), false, 'and a Buffer as binary')
  t.equal(r.holds(Symbol('x'), { binary: false }), false, 'what ws throws on (Buffer.from refuses it) is nothing sent')
  t.equal(r.holds(null, { binary: false }), false, 'nothing is an empty frame')
})

t.test('ReservedTypes reads what JSON.parse reads: escaped spellings of the key or the name', async (t) => {
  const r = reader(['auth.expiring', 'topic.revoked'])
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
  const r = reader(['auth.expiring'])
  const buf = Buffer.from('{"type":"chat.expiring"}')
  t.equal(r.holds(buf, { binary: false }), false)
  buf.write('auth', 9)
  t.equal(r.holds(buf, { binary: false }), false, 'the same object in the same tick: the verdict kept')
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(r.holds(buf, { binary: false }), true, 'read again in the next tick')
  t.equal(r.holds('{"type":"auth.expiring"}', undefined), true, 'another frame is read')
})

t.test('a byte order mark first: a WHATWG client (undici, Node\'s WebSocket) drops it and reads the object', async (t) => {
  const r = reader(['auth.expiring', 'topic.revoked'])
  const frame = '{"type":"auth.expiring","expiresAt":1,"deadline":2}'
  const bom = Buffer.from([0xef, 0xbb, 0xbf])
  t.equal(r.holds('\uFEFF' + frame, undefined), true, 'a string')
  t.equal(r.holds(Buffer.concat([bom, Buffer.from(frame)]), { binary: false }), true, 'its bytes, in a Buffer')
  t.equal(r.holds(' \uFEFF\n\uFEFF' + frame, undefined), true, 'marks and whitespace in any order (more than a client skips)')
  t.equal(r.holds(Buffer.concat([bom, Buffer.from(' '), bom, Buffer.from(frame)]), { binary: false }), true, 'in a Buffer too')
  t.equal(r.holds('\uFEFF{"\\u0074ype":"topic.revoked"}', undefined), true, 'an escaped spelling after the mark: parsed as the client parses it')
  t.equal(r.holds(Buffer.from('\uFEFF{"\\u0074ype":"topic.revoked"}'), { binary: false }), true, 'its bytes')
  t.equal(r.holds('\uFEFFecho ' + frame, undefined), false, 'a mark, then no object')
  t.equal(r.holds(Buffer.from([0xef, 0xbb, 0x7b]), { binary: false }), false, 'a part of a mark is no mark')
})

t.test('a message sent in fragments is judged whole: one that may open an object is withheld, every fragment', async (t) => {
  const r = reader(['auth.expiring'])
  t.equal(r.holds('{"type":', { fin: false }), true, 'the first fragment of an object')
  t.equal(r.out.fragments, 2)
  t.equal(r.holds('"chat"', { fin: false }), true, 'the next one')
  t.equal(r.holds(Buffer.from('}'), { fin: true }), true, 'the last, though ws takes a Buffer for binary (a continuation is of the first fragment\'s kind)')
  t.equal(r.out.fragments, 0, 'the message is over')
  t.equal(r.holds('{"type":"chat"}', undefined), false, 'the next message is read on its own')

  t.equal(r.holds('  ', { fin: false }), true, 'whitespace only: the object may come next')
  t.equal(r.holds('{"type":"auth.expiring"}', { fin: true }), true)
  t.equal(r.holds(Buffer.from([0xef]), { binary: false, fin: false }), true, 'a Buffer ending in part of a byte order mark')
  t.equal(r.holds(Buffer.from([0xbb, 0xbf]), { fin: true }), true)
  t.equal(r.holds(Buffer.from([0x20, 0xef, 0xbb]), { binary: false, fin: false }), true, 'two bytes of it')
  t.equal(r.holds('{}', { fin: true }), true)
  t.equal(r.holds(new Blob(['{']), { binary: false, fin: false }), true, 'a Blob cannot be read: withheld')
  t.equal(r.holds('}', undefined), true)
  t.equal(r.holds('x', { fin: undefined }), false, 'fin: undefined is a fragment to ws (its options are spread over fin: true)')
  t.equal(r.out.fragments, 1, 'a text message that is no object: sent')
  t.equal(r.holds('{"type":"auth.expiring"}', { fin: true }), false, 'the rest of it is sent: the client reads no object')

  t.equal(r.holds(Buffer.from('{"type":'), { fin: false }), false, 'a binary message\'s first fragment')
  t.equal(r.holds('"auth.expiring"}', { fin: true }), false, 'its continuation is binary too, though a string')
  t.equal(r.holds(Buffer.from([0xef, 0x41]), { binary: false, fin: false }), false, 'a Buffer whose first byte only looks like a mark')
  t.equal(r.holds('"}', undefined), false)
  t.equal(r.holds(Symbol('x'), { fin: false }), false, 'a fragment ws throws on starts nothing')
  t.equal(r.out.fragments, 0)
})

t.test('the verdicts of the last frames are kept for the tick: a relay sending a header and a body to each recipient', async (t) => {
  const r = reader(['auth.expiring'])
  const header = Buffer.from('{"type":"chat.expiring"}')
  const body = Buffer.from('{"type":"chat.expiring","n":2}')
  for (let i = 0; i < 3; i++) {
    t.equal(r.holds(header, { binary: false }), false)
    t.equal(r.holds(body, { binary: false }), false)
    header.write('auth', 9)
    body.write('auth', 9)
  }
  // 30 more frames fill what is kept (32); the 33rd and later are read at each send
  const more = Array.from({ length: 31 }, (_, i) => Buffer.from(`{"type":"chat.expiring","n":${i}}`))
  for (const m of more) t.equal(r.holds(m, { binary: false }), false)
  const last = more[30] as Buffer
  last.write('auth', 9)
  t.equal(r.holds(last, { binary: false }), true, 'past what is kept, a frame is read again')
  t.equal(r.holds(more[29], { binary: false }), false, 'one kept is not')
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(r.holds(header, { binary: false }), true, 'read again in the next tick')
})
