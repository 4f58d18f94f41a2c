import t from 'tap'
import fc from 'fast-check'
import type { StandardClaims } from '@wsguard/core'
import { readScopes } from '../src/claims.js'
import { findCredential, type CarrierResult } from '../src/carriers.js'
import { validateOptions, type Carrier } from '../src/options.js'

const RUNS = { numRuns: 2000 }

// --- the scope reader --------------------------------------------------------------------

/** The rule, written the obvious way: each claim a string of space-separated scopes, or an array of scope strings. */
function referenceScopes (claims: Record<string, unknown>): string[] | undefined {
  const out: string[] = []
  for (const name of ['scope', 'scp']) {
    const value = claims[name]
    if (value === undefined) continue
    if (typeof value === 'string') {
      for (const s of value.split(/ +/)) if (s !== '' && !out.includes(s)) out.push(s)
    } else if (Array.isArray(value)) {
      for (const s of value) {
        if (typeof s !== 'string' || s === '' || / /.test(s)) return undefined
        if (!out.includes(s)) out.push(s)
      }
    } else {
      return undefined
    }
  }
  return out
}

const scopeToken = fc.stringMatching(/^[\x21-\x7e]{1,12}$/)
const scopeValue = fc.oneof(
  fc.constant(undefined),
  fc.string(), // spaces included
  // scope tokens joined by runs of spaces, with leading spaces
  fc.array(fc.tuple(fc.constantFrom(' ', '  '), scopeToken)).map((pairs) => pairs.map(([gap, s]) => gap + s).join('')),
  fc.array(scopeToken),
  fc.array(fc.string()),
  fc.array(fc.oneof(scopeToken, fc.anything())),
  fc.anything()
)
const claimsArb = fc.record({ scope: scopeValue, scp: scopeValue, sub: fc.string() }, { requiredKeys: [] })

t.test('readScopes never throws, yields only scope tokens, and accepts exactly what the rule accepts', async (t) => {
  let malformed = 0
  let read = 0
  fc.assert(fc.property(claimsArb, (claims) => {
    const got = readScopes(claims as StandardClaims)
    const want = referenceScopes(claims)
    if (got === undefined) malformed++
    else read++
    if (want === undefined) return got === undefined
    return got !== undefined && got.length === want.length && got.every((s, i) => s === want[i] &&
      typeof s === 'string' && s.length > 0 && !s.includes(' '))
  }), RUNS)
  // The generators reach both sides, so the property above is not vacuous.
  t.ok(malformed > 100, `${malformed} malformed claim sets`)
  t.ok(read > 100, `${read} readable claim sets`)
})

t.test('readScopes on long lists: repeats dropped, first place kept, in either claim', async (t) => {
  const many = Array.from({ length: 20 }, (_, i) => `s${i % 7}`) // 20 entries, 7 distinct
  const want = ['s0', 's1', 's2', 's3', 's4', 's5', 's6']
  t.same(readScopes({ scope: many.join(' ') } as StandardClaims), want)
  t.same(readScopes({ scp: many } as StandardClaims), want)
  const claim = ['a', 'b']
  const got = readScopes({ scp: claim } as StandardClaims) as string[]
  t.same(got, claim)
  t.not(got, claim, "a list of its own, not the claim's array")
})

// --- the carrier parser ------------------------------------------------------------------

const CARRIERS: readonly Carrier[] = ['header', 'subprotocol', 'query', 'cookie', 'ticket']
const tokenText = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/)
const noise = fc.stringMatching(/^[a-z][a-z0-9.]{0,10}$/).filter((s) => !s.startsWith('bearer.') && !s.startsWith('ticket.'))

/** The tokens one carrier holds: mostly none, often one, sometimes two. */
const held: fc.Arbitrary<string[]> = fc.oneof(
  { arbitrary: fc.constant<string[]>([]), weight: 4 },
  { arbitrary: fc.array(tokenText, { minLength: 1, maxLength: 1 }), weight: 2 },
  { arbitrary: fc.array(tokenText, { minLength: 2, maxLength: 2 }), weight: 1 }
)

/** Where a request holds credentials, and which carriers are enabled. */
const requestArb = fc.record({
  enabled: fc.subarray([...CARRIERS], { minLength: 1 }),
  header: held,
  subprotocol: held,
  query: held,
  cookie: held,
  ticket: held,
  /** a ticket comes in a `ticket.` subprotocol entry, or in the `ticket` query parameter */
  ticketInQuery: fc.boolean(),
  otherProtocols: fc.array(noise, { maxLength: 3 }),
  otherCookies: fc.array(fc.tuple(noise, noise), { maxLength: 3 }),
  otherQuery: fc.dictionary(noise, fc.oneof(fc.string(), fc.array(fc.string()))),
  bearerCase: fc.constantFrom('Bearer', 'bearer', 'BEARER'),
  protocolCase: fc.constantFrom('bearer.', 'BEARER.', 'Bearer.')
})

