// The helpers the security suite is built on: a bad corpus line fails naming its line, every
// recipe and carrier is used, the crafted tokens are what they claim, leaks are found, and
// exchange() gets one answer whatever the server does (a body of a given length, chunks, a
// 101, nothing, a reset).
import { readFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { verify } from 'node:crypto'
import t, { type Test } from 'tap'
import { BASE_CARRIERS, PRESENTATIONS } from './carriers.js'
import { handshake } from './client.js'
import { parseCorpus, type Vocabulary } from './corpus.js'
import { base64urlRuns, leaked, searchableLog } from './leaks.js'
import { describe, median, percentile, settle, withinRatio, type Comparison } from './latency.js'
import { exchange, whole } from './raw-http.js'
import { ec, highS, isHighS, RECIPES, secretsOf, setSpareBit, spareBitToken, T0 } from './tokens.js'

const vocabulary: Vocabulary = { carriers: PRESENTATIONS, recipes: RECIPES, all: BASE_CARRIERS }
const parse = (text: string): ReturnType<typeof parseCorpus> => parseCorpus(text, 'c.tsv', vocabulary)

t.test('a corpus line: carriers, recipe, status, code; blank lines and comments skipped', async (t) => {
  const cases = parse('# comment\n\n*\tvalid\t101\t-\n' +
    'header,query  expired  401  WSG_TOKEN_EXPIRED\n  cookie giant-token 431 -  \n')
  t.same(cases, [
    { where: 'c.tsv:3', carriers: BASE_CARRIERS, recipe: 'valid', status: 101, code: undefined },
    { where: 'c.tsv:4', carriers: ['header', 'query'], recipe: 'expired', status: 401, code: 'WSG_TOKEN_EXPIRED' },
    { where: 'c.tsv:5', carriers: ['cookie'], recipe: 'giant-token', status: 431, code: undefined }
  ])
})

t.test('a bad line throws, naming the file and line', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['header valid 101', /^c\.tsv:2: expected 4 columns \(carriers recipe status code\), found 3/],
    ['header valid 101 - extra', /^c\.tsv:2: expected 4 columns/],
    ['header,pigeon valid 101 -', /^c\.tsv:2: unknown carrier 'pigeon'/],
    ['header toString 101 -', /^c\.tsv:2: unknown recipe 'toString'/],
    ['header valid 200 -', /^c\.tsv:2: status must be one of 101, 400/],
    ['header valid 401 WSG_NOPE', /^c\.tsv:2: 'WSG_NOPE' is not a WSG_\* code of @wsguard\/core/],
    ['header valid 101 WSG_TOKEN_INVALID', /^c\.tsv:2: a 101 has no code \(-\)/],
    ['header valid 401 -', /^c\.tsv:2: a refusal names its code \(in "header valid 401 -"\)/]
  ]
  for (const [line, message] of bad) t.throws(() => parse(`# first\n${line}\n`), { message }, line)
})

t.test('the corpus uses every recipe and every carrier', async (t) => {
  const text = readFileSync(new URL('handshake-corpus.tsv', import.meta.url), 'utf8')
  const cases = parseCorpus(text, 'handshake-corpus.tsv', vocabulary)
  t.same(Object.keys(RECIPES).filter((r) => !cases.some((c) => c.recipe === r)), [], 'recipes no line uses')
  t.same(Object.keys(PRESENTATIONS).filter((p) => !cases.some((c) => c.carriers.includes(p))), [], 'carriers no line uses')
})

t.test('crafted tokens', async (t) => {
  const valid = (RECIPES.valid as (now: number) => string)(T0)
  const [h, p, s] = valid.split('.') as [string, string, string]
  const check = (token: string): boolean => {
    const [a, b, sig] = token.split('.') as [string, string, string]
    const key = { key: ec.publicKey, dsaEncoding: 'ieee-p1363' as const }
    return verify('sha256', Buffer.from(`${a}.${b}`), key, Buffer.from(sig, 'base64url'))
  }
  t.not(setSpareBit(s), s, 'a spare bit changes the text')
  t.same(Buffer.from(setSpareBit(s), 'base64url'), Buffer.from(s, 'base64url'), '… and not the bytes')
  for (const where of ['header', 'payload'] as const) {
    const token = spareBitToken(T0, where)
    t.ok(check(token), `${where}: signed over the non-canonical text`)
    const seg = token.split('.')[where === 'header' ? 0 : 1] as string
    t.not(Buffer.from(seg, 'base64url').toString('base64url'), seg, `${where}: the segment is not canonical`)
  }
  const high = highS(valid)
  t.ok(isHighS(high), 'highS gives a high S')
  t.ok(check(high), 'which still verifies')
  t.equal(highS(high), high, 'a high S stays')
  t.equal(high.split('.').slice(0, 2).join('.'), `${h}.${p}`)
  t.same(secretsOf(`${h}.${p}.`), [`${h}.${p}.`, h, p], 'the token and its long segments')
  t.same(secretsOf('a b'), ['a b', 'a%20b'], 'and its URL encoding')
})

