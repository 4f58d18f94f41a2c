import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import type { Principal, Revocation } from '@wsguard/core'
import { FakeClock, captureLogs, connectSocket } from '@wsguard/testing'
import { sessionExpiry, MemoryRevocationStore } from '../src/index.js'
import { T0 } from './helpers.js'

// The 'revoked' event was emitted before the session closed: an app listener that threw (its
// broker's unsubscribe failing, say) left the revoked socket open, and the exception, out of
// wsSessions.revoke's loop, kept the revocation from the other sessions and from the store.

const principal = (sub: string): Principal => Object.freeze({ id: sub, issuer: 'https://idp.example', kind: 'user', method: 'jwt', scopes: [], claims: { iat: T0 / 1000 - 60 }, sessionId: `${sub}-1`, expiresAt: T0 + 600_000 })

t.test('a \'revoked\' listener that throws: every selected session is closed 4403 all the same, and the revocation recorded', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'error', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  app.decorateRequest('principal', null as never)
  app.addHook('onRequest', async (req) => { req.principal = principal('alice') })
  await app.register(sessionExpiry, { clock: new FakeClock(T0), heartbeatMs: 0, idleTimeoutMs: 0, refresh: false })
  app.get('/ws', { websocket: true }, (socket, req) => {
    req.wsSession.on('revoked', () => { throw new Error('the broker is down') })
    socket.send('opened')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
  const sockets = []
  for (let i = 0; i < 2; i++) {
    const c = await connectSocket(url, { teardown: (fn) => { t.teardown(fn) } })
    if ('refused' in c) throw new Error('not opened')
    t.equal(await c.next(), 'opened')
    sockets.push(c)
  }
  t.same(await app.wsSessions.revoke({ subject: 'alice' }), { closed: 2 })
  for (const c of sockets) t.same(await c.closed, { code: 4403, reason: 'access revoked' })
  const again = await connectSocket(url, { teardown: (fn) => { t.teardown(fn) } })
  t.equal('refused' in again && again.status, 401, 'recorded: the same principal is refused')
  const errors = logs.lines.filter((l) => l.includes('an app listener of \'revoked\' threw'))
  t.equal(errors.length, 2, 'each listener\'s error is logged')
  t.match(JSON.parse(errors[0] as string), { err: { message: 'the broker is down' } })
})

t.test('MemoryRevocationStore: a subscriber that throws does not keep the revocation from the next one', async (t) => {
  const store = new MemoryRevocationStore()
  const boom = new Error('subscriber bug')
  const heard: Revocation[] = []
  store.subscribe(() => { throw boom })
  store.subscribe((r) => { heard.push(r) })
  const deferred: Array<() => void> = []
  const ticks = t.capture(process, 'nextTick', (fn: () => void) => { deferred.push(fn) })
  const revocation: Revocation = { filter: { subject: 'alice' }, at: T0, until: T0 + 60_000 }
  const done = store.revoke(revocation)
  ticks.restore()
  await done
  t.same(heard, [revocation])
  t.equal(store.isRevoked(principal('alice'), T0), true)
  t.equal(deferred.length, 1, 'the error is rethrown on the next tick, as diagnostics_channel does')
  t.throws(() => { (deferred[0] as () => void)() }, boom)
})
