import t from 'tap'
import { connect as netConnect, type Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Principal, PrincipalRef, SessionInfo } from '@wsguard/core'
import { ChannelName } from '@wsguard/core'
import { lateAnswers, until } from '@wsguard/testing'
import { HOLD_MS, principalKeyOf, SessionCap } from '../src/cap.js'
import { MemoryRevocationStore, MemorySessionRegistry } from '../src/index.js'
import { connect, harness, listen, open, type Refused } from './helpers.js'

const principal = (id: string, issuer?: string): Principal =>
  ({ id, kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's', ...(issuer !== undefined ? { issuer } : {}) })

t.test('the session over maxSessionsPerPrincipal is refused 429 before the upgrade, with Retry-After', async (t) => {
  const rejected = listen<{ code: string, detail?: string }>(t, ChannelName.handshakeRejected)
  const h = await harness(t, { session: { maxSessionsPerPrincipal: 2 } })
  const alice = h.token('alice', 600)
  const first = await open(t, `${h.base}/feed`, alice)
  await open(t, `${h.base}/feed`, alice)
  const third = await connect(t, `${h.base}/feed`, alice) as Refused
  t.equal(third.refused, true)
  t.equal(third.status, 429)
  t.equal(third.body.code, 'WSG_RATE_LIMITED')
  t.equal(third.headers['retry-after'], '30')
  t.equal(rejected.seen.filter((m) => m.detail === 'session-cap').length, 1)
  t.equal(h.app.wsSessions.size, 2)

  // another principal is counted apart
  await open(t, `${h.base}/feed`, h.token('bob', 600))
  // a place freed by a close is taken again
  first.ws.close()
  await first.closed
  await open(t, `${h.base}/feed`, alice)
  t.equal(h.app.wsSessions.size, 3)
})

t.test('handshakes of one principal racing on one instance cannot all pass, with a registry that answers later', async (t) => {
  // An async count (a shared registry's) lets every handshake be checked before any socket opens.
  const memory = new MemorySessionRegistry()
  const asked: Array<() => void> = []
  const registry = {
    add: (i: SessionInfo) => memory.add(i),
    update: (i: SessionInfo) => memory.update(i),
    remove: (id: string) => memory.remove(id),
    list: () => memory.list(),
    // answers once all six handshakes have asked: each is checked before any socket opens
    count: (p: PrincipalRef) => new Promise<number>((resolve) => {
      asked.push(() => resolve(memory.list({ subject: p.subject }).length))
      if (asked.length === 6) for (const answer of asked) answer()
    })
  }
  const h = await harness(t, { session: { maxSessionsPerPrincipal: 2, maxSessionsRetryAfterMs: 1_500, registry } })
  const alice = h.token('alice', 600)
  const all = await Promise.all(Array.from({ length: 6 }, () => connect(t, `${h.base}/feed`, alice)))
  const refused = all.filter((c) => 'refused' in c) as Refused[]
  t.equal(refused.length, 4)
  t.same(refused.map((r) => [r.status, r.body.code, r.headers['retry-after']]), Array(4).fill([429, 'WSG_RATE_LIMITED', '2']))
  t.equal(h.app.wsSessions.size, 2)
})

t.test('a handshake refused by a later hook gives its place back', async (t) => {
  const h = await harness(t, {
    session: { maxSessionsPerPrincipal: 1 },
    routes: (app: FastifyInstance) => {
      const picky = (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
        if (request.headers['x-refuse'] !== undefined) reply.code(403).send({ code: 'NOPE' })
        else done()
      }
      app.get('/picky', { websocket: true, preHandler: picky }, () => {})
      app.get('/picky-public', { websocket: true, config: { auth: false }, preHandler: picky }, () => {})
    }
  })
  const alice = h.token('alice', 600)
  const refused = await connect(t, `${h.base}/picky`, alice, { headers: { 'x-refuse': '1' } }) as Refused
  t.equal(refused.status, 403)
  t.equal((await connect(t, `${h.base}/picky-public`, undefined, { headers: { 'x-refuse': '1' } }) as Refused).status, 403, 'a route without a principal held nothing')
  const c = await connect(t, `${h.base}/picky`, alice)
  t.notOk('refused' in c, 'the refused handshake held no place')
})

