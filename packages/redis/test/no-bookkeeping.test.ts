// Session 21's third review left this window untold: after a total loss (FLUSHALL, a restart
// without persistence) the meta hash is gone with the records, so an instance that loads before
// another writes them back cannot tell the loss from a new deployment, and accepted tokens
// revoked before without a word. It still cannot tell (nothing left in Redis can), but it says so.
import t from 'tap'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, deleteKeys, principal, revocation, testClient, testPrefix } from './helpers.js'

const NO_BOOKKEEPING = /Redis holds no revocation bookkeeping under this prefix: a new deployment, or Redis lost every key/

function warnings (): { warned: string[], logger: { warn: (o: unknown, m: string) => void, info: () => void } } {
  const warned: string[] = []
  return { warned, logger: { warn (_obj, msg) { warned.push(msg) }, info () {} } }
}

t.test('a new deployment: the first instance to load says it found no bookkeeping, the next does not', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const first = warnings()
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, logger: first.logger })
  t.teardown(() => a.close())
  await a.ready()
  t.equal(first.warned.filter((m) => NO_BOOKKEEPING.test(m)).length, 1, 'the first instance said so, once')
  t.ok(first.warned[0]?.includes('each checks within 5000 ms'), 'naming how soon a holder writes back')
  t.not(await client.hget(`{${keyPrefix}}revoked:meta`, 'born'), null, 'it left the meta hash')
  const second = warnings()
  const b = redisStores({ url: REDIS_URL }, { keyPrefix, logger: second.logger })
  t.teardown(() => b.close())
  await b.ready()
  t.same(second.warned, [], 'the next instance has nothing to say')
})

t.test('a total loss: the instance that loads in between says so; the one holding the records writes them back instead', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const holder = warnings()
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 1_500, logger: holder.logger })
  t.teardown(() => a.close())
  await a.ready()
  await a.revocations.revoke(revocation({ subject: 'alice' }, Date.now() + 600_000))
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 1, 'alice recorded')
  holder.warned.length = 0

  await deleteKeys(client, keyPrefix) // FLUSHALL, or a restart without persistence
  const newcomer = warnings()
  const c = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 50, logger: newcomer.logger })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), false, 'C loaded while alice was lost (it cannot tell)')
  t.ok(newcomer.warned.some((m) => NO_BOOKKEEPING.test(m)), 'and said so')

  await until(() => c.revocations.isRevoked(principal('alice'), Date.now()), 'C refuses alice once A has written her back', { timeoutMs: 10_000 })
  t.ok(holder.warned.some((m) => /this instance wrote back those still in force/.test(m)), 'A says it wrote back')
  t.notOk(holder.warned.some((m) => NO_BOOKKEEPING.test(m)), 'and not that it found nothing')
})
