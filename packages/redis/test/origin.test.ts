import t from 'tap'
import { openSocket, until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { instance, token } from './app.js'
import { REDIS_URL, testClient, testPrefix } from './helpers.js'

t.test('a session closed on B by a revocation issued on A is audited on B with A\'s name, who asked and why', async (t) => {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const storesA = redisStores({ url: REDIS_URL }, { keyPrefix, instance: 'api-a' })
  const storesB = redisStores({ url: REDIS_URL }, { keyPrefix, instance: 'api-b' })
  t.teardown(() => storesA.close())
  t.teardown(() => storesB.close())
  await Promise.all([storesA.ready(), storesB.ready()])
  const a = await instance(t, storesA, { telemetry: { metrics: false } })
  const b = await instance(t, storesB, { telemetry: { metrics: false } })
  const onB = await openSocket(b.url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  const onA = await openSocket(a.url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  t.same(await a.app.wsSessions.revoke({ subject: 'alice' }, { actor: 'admin:42', reason: 'account locked' }), { closed: 1 })
  t.equal((await onB.closed).code, 4403)
  t.equal((await onA.closed).code, 4403)
  await until(() => b.audit().some((e) => e.event === 'session.closed'), 'B audited the close')
  const origin = { instance: 'api-a', actor: 'admin:42', reason: 'account locked' }
  t.match(b.audit().find((e) => e.event === 'session.revoked'), { by: 'subject', who: { subject: 'alice' }, revocation: origin })
  t.match(b.audit().find((e) => e.event === 'session.closed'), { code: 4403, reason: 'access revoked', revocation: origin })
  await until(() => a.audit().some((e) => e.event === 'session.closed'), 'A audited its own')
  t.match(a.audit().find((e) => e.event === 'session.closed'), { code: 4403, revocation: origin }, 'the same origin where it was issued')
})
