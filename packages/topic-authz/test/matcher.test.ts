import t from 'tap'
import fc from 'fast-check'
import { parseTopic } from '../src/topic.js'
import { parsePattern } from '../src/pattern.js'
import { compileRule, compileRules, type CompileContext } from '../src/rules.js'
import { SegmentTrie } from '../src/trie.js'
import { compilePath, valueMatches } from '../src/paths.js'
import { holds, principal } from './helpers.js'
import { referenceDecide, referenceMatches } from './reference.js'
import Fastify from 'fastify'
import { ChannelName, channel, type TopicDecisionMessage } from '@wsguard/core'
import { DecisionCache } from '../src/cache.js'
import { Decider, type RoutePolicy } from '../src/decider.js'
import { validateOptions } from '../src/options.js'
import { RuleSet } from '../src/policy.js'

const limits = { maxTopicLength: 256, maxSegments: 16 }
const ctx: CompileContext = { actions: new Set(['subscribe', 'publish']), maxSegments: 16 }

t.test('parseTopic accepts well-formed topics only', async (t) => {
  t.same(parseTopic('orders.acme.eu', limits), ['orders', 'acme', 'eu'])
  t.same(parseTopic('a', limits), ['a'])
  t.same(parseTopic('user:1.x-y_z@w~v+u=t', limits), ['user:1', 'x-y_z@w~v+u=t'])
  for (const bad of ['', '.', 'a.', '.a', 'a..b', 'a.*', 'a.>', 'a.{b}', 'a b', 'é', 'a/b', 'a\u0000b']) {
    t.equal(parseTopic(bad, limits), undefined, JSON.stringify(bad))
  }
  for (const bad of [undefined, null, 1, {}, ['a'], Symbol('a')]) t.equal(parseTopic(bad, limits), undefined, typeof bad)
  t.equal(parseTopic('a'.repeat(256), limits)?.length, 1, 'at the length bound')
  t.equal(parseTopic('a'.repeat(257), limits), undefined, 'over the length bound')
  t.equal(parseTopic(Array(16).fill('a').join('.'), limits)?.length, 16, 'at the segment bound')
  t.equal(parseTopic(Array(17).fill('a').join('.'), limits), undefined, 'over the segment bound')
})

t.test('parsePattern says what is wrong', async (t) => {
  t.same(parsePattern('orders.{tenant}.*.>', 16), [
    { type: 'literal', value: 'orders' }, { type: 'one', capture: 'tenant' }, { type: 'one' }, { type: 'rest' }
  ])
  t.equal(parsePattern('', 16), 'must be a non-empty string')
  t.equal(parsePattern(3, 16), 'must be a non-empty string')
  t.equal(parsePattern('a.>.b', 16), "uses '>' before its last segment")
  t.equal(parsePattern('a.{1x}', 16), "has a malformed capture '{1x}' (expected {name})")
  t.equal(parsePattern('a.{x', 16), "has a malformed capture '{x' (expected {name})")
  t.equal(parsePattern('{x}.{x}', 16), "captures 'x' twice")
  t.equal(parsePattern('a.b*', 16), "has an invalid segment 'b*'")
  t.equal(parsePattern('a..b', 16), "has an invalid segment ''")
  t.equal(parsePattern('a.b.c', 2), 'has more than 2 segments (maxSegments)')
})