/** Sends alice's upgrade on a raw connection, to be cut off before the 101. */
async function rawUpgrade (base: string, path: string, token: string): Promise<Socket> {
  const { port } = new URL(base)
  const sock = netConnect(Number(port), '127.0.0.1')
  await new Promise<void>((resolve) => sock.once('connect', resolve))
  sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${token}\r\n\r\n`)
  return sock
}

t.test('a client gone before its 101 gives its place back at once, whether it left during the check or after it', async (t) => {
  const late = lateAnswers(new MemoryRevocationStore())
  let release: (() => void) | undefined
  let serverSide: Socket | undefined
  let slowSide: Socket | undefined
  const h = await harness(t, {
    session: { maxSessionsPerPrincipal: 1, revocations: late.store },
    before: async (app) => {
      app.addHook('onRequest', (request, _reply, done) => { serverSide = request.raw.socket; done() })
      // a connection the server already let go of (a timeout of its own, say) before the check
      app.addHook('preValidation', (request, _reply, done) => { if (request.headers['x-drop'] !== undefined) request.raw.socket.destroy(); done() })
    },
    routes: (app: FastifyInstance) => {
      // a later hook of the app's that takes its time
      const slow = async (request: FastifyRequest): Promise<void> => {
        // cut off on the server's side after the check (a hook of its own, a timeout)
        if (request.headers['x-cut'] !== undefined) {
          request.raw.socket.destroy()
          return
        }
        slowSide = request.raw.socket
        await new Promise<void>((resolve) => { release = resolve })
      }
      app.get('/slow', { websocket: true, preHandler: slow }, () => {})
    }
  })
  const alice = h.token('alice', 600)
  let checks = 0
  const answered = (): Promise<void> => { const n = ++checks; return until(() => late.asked() === n, `check ${n} under way`).then(() => { late.answer() }) }
  /** One handshake of alice's, its check answered: 'opened' (then closed again), its status, or 'cut off'. */
  const attempt = async (path: string, headers: Record<string, string> = {}): Promise<string | number> => {
    const c = connect(t, `${h.base}${path}`, alice, { headers })
    await answered()
    const outcome = await c.catch(() => 'cut off' as const)
    if (outcome === 'cut off') return outcome
    if ('refused' in outcome) return outcome.status
    outcome.ws.close()
    await outcome.closed
    return 'opened'
  }

  // The client leaves while the revocation check is under way (the server notices when it
  // writes its 101); the place is free again once the server's side has closed.
  const during = await rawUpgrade(h.base, '/feed', alice)
  checks = 1
  await until(() => late.asked() === 1, 'the check is under way')
  const reset = new Promise((resolve) => (serverSide as Socket).once('close', resolve))
  during.destroy()
  late.answer()
  await reset
  t.equal(await attempt('/feed'), 'opened', 'the place was given back, not held for HOLD_MS')

  // Already closed on the server's side when the check admits it: no place kept.
  t.equal(await attempt('/feed', { 'x-drop': '1' }), 'cut off')
  t.equal(await attempt('/feed'), 'opened', 'nothing held for it')

  // Closed on the server's side after the check, before the upgrade: no 'connection' and no
  // response follow; the place is given back when its connection closes.
  t.equal(await attempt('/slow', { 'x-cut': '1' }), 'cut off')
  t.equal(await attempt('/feed'), 'opened', 'its place was given back when its connection closed')

  // Waiting in a later hook, the handshake holds its place.
  const waiting = await rawUpgrade(h.base, '/slow', alice)
  await answered()
  await until(() => release !== undefined, 'the later hook is waiting')
  t.equal(await attempt('/feed'), 429, 'while it waits, it holds the place')
  const gone = new Promise((resolve) => (slowSide as Socket).once('close', resolve))
  waiting.destroy()
  ;(release as () => void)()
  await gone
  t.equal(await attempt('/feed'), 'opened', 'and gives it back once its connection has closed')
})

t.test('the cap counts through the registry given: count() when it has one, else list()', async (t) => {
  const counted: PrincipalRef[] = []
  let answer: number | Error = 3
  const registry = {
    add () {},
    update () {},
    remove () {},
    list: () => [],
    count: async (p: PrincipalRef) => {
      counted.push(p)
      if (answer instanceof Error) throw answer
      return answer
    }
  }
  const h = await harness(t, { session: { maxSessionsPerPrincipal: 3, registry } })
  const refused = await connect(t, `${h.base}/feed`, h.token('alice', 600)) as Refused
  t.equal(refused.status, 429)
  t.same(counted, [{ subject: 'alice', issuer: 'https://idp.test' }])
  answer = 2
  const c = await connect(t, `${h.base}/feed`, h.token('alice', 600))
  t.notOk('refused' in c)
  answer = new Error('registry down')
  const down = await connect(t, `${h.base}/feed`, h.token('alice', 600)) as Refused
  t.equal(down.status, 503)
  t.equal(down.body.code, 'WSG_UNAVAILABLE')
  t.equal(down.headers['retry-after'], '5', 'a store that cannot answer: come back in 5 s')
})

t.test('a registry count that never answers is bounded by revocationTimeoutMs', async (t) => {
  const registry = { add () {}, update () {}, remove () {}, list: () => [], count: () => new Promise<number>(() => {}) }
  const h = await harness(t, { session: { maxSessionsPerPrincipal: 3, registry, revocationTimeoutMs: 50 } })
  const before = h.clock.pendingTimers
  const pending = connect(t, `${h.base}/feed`, h.token('alice', 600))
  await until(() => h.clock.pendingTimers > before, 'the bound armed')
  h.clock.advance(50)
  const down = await pending as Refused
  t.equal(down.status, 503)
  t.equal(down.body.code, 'WSG_UNAVAILABLE')
})

t.test('a registry whose count throws at once is refused 503', async (t) => {
  const registry = { add () {}, update () {}, remove () {}, list: () => [], count: (): number => { throw new Error('no') } }
  const h = await harness(t, { session: { maxSessionsPerPrincipal: 3, registry } })
  const down = await connect(t, `${h.base}/feed`, h.token('alice', 600)) as Refused
  t.equal(down.status, 503)
})

t.test('without count(), the cap counts list({ subject }) of the same issuer, sync or async', async (t) => {
  const info = (id: string, p: Principal): SessionInfo => ({ id, route: '/feed', remoteAddress: '', principal: p, openedAt: 0, deadline: 1, instance: 'x' })
  const memory = new MemorySessionRegistry()
  memory.add(info('1', principal('alice', 'https://idp.test')))
  memory.add(info('2', principal('alice', 'https://other.test')))
  memory.add(info('3', principal('alice')))
  const sync = new SessionCap(5, memory)
  t.equal(sync.check(principal('alice', 'https://idp.test')).open, 1)
  t.equal(sync.check(principal('alice')).open, 1)
  const async = new SessionCap(5, { ...memory, add () {}, update () {}, remove () {}, list: async (f) => memory.list(f) })
  t.equal(await async.check(principal('alice', 'https://other.test')).open, 1)
})

t.test('a held place whose socket never opens is given back after HOLD_MS', async (t) => {
  const cap = new SessionCap(1, undefined)
  const alice = principal('alice', 'https://idp.test')
  const token = {}
  t.equal(cap.admit(cap.check(alice), 0, token, 1_000), true)
  t.equal(cap.admit(cap.check(alice), 0, {}, 1_000 + HOLD_MS - 1), false)
  t.equal(cap.admit(cap.check(alice), 0, {}, 1_000 + HOLD_MS), true, 'the place was given back')
})

t.test('places are released once, and sessions counted as they open and end', async (t) => {
  const cap = new SessionCap(1, undefined)
  const alice = principal('alice', 'https://idp.test')
  const token = {}
  t.equal(cap.admit(cap.check(alice), 0, token, 0), true)
  cap.release(alice, token)
  cap.release(alice, token)
  cap.release(principal('bob'), token)
  t.equal(cap.admit(cap.check(alice), 0, {}, 0), true)
  cap.opened(alice)
  cap.opened(alice)
  t.equal(cap.local(alice), 2)
  cap.ended(alice)
  t.equal(cap.local(alice), 1)
  cap.ended(alice)
  t.equal(cap.local(alice), 0)
})

t.test('an asynchronous count adds the sessions opened here while it was asked', async (t) => {
  const answers: Array<(n: number) => void> = []
  const registry = { add () {}, update () {}, remove () {}, list: () => [], count: () => new Promise<number>((resolve) => { answers.push(resolve) }) }
  const cap = new SessionCap(2, registry)
  const alice = principal('alice', 'https://idp.test')
  const first = cap.check(alice)
  const second = cap.check(alice)
  cap.opened(alice)
  for (const answer of answers) answer(0)
  t.equal(cap.admit(first, await first.open, {}, 0), true, '0 counted + 1 opened meanwhile')
  cap.opened(alice)
  t.equal(cap.admit(second, 0, {}, 0), false, '0 counted + 2 opened meanwhile + 1 held')
  const third = cap.check(alice)
  cap.drop(third)
  const fourth = cap.check(alice)
  t.equal(cap.admit(fourth, 0, {}, HOLD_MS), true, 'a dropped check leaves nothing behind; the held place expired')
})

t.test('principal keys tell issuer and subject apart', async (t) => {
  t.not(principalKeyOf(principal('b', 'a')), principalKeyOf(principal('', 'ab')))
  t.not(principalKeyOf(principal('x')), principalKeyOf(principal('x', 'i')))
  t.equal(principalKeyOf(principal('x', 'i')), principalKeyOf(principal('x', 'i')))
})
