import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import { appIdentity, channel, ChannelName } from '@wsguard/core'
import { AuditEventSchema } from '../src/index.js'
import { harness, open, until } from './helpers.js'

t.test('a revocation\'s origin is in the audit lines of the sessions it closed', async (t) => {
  const h = await harness(t)
  const alice = await open(t, `${h.base}/feed/acme`, h.token('alice'))
  await h.app.wsSessions.revoke({ subject: 'alice' }, { actor: 'admin:42', reason: 'account locked' })
  t.equal((await alice.closed).code, 4403)
  await until(() => h.audit().some((e) => e.event === 'session.closed'), 'closed audited')
  const revoked = h.audit().find((e) => e.event === 'session.revoked')
  const closed = h.audit().find((e) => e.event === 'session.closed')
  t.match(revoked, { by: 'subject', revocation: { instance: /^[0-9a-f-]{36}$/, actor: 'admin:42', reason: 'account locked' } })
  t.match(closed, { code: 4403, revocation: (revoked as { revocation: object }).revocation })
  for (const e of [revoked, closed]) t.ok(Value.Check(AuditEventSchema, e), `schema: ${String(e?.event)}`)
  const bob = await open(t, `${h.base}/feed/acme`, h.token('bob'))
  bob.ws.close(1000, 'bye')
  await until(() => h.audit().filter((e) => e.event === 'session.closed').length === 2, 'bob audited')
  t.notOk('revocation' in (h.audit().filter((e) => e.event === 'session.closed')[1] as object), 'a close that no revocation caused has none')
})

t.test('a published origin is bounded before it is written: its three fields, each cut', async (t) => {
  const h = await harness(t)
  channel(ChannelName.sessionRevoked).publish({
    app: appIdentity(h.app),
    sessionId: 's-1',
    route: '/feed/:tenant',
    principal: null,
    by: 'subject',
    revocation: { instance: 'i'.repeat(1000), actor: 'a', token: 'eyJ…' } as never
  })
  const line = h.audit().find((e) => e.event === 'session.revoked')
  t.strictSame(line?.revocation, { instance: `${'i'.repeat(128)}…`, actor: 'a' })
  t.ok(Value.Check(AuditEventSchema, line))
})