t.test('principal paths read own values only', async (t) => {
  const p = principal({ id: 'bob', tokenId: 'j1', claims: { tenant: 'acme', org: { region: 'eu' }, list: ['a', 2] } })
  t.equal(compilePath('id')?.(p), 'bob')
  t.equal(compilePath('tokenId')?.(p), 'j1')
  t.equal(compilePath('claims.tenant')?.(p), 'acme')
  t.equal(compilePath('claims.org.region')?.(p), 'eu')
  t.equal(compilePath('claims.org.missing')?.(p), undefined)
  t.equal(compilePath('claims.tenant.length')?.(p), undefined, 'no walking into a string')
  t.equal(compilePath('claims.constructor')?.(p), undefined)
  t.equal(compilePath('claims.__proto__')?.(p), undefined)
  for (const bad of ['claims', 'claims.', 'claims..a', 'scopes', 'certificate.subject', 'foo.bar', 7]) {
    t.equal(compilePath(bad), undefined, String(bad))
  }
  t.ok(valueMatches('acme', 'acme'))
  t.notOk(valueMatches('acme', 'globex'))
  t.ok(valueMatches(42, '42'))
  t.ok(valueMatches(-7, '-7'))
  t.ok(valueMatches(Number.MAX_SAFE_INTEGER, '9007199254740991'))
  // JSON.parse reads both 9007199254740993 and 9007199254740992 as 2^53: neither binds.
  t.notOk(valueMatches(JSON.parse('9007199254740993') as number, '9007199254740992'), 'an unsafe integer binds nothing')
  t.notOk(valueMatches(2 ** 53, '9007199254740992'))
  t.notOk(valueMatches(1e21, '1e+21'))
  t.notOk(valueMatches(Number.NaN, 'NaN'))
  t.ok(valueMatches(['a', 2], '2'))
  t.notOk(valueMatches([['x']], 'x'), 'nested arrays do not bind')
  t.notOk(valueMatches({ toString: () => 'x' }, 'x'))
  t.notOk(valueMatches(undefined, 'undefined'))
  t.notOk(valueMatches(true, 'true'))
})

function trieOf (patterns: readonly string[]): SegmentTrie {
  const trie = new SegmentTrie()
  patterns.forEach((pattern, i) => trie.insert(compileRule({ pattern, actions: ['subscribe'] }, i, `p[${i}]`, ctx)))
  return trie
}

function matched (trie: SegmentTrie, topic: string): number[] {
  const out: Array<{ index: number }> = []
  trie.collect(topic.split('.'), out as never)
  return out.map((r) => r.index).sort((a, b) => a - b)
}

t.test('the trie matches the examples of the language', async (t) => {
  const patterns = ['orders.acme.eu', 'orders.*.eu', 'orders.{tenant}.>', 'orders.>', '>', 'status.*', 'a.*.*.d']
  const trie = trieOf(patterns)
  t.equal(trie.size, patterns.length)
  t.same(matched(trie, 'orders.acme.eu'), [0, 1, 2, 3, 4])
  t.same(matched(trie, 'orders.acme'), [3, 4], '> needs one or more segments')
  t.same(matched(trie, 'orders'), [4])
  t.same(matched(trie, 'status.up'), [4, 5])
  t.same(matched(trie, 'status.up.now'), [4], '* is exactly one segment')
  t.same(matched(trie, 'a.b.c.d'), [4, 6])
  t.same(matched(trie, 'a.b.c'), [4])
})

// Small alphabets, so patterns and topics collide often.
const literal = fc.constantFrom('a', 'b', 'c')
const patternArb = fc.tuple(
  fc.array(fc.oneof(literal, fc.constant('*'), fc.constant('{}')), { minLength: 0, maxLength: 5 }),
  fc.boolean()
).filter(([segs, rest]) => segs.length > 0 || rest)
  .map(([segs, rest]) => [...segs.map((s, i) => (s === '{}' ? `{c${i}}` : s)), ...(rest ? ['>'] : [])].join('.'))
const topicArb = fc.array(literal, { minLength: 1, maxLength: 7 }).map((s) => s.join('.'))

t.test('property: the trie and the naive reference agree on random patterns and topics', async (t) => {
  holds(t, fc.property(fc.array(patternArb, { minLength: 1, maxLength: 30 }), fc.array(topicArb, { minLength: 1, maxLength: 20 }), (patterns, topics) => {
    const trie = trieOf(patterns)
    for (const topic of topics) {
      const expected = patterns.map((p, i) => (referenceMatches(p, topic) ? i : -1)).filter((i) => i >= 0)
      const got = matched(trie, topic)
      if (JSON.stringify(got) !== JSON.stringify(expected)) return false
    }
    return true
  }), 500)
})

