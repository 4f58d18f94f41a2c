// Z19: stores are typed to answer a Promise, but a JavaScript app's store may answer any
// thenable (a Bluebird promise, a promise of another realm). session-expiry told answers apart
// with `instanceof Promise`, so a thenable was read as a value: a registry's count became text
// in the cap's sum (`total >= max` false: the cap never held), and a revocation store's answer
// was an object, read as "revoked" (every handshake 401).
import t from 'tap'
import type { PrincipalRef, Revocation, SessionInfo, SessionFilter } from '@wsguard/core'
import { MemoryRevocationStore, MemorySessionRegistry } from '../src/index.js'
import { connect, harness, open } from './helpers.js'

/** A thenable that is no native promise: what `instanceof Promise` does not see. */
function thenable<T> (value: T | Promise<T>): PromiseLike<T> {
  return { then: (ok, fail) => Promise.resolve(value).then(ok, fail) }
}

t.test('a registry that answers with thenables: the cap holds', async (t) => {
  const thenableRegistry = (memory: MemorySessionRegistry) => ({
    add: (info: SessionInfo) => thenable(memory.add(info)),
    update: (info: SessionInfo) => thenable(memory.update(info)),
    remove: (id: string) => thenable(memory.remove(id)),
    list: (filter?: SessionFilter) => thenable(memory.list(filter)),
    count: (ref: PrincipalRef) => thenable(memory.list({ subject: ref.subject }).length)
  })
  // Without count(), the cap lists the subject's sessions: that answer is a thenable too.
  const registry = thenableRegistry(new MemorySessionRegistry())
  const listing = { ...thenableRegistry(new MemorySessionRegistry()), count: undefined }
  for (const [name, given] of [['count()', registry], ['list()', listing]] as const) {
    const h = await harness(t, { session: { maxSessionsPerPrincipal: 1, registry: given as never } })
    const alice = h.token('alice', 600)
    await open(t, `${h.base}/feed`, alice)
    const second = await connect(t, `${h.base}/feed`, alice)
    t.same('refused' in second && [second.status, second.body.code], [429, 'WSG_RATE_LIMITED'], `${name}: the second session is over the cap of one`)
    t.equal(h.app.wsSessions.size, 1)
  }
})

t.test('a revocation store that answers with thenables: not revoked opens, revoked is refused', async (t) => {
  const memory = new MemoryRevocationStore()
  const revocations = {
    revoke: (r: Revocation) => memory.revoke(r),
    isRevoked: (...args: Parameters<MemoryRevocationStore['isRevoked']>) => thenable(memory.isRevoked(...args)),
    subscribe: (listener: (r: Revocation) => void) => memory.subscribe(listener)
  }
  const h = await harness(t, { session: { revocations: revocations as never } })
  const c = await connect(t, `${h.base}/feed`, h.token('alice', 600, { jti: 'a-1' }))
  t.equal('refused' in c, false, 'a thenable answering false: the socket opens')
  if (!('refused' in c)) c.ws.close()
  await h.app.wsSessions.revoke({ subject: 'bob' })
  h.clock.advance(1_000)
  const bob = await connect(t, `${h.base}/feed`, h.token('bob', 600, { iat: Math.floor((h.clock.now() - 5_000) / 1000) }))
  t.same('refused' in bob && [bob.status, bob.body.code], [401, 'WSG_TOKEN_REVOKED'], 'a thenable answering true: refused')
})

t.test('a thenable whose then getter throws is a failed store: 503', async (t) => {
  const revocations = new MemoryRevocationStore()
  const throwing = Object.defineProperty({}, 'then', { get () { throw new Error('then getter') } })
  const h = await harness(t, { session: { revocations: { revoke: (r: Revocation) => revocations.revoke(r), isRevoked: () => throwing, subscribe: (l: (r: Revocation) => void) => revocations.subscribe(l) } as never } })
  const c = await connect(t, `${h.base}/feed`, h.token('alice', 600))
  t.same('refused' in c && [c.status, c.body.code], [503, 'WSG_UNAVAILABLE'])
})