t.test('leaks are found in text and in logged Buffers', async (t) => {
  const lines = ['{"msg":"x","err":{"rawPacket":{"type":"Buffer","data":[83,69,67,82,69,84]}}}', '{"msg":"y"}']
  t.same(leaked(searchableLog(lines), ['SECRET', 'msg', 'nope']), ['SECRET', 'msg'])
  t.same(leaked('x'.repeat(50), ['x'.repeat(45)]), [`${'x'.repeat(40)}…`], 'cut for the report')
  const line = '{"url":"/ws?access_token=abcdefghijklmnop_-1","p":"bearer.abcdefghijklmnopq.r"}'
  t.same([...base64urlRuns(line)], ['abcdefghijklmnop_-1', 'abcdefghijklmnopq'])
  t.same([...base64urlRuns('short')], [], 'no run: no match at all')
})

t.test('handshake() rejects when nothing answers', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await t.rejects(handshake(`ws://127.0.0.1:${port}/`, {}, (fn) => t.teardown(fn)), { code: 'ECONNREFUSED' })
})

/** A server that does `reply` with each connection's socket once the request arrived. */
async function scripted (t: Test, reply: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => { socket.once('data', () => reply(socket)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as { port: number }).port
}

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'

t.test('a body of the announced length, in two writes', async (t) => {
  const port = await scripted(t, (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe')
    setImmediate(() => s.write('llo'))
  })
  const a = await exchange(port, GET, 5000)
  t.equal(a.status, 200)
  t.equal(a.bytes.toString().endsWith('\r\n\r\nhello'), true)
  t.equal(a.timedOut, false)
})

t.test('a chunked body ends with its last chunk', async (t) => {
  const port = await scripted(t, (s) => {
    s.write('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n')
    setImmediate(() => s.write('0\r\n\r\n'))
  })
  const a = await exchange(port, GET, 5000)
  t.equal(a.status, 404)
  t.match(a.head, /transfer-encoding: chunked/i)
})

t.test('a 101 is whole at the end of its head; a HEAD answer has no body', async (t) => {
  const port = await scripted(t, (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'))
  t.equal((await exchange(port, GET, 5000)).status, 101)
  const head = await scripted(t, (s) => s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n'))
  t.equal((await exchange(head, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n', 5000)).status, 404)
})

t.test('a body that ends with the connection, a close with nothing, a reset', async (t) => {
  const closing = await scripted(t, (s) => s.end('HTTP/1.0 200 OK\r\n\r\nuntil close'))
  const a = await exchange(closing, GET, 5000)
  t.same([a.status, a.head, a.timedOut], [200, 'HTTP/1.0 200 OK', false])
  const silent = await scripted(t, (s) => s.end())
  t.same([(await exchange(silent, GET, 5000)).status, (await exchange(silent, GET, 5000)).bytes.length], [0, 0])
  const reset = await scripted(t, (s) => s.resetAndDestroy())
  t.equal((await exchange(reset, GET, 5000)).status, 0)
})

t.test('no answer in time', async (t) => {
  const port = await scripted(t, (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'))
  const a = await exchange(port, GET, 100)
  t.same([a.status, a.timedOut], [200, true])
})

t.test('an answer is whole once its head is, and its body when it has one', async (t) => {
  t.equal(whole(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgr'), false), undefined, 'a head not yet ended')
  t.equal(whole(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nx'), false), undefined, 'a body not yet whole')
  t.equal(whole(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxy'), false)?.status, 200)
  const chunks = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n')
  t.equal(whole(chunks, false), undefined, 'chunks not yet ended')
})

t.test('latency figures: percentiles, the ratio, and a comparison run again only while beyond it', async (t) => {
  t.equal(percentile([5, 1, 4, 2, 3], 99), 5)
  t.equal(percentile([5, 1, 4, 2, 3], 50), 3)
  t.equal(median([10]), 10)
  const fine: Comparison = { unloaded: [2, 4, 3], loaded: [5, 6, 7] }
  const slow: Comparison = { unloaded: [2, 3, 3], loaded: [7, 8, 9] }
  t.same([withinRatio(fine), withinRatio(slow)], [true, false])
  t.equal(withinRatio({ unloaded: [1, 1, 1], loaded: [2.9, 2.9, 2.9] }), true, 'within 2 ms, whatever the ratio')
  t.equal(withinRatio({ unloaded: [1, 1, 1], loaded: [3.1, 3.1, 3.1] }), false, 'past 2 ms and past the ratio')
  const runs = (results: Comparison[]): () => Promise<Comparison> => async () => results.shift() as Comparison
  t.same(await settle(runs([fine, slow]), 2), [fine], 'within at once: one comparison')
  t.same(await settle(runs([slow, fine, slow]), 2), [slow, fine], 'beyond, then within')
  t.same(await settle(runs([slow, slow, fine]), 2), [slow, slow], 'beyond every time: the last one says so')
  t.equal(describe(fine),
    'handshake p99 per run, ms: unloaded 2.0, 4.0, 3.0 (median 3.0); loaded 5.0, 6.0, 7.0 (median 6.0); ratio 2.00')
})
