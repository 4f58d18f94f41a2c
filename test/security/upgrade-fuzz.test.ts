// A bounded fuzz of the upgrade request, in raw bytes over TCP, against all four plugins:
// random methods, paths, versions, header names' case, order and repetition, odd Connection,
// Upgrade, version and key values, subprotocol lists holding the valid token among garbage,
// cookies, query strings, Origins, sizes (past Node's 16 KB limit), bodies and control bytes.
// Property: the server never answers 101 unless the request held exactly one credential, the
// valid token of the governed route it names, in an accepted carrier, with one allowed Origin; no
// answer and no log line ever holds a credential; the process stays up.
//
// Replay a run: WSGUARD_FUZZ_SEED=<seed> [WSGUARD_FUZZ_PATH=<path>] npx tap security/upgrade-fuzz.test.ts
// (the seed is printed at the start of every run and with a failure, the path with a failure).
import t from 'tap'
import fc from 'fast-check'
import { ALLOWED_ORIGIN, FOREIGN_ORIGIN } from './carriers.js'
import { base64urlRuns, searchableLog } from './leaks.js'
import { exchange } from './raw-http.js'
import { securityServer } from './server.js'
import { claims, ec, secretsOf, sign, T0 } from './tokens.js'

const SEED = Number(process.env.WSGUARD_FUZZ_SEED ?? (Date.now() % 2_147_483_647))
const PATH = process.env.WSGUARD_FUZZ_PATH
const TIME_LIMIT_MS = 12_000
const MAX_RUNS = 4_000
const ANSWER_TIMEOUT_MS = 2_000
/** the query carrier is off (a token there is in a carrier the route does not accept), and an Origin is required */
const FUZZ_AUTH = { carriers: ['header' as const, 'subprotocol' as const, 'cookie' as const], requireOrigin: true }

const VALID = sign(ec, claims(T0))
const OTHERS = [
  sign(ec, claims(T0, { exp: T0 / 1000 - 3600, iat: T0 / 1000 - 7200 })), // expired
  sign(ec, claims(T0, { tenant: 'globex' })), // another tenant's topic
  sign(ec, claims(T0, { scope: 'feed:read admin' })), // over-scoped
  `${VALID.slice(0, -6)}AAAAAA`, // a broken signature
  `${VALID}A`
]
const FIXED_SECRETS = [VALID, ...OTHERS].flatMap(secretsOf)
/**
 * The one token each governed path accepts: the route binds `{params.tenant}` to the token's
 * tenant claim, so globex's token (one of OTHERS for acme) is the valid one on /ws/globex.
 */
const VALID_ON: Record<string, string> = { '/ws/acme': VALID, '/ws/%61cme': VALID, '/ws/globex': OTHERS[1] as string }

/** A request as generated: what the oracle reads, before it is written out. */
interface Request {
  method: string
  path: string
  version: string
  query: string[]
  headers: Array<[string, string]>
  body: string
  /** every credential and base64url run the request holds, to look for in answers and logs */
  credentials: string[]
}

const credential = fc.oneof(
  { arbitrary: fc.constant(VALID), weight: 5 },
  { arbitrary: fc.constantFrom(...OTHERS), weight: 2 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{16,48}$/), weight: 2 }
)
/** `good` most of the time (so that a fair share of requests can upgrade), else one of `others`. */
const mostly = <T>(good: T, ...others: T[]): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: fc.constant(good), weight: 10 }, { arbitrary: fc.constantFrom(...others), weight: 1 })
/** Nothing (most often), one, or two to `max` of `item`. */
const some = <T>(item: fc.Arbitrary<T>, max: number): fc.Arbitrary<T[]> => fc.oneof(
  { arbitrary: fc.constant<T[]>([]), weight: 3 },
  { arbitrary: item.map((i) => [i]), weight: 2 },
  { arbitrary: fc.array(item, { minLength: 2, maxLength: max }), weight: 1 }
)
type Header = [string, string]
const headerName = (name: string): fc.Arbitrary<string> => fc.constantFrom(name, name.toLowerCase(), name.toUpperCase())
const line = (name: string, value: fc.Arbitrary<string>): fc.Arbitrary<Header> =>
  fc.tuple(headerName(name), value).map(([n, v]) => [n, v] as Header)
