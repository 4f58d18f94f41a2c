import t from 'tap'
import { FakeClock } from '@wsguard/testing'
import type { Principal, TicketRecord } from '@wsguard/core'
import { DEFAULT_TICKET_MAX_ENTRIES, MemoryTicketStore } from '../src/index.js'

const principal = { id: 'alice', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's' } as Principal
const record = (expiresAt: number): TicketRecord => ({ principal, path: '/feed', origin: null, expiresAt })

t.test('a ticket is consumed once; its record comes back whole', async (t) => {
  const clock = new FakeClock(1_000)
  const store = new MemoryTicketStore({ clock })
  store.issue('a', record(31_000), 30_000)
  t.same(store.consume('a'), record(31_000))
  t.equal(store.consume('a'), undefined, 'used')
  t.equal(store.consume('never'), undefined)
  t.equal(store.size, 0)
})

t.test('never kept past its TTL, even when the record says later', async (t) => {
  const clock = new FakeClock(1_000)
  const store = new MemoryTicketStore({ clock })
  store.issue('a', record(999_999), 5_000)
  t.equal(store.consume('a')?.expiresAt, 6_000)
})

t.test('bounded: a full store sweeps what expired, and refuses (throws) when nothing has', async (t) => {
  const clock = new FakeClock(0)
  const store = new MemoryTicketStore({ clock, maxEntries: 2 })
  store.issue('a', record(1_000), 1_000)
  store.issue('b', record(2_000), 2_000)
  t.throws(() => { store.issue('c', record(3_000), 3_000) }, { message: /2 tickets waiting \(maxEntries\); refusing to issue another/ })
  t.equal(store.size, 2, 'nothing was forgotten to make room')
  clock.advance(1_000)
  store.issue('c', record(4_000), 3_000)
  t.equal(store.size, 2, 'the expired one was swept')
  t.equal(store.consume('a'), undefined)
  t.equal(store.consume('b')?.expiresAt, 2_000)
  clock.advance(5_000)
  store.issue('d', record(99_000), 1_000)
  store.issue('e', record(99_000), 1_000)
  t.equal(store.size, 2, 'c expired and was swept when the store was full again')
  t.equal(DEFAULT_TICKET_MAX_ENTRIES, 10_000)
})

t.test('options are checked', async (t) => {
  t.throws(() => new MemoryTicketStore({ maxEntries: 0 }), { code: 'WSG_INVALID_OPTION', message: /MemoryTicketStore: opts\.maxEntries must be an integer, 1 or more/ })
  t.throws(() => new MemoryTicketStore({ clock: {} as never }), { code: 'WSG_INVALID_OPTION', message: /MemoryTicketStore: opts\.clock must be an object with a now\(\) method/ })
  t.equal(new MemoryTicketStore().size, 0, 'the system clock by default')
})