type RequestModel = typeof requestArb extends fc.Arbitrary<infer R> ? R : never

function build (m: RequestModel) {
  const headers: Record<string, string> = {}
  const rawHeaders: string[] = []
  if (m.header.length > 0) {
    headers.authorization = `${m.bearerCase} ${m.header[0] as string}` // Node keeps the first
    for (const tok of m.header) rawHeaders.push('Authorization', `${m.bearerCase} ${tok}`)
  }
  const protocols = [...m.otherProtocols, ...m.subprotocol.map((tok) => m.protocolCase + tok), ...(m.ticketInQuery ? [] : m.ticket.map((tok) => `ticket.${tok}`))]
  if (protocols.length > 0) headers['sec-websocket-protocol'] = protocols.join(', ')
  const cookies = [...m.otherCookies.filter(([name]) => name !== 'access_token').map(([n, v]) => `${n}=${v}`),
    ...m.cookie.map((tok) => `access_token=${tok}`)]
  if (cookies.length > 0) headers.cookie = cookies.join('; ')
  const query: Record<string, unknown> = { ...m.otherQuery }
  delete query.access_token
  delete query.ticket
  if (m.query.length === 1) query.access_token = m.query[0]
  if (m.query.length === 2) query.access_token = [...m.query]
  if (m.ticketInQuery && m.ticket.length === 1) query.ticket = m.ticket[0]
  if (m.ticketInQuery && m.ticket.length === 2) query.ticket = [...m.ticket]
  const config = validateOptions({
    carriers: m.enabled,
    ...(m.enabled.includes('cookie') ? { allowedOrigins: ['https://app.test'] } : {}),
    ...(m.enabled.includes('ticket') ? { tickets: {} } : {}),
    jwt: { issuer: 'https://idp.test', audience: 'a', algorithms: ['ES256'], jwks: { keys: [] } }
  })
  return { input: { headers, rawHeaders, query }, config }
}

t.test('findCredential never throws, and returns a token only when exactly one carrier holds one, once', async (t) => {
  const seen = new Map<string, number>()
  fc.assert(fc.property(requestArb, (m) => {
    const { input, config } = build(m)
    const result: CarrierResult = findCredential(input, config)
    const kind = result === null ? 'none' : typeof result === 'string' ? result : 'found'
    seen.set(kind, (seen.get(kind) ?? 0) + 1)
    // A disabled cookie carrier is not read at all: browsers send cookies unasked. Nor are
    // tickets where the app has none: `ticket.` and `ticket` may be anything's names there.
    const looked = CARRIERS.filter((c) => (c !== 'cookie' && c !== 'ticket') || m.enabled.includes(c))
    const holding = looked.filter((c) => m[c].length > 0)
    const forbidden = holding.some((c) => !m.enabled.includes(c))
    const twice = holding.some((c) => m[c].length > 1)
    if (holding.length === 0) return result === null
    if (holding.length > 1 || forbidden || twice) {
      return result === 'WSG_AMBIGUOUS_CREDENTIAL' || result === 'WSG_BAD_REQUEST'
    }
    const carrier = holding[0] as Carrier
    return result !== null && typeof result === 'object' && result.carrier === carrier && result.token === m[carrier][0]
  }), RUNS)
  for (const kind of ['none', 'found', 'WSG_AMBIGUOUS_CREDENTIAL', 'WSG_BAD_REQUEST']) {
    t.ok((seen.get(kind) ?? 0) > 20, `${kind}: ${seen.get(kind) ?? 0} runs`)
  }
})

t.test('findCredential never throws on arbitrary header and query text', async (t) => {
  const config = validateOptions({
    carriers: ['header', 'subprotocol', 'query', 'cookie'],
    allowedOrigins: ['https://app.test'],
    jwt: { issuer: 'https://idp.test', audience: 'a', algorithms: ['ES256'], jwks: { keys: [] } }
  })
  let found = 0
  fc.assert(fc.property(
    fc.record({ authorization: fc.string(), 'sec-websocket-protocol': fc.string(), cookie: fc.string() },
      { requiredKeys: [] }),
    fc.oneof(fc.constant(undefined), fc.dictionary(fc.constantFrom('access_token', 'x'), fc.anything())),
    (headers, query) => {
      const result = findCredential({ headers, rawHeaders: Object.entries(headers).flat(), query }, config)
      if (result !== null && typeof result === 'object') found++
      return result === null || typeof result === 'object' ||
        result === 'WSG_AMBIGUOUS_CREDENTIAL' || result === 'WSG_BAD_REQUEST'
    }
  ), RUNS)
  t.ok(found > 0, `${found} credentials found in random text`)
})
