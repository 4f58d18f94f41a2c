import t, { type Test } from 'tap'
import fc from 'fast-check'
import { createHmac, randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { ChannelName, channel, type TopicDecisionMessage } from '@wsguard/core'
import { Decider } from '../src/decider.js'
import { validateOptions } from '../src/options.js'
import { RuleSet } from '../src/policy.js'
import { LONG_BASE64URL_RUN, REDACTED_TOPIC, looksLikeToken, publishedTopic } from '../src/published.js'

// The redaction used to catch only a topic that began with `eyJ`: a token after a segment
// (`orders.<jws>`), glued to a prefix, or whose header JSON starts with whitespace was
// published, and reached telemetry's audit log.

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url')
const log = Fastify().log
const policy = { route: undefined, sets: [new RuleSet([])] }

function publisher (t: Test, maxTopicLength: number): (topic: string) => string {
  const decider = new Decider(validateOptions({ maxTopicLength }), Symbol('app'))
  let last: TopicDecisionMessage | undefined
  const listener = (m: TopicDecisionMessage): void => { last = m }
  channel(ChannelName.topicDecision).subscribe(listener)
  t.teardown(() => channel(ChannelName.topicDecision).unsubscribe(listener))
  return (topic) => {
    decider.decide(policy, null, 'subscribe', topic, undefined, log)
    return (last as TopicDecisionMessage).topic
  }
}

const sig = b64(randomBytes(32))
const hs = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64('{"sub":"alice"}')}.${sig}`
const spaced = `${b64(' {\n  "alg": "ES256"\n}')}.${b64('{"sub":"alice"}')}.${b64(randomBytes(64))}`

t.test('a token anywhere in the topic is redacted; ordinary topics are not', async (t) => {
  const publish = publisher(t, 256)
  const redacted: Array<[string, string]> = [
    ['at the start', hs],
    ['after segments', `orders.acme.${hs}`],
    ['between segments', `orders.${hs}.eu`],
    ['glued to a prefix in its segment', `orders.session-${hs}`],
    ['after a separator inside the segment', `orders.token=${hs}`],
    ['a header JSON that starts with whitespace (not eyJ)', `orders.${spaced}`],
    ['a tab before the brace', `${b64('\t{"alg":"none"}')}.${b64('{}')}.`],
    ['whitespace between the brace and the first key', `${b64('{ \r\n"alg":"HS256"}')}.e30.${sig}`],
    ['cut by maxTopicLength inside the signature', `orders.${hs}${'x'.repeat(300)}`],
    ['not a well-formed topic', `a b.${hs}`],
    [`a base64url run of ${LONG_BASE64URL_RUN} characters (an opaque token)`, `keys.${'A'.repeat(LONG_BASE64URL_RUN)}`],
    ['a header and the start of its payload, cut there', `${'x.'.repeat(100)}${hs}`.slice(0, 240)]
  ]
  for (const [name, topic] of redacted) t.equal(publish(topic), REDACTED_TOPIC, name)
  t.notOk(hs.startsWith(spaced.slice(0, 3)), 'the spaced header does not start like eyJ')
  const kept = [
    'orders.acme.eu',
    'exchange.rates.eu',
    'eyes.only',
    'e30.e30',
    'users.123e4567-e89b-12d3-a456-426614174000.inbox',
    `keys.${'A'.repeat(LONG_BASE64URL_RUN - 1)}`,
    'a.'.repeat(100) + 'b'
  ]
  for (const topic of kept) t.equal(publish(topic), topic, topic)
  t.equal(publish('x.'.repeat(150)), 'x.'.repeat(128), 'cut to maxTopicLength, not redacted')
  t.equal(publish(`${'x.'.repeat(128)}${hs}`), 'x.'.repeat(128), 'a token that starts past the published part cannot leak')
  t.equal(looksLikeToken(b64(' '.repeat(20)) + '.x'), false, 'whitespace alone is no header')
  t.equal(looksLikeToken(b64(`{${' '.repeat(20)}`) + '.x'), false, 'nor a brace and whitespace')
  t.equal(looksLikeToken('ey.x'), false, 'too short to say')
})

// What a client can send that is a token: any header JSON (its formatting too), any payload,
// a signature of any JOSE size.
const space = fc.constantFrom(' ', '\t', '\n', '\r')
const json = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
const headerJson = fc.tuple(fc.constantFrom('HS256', 'ES256', 'RS256', 'EdDSA', 'PS512'), json, fc.constantFrom(undefined, 1, 2, '\t'), fc.array(space, { maxLength: 3 }))
  .map(([alg, extra, indent, lead]) => lead.join('') + JSON.stringify({ ...extra, alg }, null, indent))
const signature = fc.oneof(
  fc.constant('hmac'),
  fc.constantFrom(64, 256, 512).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => b64(Buffer.from(b))))
)
const segment = fc.stringMatching(/^[A-Za-z0-9_\-:@~+=]{1,12}$/)
const placement = fc.record({
  before: fc.oneof(fc.array(segment, { maxLength: 6 }).map((s) => s.map((x) => `${x}.`).join('')), fc.string({ maxLength: 30 })),
  glue: fc.constantFrom('', 'token=', 'session-', 'x_', 'auth:', 'Bearer', 'a', 'ab'),
  after: fc.array(segment, { maxLength: 3 }).map((s) => s.map((x) => `.${x}`).join('')),
  max: fc.constantFrom(32, 64, 256, 1024)
})

t.test('property: a compact JWS anywhere in a topic never has its payload or signature published', async (t) => {
  const publishers = new Map([32, 64, 256, 1024].map((max) => [max, publisher(t, max)]))
  const details = fc.check(fc.property(headerJson, json, signature, placement, (header, payload, s, where) => {
    const input = `${b64(header)}.${b64(JSON.stringify(payload))}`
    const sigPart = s === 'hmac' ? createHmac('sha256', 'k').update(input).digest('base64url') : s
    const jws = `${input}.${sigPart}`
    const lead = where.before + where.glue
    const topic = lead + jws + where.after
    const payloadAt = lead.length + b64(header).length + 1
    const published = (publishers.get(where.max) as (topic: string) => string)(topic)
    if (published.includes(sigPart)) return false
    // Either redacted, or a prefix of the topic that ends before the payload begins.
    return published === REDACTED_TOPIC || (topic.startsWith(published) && published.length <= payloadAt)
  }), { numRuns: 3000 })
  t.equal(details.failed, false, fc.defaultReportMessage(details) ?? '')
  t.equal(details.numRuns, 3000)
})

t.test('property: publishing never throws and never exceeds the bound, whatever the text', async (t) => {
  const details = fc.check(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 1, max: 300 }), (text, max) => {
    const out = publishedTopic(text, max)
    return out === REDACTED_TOPIC || (out.length <= max && text.startsWith(out))
  }), { numRuns: 2000 })
  t.equal(details.failed, false, fc.defaultReportMessage(details) ?? '')
})