const junkChar = fc.integer({ min: 0, max: 255 }).filter((c) => c !== 10 && c !== 13).map((c) => String.fromCharCode(c))
const junkValue = fc.oneof(
  { arbitrary: fc.string({ maxLength: 40 }), weight: 4 },
  { arbitrary: fc.string({ unit: junkChar, maxLength: 40 }), weight: 1 }
)
const JUNK_NAMES = ['X-Junk', 'Accept', 'User-Agent', 'Accept-Version', 'X-Forwarded-For', 'Sec-WebSocket-Extensions']

const scheme = mostly('Bearer ', 'bearer ', 'BEARER   ', 'Bearer  ', 'Basic ', 'Token ')
const authorization = line('Authorization', fc.tuple(scheme, credential).map(([s, c]) => s + c))
const protocolEntry = fc.oneof(
  fc.constantFrom('app.v1', 'chat', 'bearer.', 'BEARER.', '', ' ', 'a b'),
  credential.map((c) => `bearer.${c}`),
  credential.map((c) => `Bearer.${c}`)
)
const protocolList = fc.tuple(fc.array(protocolEntry, { minLength: 1, maxLength: 4 }), fc.constantFrom(', ', ',', ' , '))
const protocols = line('Sec-WebSocket-Protocol', protocolList.map(([entries, sep]) => entries.join(sep)))
const cookiePair = fc.oneof(
  credential.map((c) => `access_token=${c}`),
  credential.map((c) => `access_token="${c}"`),
  credential.map((c) => ` access_token = ${c} `),
  fc.constantFrom('theme=dark', 'access_token=', 'ACCESS_TOKEN=abc', 'x', 'access_token=""')
)
const cookie = line('Cookie', fc.array(cookiePair, { minLength: 1, maxLength: 3 }).map((pairs) => pairs.join('; ')))
const percentEncoded = (text: string): string =>
  [...text].map((ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')
const queryPart = fc.oneof(
  credential.map((c) => `access_token=${c}`),
  credential.map((c) => `access_token=${percentEncoded(c)}`),
  credential.map((c) => `access%5Ftoken=${c}`),
  fc.constantFrom('a=1', 'access_token', 'access_token=', 'ACCESS_TOKEN=x', '%zz', 'access_token[]=x')
)
const oneOrigin = mostly(ALLOWED_ORIGIN, 'HTTPS://APP.TEST', FOREIGN_ORIGIN, 'null', `${ALLOWED_ORIGIN}/`, '')
const origins = fc.oneof(
  { arbitrary: line('Origin', oneOrigin).map((o) => [o]), weight: 8 },
  { arbitrary: fc.array(line('Origin', fc.constantFrom(ALLOWED_ORIGIN, FOREIGN_ORIGIN)), { maxLength: 2 }), weight: 2 }
)
/** The header once (mostly), not at all, or twice. */
const optional = (header: fc.Arbitrary<Header>): fc.Arbitrary<Header[]> => fc.oneof(
  { arbitrary: header.map((h) => [h]), weight: 12 },
  { arbitrary: fc.constant<Header[]>([]), weight: 1 },
  { arbitrary: fc.array(header, { minLength: 2, maxLength: 2 }), weight: 1 }
)
const upgrade = fc.tuple(
  optional(line('Connection', mostly('Upgrade', 'upgrade', 'keep-alive, Upgrade', 'close', 'Upgrade, close', 'Up2'))),
  optional(line('Upgrade', mostly('websocket', 'WebSocket', 'websocket, h2c', 'h2c', 'websocket2'))),
  optional(line('Sec-WebSocket-Version', mostly('13', '8', '13, 8', 'x'))),
  optional(line('Sec-WebSocket-Key', mostly('dGhlIHNhbXBsZSBub25jZQ==', 'short', ''))),
  optional(line('Host', mostly('127.0.0.1', 'localhost', 'evil.test:80')))
).map((lines) => lines.flat())
const PATHS = ['/ws/%61cme', '/ws/acme/', '/ws/globex', '/WS/acme', '//ws/acme', '/ws/acme/x', '/nope', '/ws/', '*']

const request: fc.Arbitrary<Request> = fc.record({
  method: mostly('GET', 'HEAD', 'POST', 'OPTIONS', 'DELETE', 'get', 'CONNECT', 'G\x00T'),
  path: mostly('/ws/acme', ...PATHS, '/ws/%zz', `/ws/${'a'.repeat(300)}`),
  version: mostly('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 extra'),
  query: some(queryPart, 3),
  upgrade,
  authorization: some(authorization, 2),
  protocols: some(protocols, 2),
  cookies: some(cookie, 2),
  origins,
  junk: fc.array(fc.tuple(fc.constantFrom(...JUNK_NAMES), junkValue), { maxLength: 3 }),
  pad: mostly(0, 300, 9_000, 17_000),
  body: mostly('none', 'length', 'chunked'),
  order: fc.nat()
}).map((r) => {
  const headers: Header[] = [...r.upgrade, ...r.authorization, ...r.protocols, ...r.cookies, ...r.origins, ...r.junk]
  if (r.pad > 0) headers.push(['X-Pad', 'p'.repeat(r.pad)])
  if (r.body === 'length') headers.push(['Content-Length', '5'])
  if (r.body === 'chunked') headers.push(['Transfer-Encoding', 'chunked'])
  // a rotation: repeated headers move apart or together, and any header can come first
  const turn = r.order % Math.max(1, headers.length)
  const rotated = [...headers.slice(turn), ...headers.slice(0, turn)]
  const body = r.body === 'length' ? 'hello' : r.body === 'chunked' ? '5\r\nhello\r\n0\r\n\r\n' : ''
  // what the credential-bearing headers and the query hold: the tokens, and the random ones as runs
  const text = [...r.authorization, ...r.protocols, ...r.cookies].map(([, v]) => v).concat(r.query).join(' ')
  const known = [VALID, ...OTHERS].filter((c) => text.includes(c))
  const credentials = [...new Set([...known, ...(text.match(/[A-Za-z0-9_-]{16,}/g) ?? [])])]
  return { method: r.method, path: r.path, version: r.version, query: r.query, headers: rotated, body, credentials }
})

function serialize (r: Request): Buffer {
  const target = r.query.length === 0 ? r.path : `${r.path}?${r.query.join('&')}`
  const head = `${r.method} ${target} ${r.version}\r\n${r.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`
  return Buffer.from(head + r.body, 'latin1')
}

const values = (r: Request, name: string): string[] =>
  r.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v.trim())

/**
 * Why a 101 would break the contract, or undefined when it may upgrade. A credential is an
 * `Authorization` header of the Bearer scheme (`Bearer <token>`, as auth-handshake's README
 * writes it), a `bearer.` subprotocol entry, an `access_token` cookie or query parameter;
 * exactly one, the path's valid token, in an accepted carrier (the query carrier is off), with
 * one allowed Origin, GET, on a governed route: acme's token on acme's, globex's on globex's.
 */
function whyNotUpgrade (r: Request): string | undefined {
  const found: Array<{ carrier: string, token: string }> = []
  // Node keeps the first Authorization header only; a Bearer token in a later one is a known
  // gap (known-gaps.test.ts), left out here so that the fuzz fails only on what is new.
  const [first, ...more] = values(r, 'authorization').map((v) => /^bearer +(\S+) *$/i.exec(v))
  if (first != null) {
    found.push({ carrier: 'header', token: first[1] as string })
    for (const m of more) if (m !== null) found.push({ carrier: 'header', token: m[1] as string })
  }
  for (const entry of values(r, 'sec-websocket-protocol').join(',').split(',').map((e) => e.trim())) {
    if (/^bearer\../i.test(entry)) found.push({ carrier: 'subprotocol', token: entry.slice(7) })
  }
  for (const pair of values(r, 'cookie').join('; ').split(';')) {
    const eq = pair.indexOf('=')
    let v = pair.slice(eq + 1).trim()
    if (v.length > 1 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
    if (eq !== -1 && pair.slice(0, eq).trim() === 'access_token' && v !== '') found.push({ carrier: 'cookie', token: v })
  }
  for (const v of new URLSearchParams(r.query.join('&')).getAll('access_token')) found.push({ carrier: 'query', token: v })
  const origins = values(r, 'origin')
  if (r.method !== 'GET') return `the method is ${r.method}`
  const valid = VALID_ON[r.path]
  if (valid === undefined) return `${r.path} is not a governed route`
  if (origins.length !== 1 || origins[0]?.toLowerCase() !== ALLOWED_ORIGIN) return `the Origin is ${JSON.stringify(origins)}`
  if (found.length !== 1) return `it held ${found.length} credentials (${found.map((f) => f.carrier).join(', ')})`
  const [one] = found as [{ carrier: string, token: string }]
  if (one.carrier === 'query') return 'its credential is in the query, a carrier that is off'
  if (one.token !== valid) return `its credential is not the valid token of ${r.path}`
  return undefined
}

const clean = (extra: Array<[string, string]>): Request => ({
  method: 'GET',
  path: '/ws/acme',
  version: 'HTTP/1.1',
  query: [],
  body: '',
  credentials: [],
  headers: [['Host', '127.0.0.1'], ['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Origin', ALLOWED_ORIGIN], ...extra]
})

t.test('the oracle and the writer agree with the server on plain cases', async (t) => {
  const server = await securityServer(t, { auth: FUZZ_AUTH })
  const cases: Array<[Request, number]> = [
    [clean([['Authorization', `Bearer ${VALID}`]]), 101],
    [clean([['Cookie', `theme=dark; access_token="${VALID}"`]]), 101],
    [clean([['Sec-WebSocket-Protocol', `chat, bearer.${VALID}`]]), 101],
    [clean([['Authorization', `Bearer ${VALID}`], ['Cookie', `access_token=${VALID}`]]), 400],
    [{ ...clean([]), query: [`access_token=${VALID}`] }, 400],
    [clean([['Authorization', `Bearer ${OTHERS[1] as string}`]]), 403],
    [{ ...clean([['Sec-WebSocket-Protocol', `Bearer.${OTHERS[1] as string}, app.v1`]]), path: '/ws/globex' }, 101]
  ]
  for (const [r, status] of cases) {
    const answer = await exchange(server.port, serialize(r), ANSWER_TIMEOUT_MS)
    t.equal(answer.status, status, `${status}: ${JSON.stringify(r.headers.slice(6))}`)
    t.equal(whyNotUpgrade(r) === undefined, status === 101, 'the oracle agrees')
  }
})

t.test(`fuzz the upgrade request (seed ${SEED}, at most ${MAX_RUNS} requests or ${TIME_LIMIT_MS / 1000} s)`, async (t) => {
  t.comment(`seed ${SEED}: replay with WSGUARD_FUZZ_SEED=${SEED} npx tap security/upgrade-fuzz.test.ts`)
  const server = await securityServer(t, { auth: FUZZ_AUTH, logLevel: 'trace' })
  const statuses = new Map<number, number>()
  const secrets = new Set(FIXED_SECRETS)
  let timeouts = 0
  const property = fc.asyncProperty(request, async (r) => {
    const answer = await exchange(server.port, serialize(r), ANSWER_TIMEOUT_MS)
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    if (answer.timedOut) timeouts++
    for (const c of r.credentials) for (const s of secretsOf(c)) secrets.add(s)
    const why = answer.status === 101 ? whyNotUpgrade(r) : undefined
    if (why !== undefined) throw new Error(`answered 101 although ${why}`)
    const sent = answer.bytes.toString('latin1')
    const echoed = r.credentials.flatMap(secretsOf).filter((s) => sent.includes(s))
    if (echoed.length > 0) throw new Error(`the answer holds a credential: ${echoed[0]?.slice(0, 24) as string}…`)
  })
  const details = await fc.check(property, {
    seed: SEED,
    ...(PATH !== undefined ? { path: PATH } : {}),
    numRuns: MAX_RUNS,
    interruptAfterTimeLimit: TIME_LIMIT_MS,
    markInterruptAsFailure: false
  })
  const byStatus = JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))
  t.comment(`${details.numRuns} requests; answers by status: ${byStatus}; ${timeouts} unanswered in ${ANSWER_TIMEOUT_MS} ms`)
  const report = details.failed ? `seed ${SEED}: ${fc.defaultReportMessage(details) as string}` : 'the property held'
  t.notOk(details.failed, report)
  t.ok(details.numRuns >= 300, `enough requests ran (${details.numRuns})`)
  t.ok((statuses.get(101) ?? 0) > 0, 'some requests upgraded: the fuzz reaches the accepting path')
  t.ok(statuses.size >= 5, 'and many kinds of refusal')

  const runs = base64urlRuns(searchableLog(server.logs.lines))
  const logged = [...secrets].filter((s) => runs.has(s))
  t.same(logged.map((s) => `${s.slice(0, 24)}…`), [], `no credential in ${server.logs.lines.length} log lines`)
  const after = await exchange(server.port, serialize(clean([['Authorization', `Bearer ${VALID}`]])), ANSWER_TIMEOUT_MS)
  t.equal(after.status, 101, 'the server still upgrades a good request afterwards')
})
