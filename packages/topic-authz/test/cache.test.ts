import t from 'tap'
import fc from 'fast-check'
import type { Principal } from '@wsguard/core'
import { FakeClock } from '@wsguard/testing'
import { DecisionCache } from '../src/cache.js'
import { RuleSet, evaluate, type Evaluation } from '../src/policy.js'
import { compileRules } from '../src/rules.js'
import { holds, principal } from './helpers.js'

const ev = (allow: boolean, until = Number.POSITIVE_INFINITY): Evaluation => ({ decision: { allow }, until })
const now = (): number => 0

t.test('bounded: the oldest entry goes first', async (t) => {
  const p = principal()
  const cache = new DecisionCache(2)
  cache.set(p, 'subscribe', 'a', ev(true))
  cache.set(p, 'publish', 'a', ev(false))
  t.equal(cache.size, 2)
  t.equal(cache.get(p, 'subscribe', 'a', now)?.decision.allow, true)
  t.equal(cache.get(p, 'publish', 'a', now)?.decision.allow, false, 'actions are kept apart')
  cache.set(p, 'subscribe', 'a', ev(false))
  t.equal(cache.size, 2, 'replacing an entry does not grow the cache')
  cache.set(p, 'subscribe', 'b', ev(true))
  t.equal(cache.size, 2)
  t.equal(cache.get(p, 'subscribe', 'a', now), undefined, 'the oldest key was evicted')
  t.equal(cache.get(p, 'publish', 'a', now)?.decision.allow, false)
  t.equal(cache.get(p, 'subscribe', 'b', now)?.decision.allow, true)
})

t.test('another principal object empties it, on get and on set', async (t) => {
  const a = principal()
  const b = principal()
  const cache = new DecisionCache(8)
  cache.set(a, 'subscribe', 'x', ev(true))
  t.equal(cache.get(b, 'subscribe', 'x', now), undefined, 'an equal but different principal is not trusted')
  t.equal(cache.size, 0)
  cache.set(a, 'subscribe', 'x', ev(true))
  cache.set(null, 'subscribe', 'y', ev(false))
  t.equal(cache.size, 1)
  t.equal(cache.get(null, 'subscribe', 'y', now)?.decision.allow, false)
})

t.test('a decision that rests on maxAuthAgeMs is kept only while the sign-in is fresh', async (t) => {
  const clock = new FakeClock(1_000_000)
  const rules = compileRules([{ pattern: 'a', actions: ['subscribe'], maxAuthAgeMs: 10_000 }, { pattern: 'b', actions: ['subscribe'] }], 0, 'p', { actions: new Set(['subscribe']), maxSegments: 16 })
  const sets = [new RuleSet(rules)]
  const p = principal({ claims: { auth_time: 995 } })
  const clockNow = (): number => clock.now()
  const fail = (): void => { throw new Error('no predicate here') }
  const fresh = evaluate(sets, p, 'subscribe', ['a'], clockNow, fail)
  t.equal(fresh.decision.allow, true)
  t.equal(fresh.until, 1_005_000, 'auth_time + maxAuthAgeMs')
  t.equal(evaluate(sets, p, 'subscribe', ['b'], clockNow, fail).until, Number.POSITIVE_INFINITY)
  const cache = new DecisionCache(8)
  cache.set(p, 'subscribe', 'a', fresh)
  clock.set(1_005_000)
  t.equal(cache.get(p, 'subscribe', 'a', clockNow), fresh, 'still fresh at the limit')
  clock.advance(1)
  t.equal(cache.get(p, 'subscribe', 'a', clockNow), undefined, 'gone once stale')
  t.equal(evaluate(sets, p, 'subscribe', ['a'], clockNow, fail).decision.reason, 'stale-auth')
})

t.test('property: it behaves as a bounded FIFO map that each new principal empties', async (t) => {
  const principals = [principal(), principal(), null]
  const op = fc.record({
    set: fc.boolean(),
    who: fc.integer({ min: 0, max: 2 }),
    action: fc.constantFrom('subscribe', 'publish'),
    topic: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    allow: fc.boolean()
  })
  holds(t, fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
    const cache = new DecisionCache(max)
    // The reference: entries in insertion order, the oldest first.
    let model: Array<{ key: string, allow: boolean }> = []
    let owner: Principal | null | undefined
    for (const o of ops) {
      const p = principals[o.who] as Principal | null
      if (p !== owner) { model = []; owner = p }
      const key = `${o.action} ${o.topic}`
      if (o.set) {
        cache.set(p, o.action, o.topic, ev(o.allow))
        const at = model.findIndex((e) => e.key === key)
        if (at >= 0) (model[at] as { allow: boolean }).allow = o.allow
        else {
          if (model.length >= max) model.shift()
          model.push({ key, allow: o.allow })
        }
      } else {
        const got = cache.get(p, o.action, o.topic, now)
        if (got?.decision.allow !== model.find((e) => e.key === key)?.allow) return false
      }
      if (cache.size !== model.length) return false
    }
    return true
  }), 2000)
})