t.test('property: parseTopic accepts exactly the strings the grammar describes', async (t) => {
  const grammar = /^[A-Za-z0-9_\-:@~+=]+(\.[A-Za-z0-9_\-:@~+=]+)*$/
  holds(t, fc.property(fc.string({ unit: fc.constantFrom('a', 'Z', '9', '.', '*', '>', '{', '}', ' ', '-', 'é', ':'), maxLength: 12 }), (s) => {
    return (parseTopic(s, limits) !== undefined) === grammar.test(s)
  }), 2000)
})

// Whole decisions (pattern parser, trie, rule order, captures, topic checks, the cache)
// against the reference: rules that ask nothing, so the first declared match allows.
const actionArb = fc.constantFrom('subscribe', 'publish')
const ruleArb = fc.record({ pattern: patternArb, actions: fc.uniqueArray(actionArb, { minLength: 1, maxLength: 2 }) })
const askedActionArb = fc.oneof(fc.constantFrom('subscribe', 'publish', 'delete', ''), fc.string({ maxLength: 6 }))
const askedTopicArb = fc.oneof({ weight: 4, arbitrary: topicArb }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) })
const log = Fastify({ logger: false }).log

function deciderFor (rules: ReadonlyArray<{ pattern: string, actions: readonly string[] }>, maxTopicLength = 256): { decider: Decider, policy: RoutePolicy } {
  const config = validateOptions({ maxTopicLength })
  const compiled = compileRules(rules, 0, 'p', { actions: config.actions, maxSegments: config.maxSegments })
  return { decider: new Decider(config, Symbol('app')), policy: { route: undefined, sets: [new RuleSet(compiled)] } }
}

t.test('property: decisions match the reference: allow or deny, the rule, the captures', async (t) => {
  const known = new Set(['subscribe', 'publish'])
  holds(t, fc.property(fc.array(ruleArb, { minLength: 0, maxLength: 12 }), fc.array(fc.tuple(askedActionArb, askedTopicArb), { minLength: 1, maxLength: 20 }), (rules, asks) => {
    const { decider, policy } = deciderFor(rules)
    const cache = new DecisionCache(8)
    for (const [action, topic] of asks) {
      const expected = JSON.stringify(referenceDecide(rules, known, action, topic, limits))
      // Asked twice: the second answer may come from the cache and must be the same.
      for (let i = 0; i < 2; i++) {
        if (JSON.stringify(decider.decide(policy, null, action, topic, cache, log)) !== expected) return false
      }
    }
    return true
  }), 1000)
})

t.test('property: nothing throws, whatever the topic or action', async (t) => {
  const seen: TopicDecisionMessage[] = []
  const listener = (m: TopicDecisionMessage): void => { seen.push(m) }
  channel(ChannelName.topicDecision).subscribe(listener)
  t.teardown(() => channel(ChannelName.topicDecision).unsubscribe(listener))
  const { decider, policy } = deciderFor([{ pattern: 'a.{x}.>', actions: ['subscribe'] }, { pattern: '>', actions: ['publish'] }], 32)
  const cache = new DecisionCache(4)
  holds(t, fc.property(fc.oneof(fc.string(), fc.anything()), fc.oneof(fc.string({ unit: 'binary' }), fc.anything()), (action, topic) => {
    const d = decider.decide(policy, null, action as string, topic, cache, log)
    const m = seen.at(-1) as TopicDecisionMessage
    return typeof d.allow === 'boolean' && (d.allow || typeof d.reason === 'string') &&
      ['subscribe', 'publish', '[unknown]'].includes(m.action) && m.topic.length <= 32
  }), 2000)
})
