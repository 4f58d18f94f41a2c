import t from 'tap'
import { lateAnswers, until } from '@wsguard/testing'
import { MemoryRevocationStore } from '../src/index.js'
import { harness, open, connect, T0 } from './helpers.js'

t.test('a revocation delivered while the handshake\'s revocation check is answering refuses that handshake', async (t) => {
  const late = lateAnswers(new MemoryRevocationStore())
  const { app, base, token } = await harness(t, { session: { revocations: late.store } })
  const pending = connect(t, `${base}/feed`, token('alice', 3600))
  await until(() => late.asked() === 1, 'the handshake\'s check')
  t.same(await app.wsSessions.revoke({ subject: 'alice' }), { closed: 0 }, 'nothing open yet')
  late.answer() // the store answers "not revoked": what it held when asked
  const r = await pending
  t.same('refused' in r && [r.status, r.body.code], [401, 'WSG_TOKEN_REVOKED'], 'refused before the upgrade, not left open')
  t.equal(app.wsSessions.size, 0)

  const bob = connect(t, `${base}/feed`, token('bob', 3600))
  await until(() => late.asked() === 2, 'bob\'s check')
  late.answer()
  const opened = await bob
  t.equal('refused' in opened, false, 'an earlier revocation of someone else refuses nobody else')
})

t.test('revoking the new token\'s id while its refresh is being checked refuses the refresh', async (t) => {
  const late = lateAnswers(new MemoryRevocationStore())
  const { app, base, token } = await harness(t, { session: { revocations: late.store } })
  const pending = open(t, `${base}/feed`, token('alice', 120, { jti: 'old' }))
  await until(() => late.asked() === 1, 'the handshake\'s check')
  late.answer()
  const c = await pending
  c.send({ type: 'auth.refresh', token: token('alice', 3600, { jti: 'new' }) })
  await until(() => late.asked() === 2, 'the refresh\'s check')
  t.same(await app.wsSessions.revoke({ tokenId: 'new' }), { closed: 0 }, 'the open session holds the old token')
  late.answer()
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_REVOKED' })
  t.same(await c.ask('who'), { id: 'alice', expiresAt: T0 + 120_000 }, 'the old principal stays')

  c.send({ type: 'auth.refresh', token: token('alice', 3600, { jti: 'newer' }) })
  await until(() => late.asked() === 3, 'the next refresh\'s check')
  late.answer()
  t.same(await c.next(), { type: 'auth.refreshed', expiresAt: T0 + 3_600_000 }, 'a revocation of another token id does not refuse it')
})
