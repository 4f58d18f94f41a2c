// The corpus file and the helpers the security suite is built on: a bad corpus line fails
// naming its line, every recipe and carrier is used, the crafted tokens are what they claim.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { verify } from 'node:crypto'
import t from 'tap'
import { BASE_CARRIERS, PRESENTATIONS } from './carriers.js'
import { handshake } from './client.js'
import { parseCorpus, type Vocabulary } from './corpus.js'
import { base64urlRuns, leaked, searchableLog } from './leaks.js'
import { ec, highS, isHighS, RECIPES, secretsOf, setSpareBit, spareBitToken, T0 } from './tokens.js'

const vocabulary: Vocabulary = { carriers: PRESENTATIONS, recipes: RECIPES, all: BASE_CARRIERS }
const parse = (text: string): ReturnType<typeof parseCorpus> => parseCorpus(text, 'c.tsv', vocabulary)

t.test('a corpus line: carriers, recipe, status, code; blank lines and comments skipped', async (t) => {
  const cases = parse('# comment\n\n*\tvalid\t101\t-\nheader,query  expired  401  WSG_TOKEN_EXPIRED\n  cookie giant-token 431 -  \n')
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
  const cases = parseCorpus(readFileSync(new URL('handshake-corpus.tsv', import.meta.url), 'utf8'), 'handshake-corpus.tsv', vocabulary)
  t.same(Object.keys(RECIPES).filter((r) => !cases.some((c) => c.recipe === r)), [], 'recipes no line uses')
  t.same(Object.keys(PRESENTATIONS).filter((p) => !cases.some((c) => c.carriers.includes(p))), [], 'carriers no line uses')
})

t.test('crafted tokens', async (t) => {
  const valid = (RECIPES.valid as (now: number) => string)(T0)
  const [h, p, s] = valid.split('.') as [string, string, string]
  const check = (token: string): boolean => {
    const [a, b, sig] = token.split('.') as [string, string, string]
    return verify('sha256', Buffer.from(`${a}.${b}`), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))
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
  t.same([...base64urlRuns('{"url":"/ws?access_token=abcdefghijklmnop_-1","p":"bearer.abcdefghijklmnopq.r"}')], ['abcdefghijklmnop_-1', 'abcdefghijklmnopq'])
  t.same([...base64urlRuns('short')], [], 'no run: no match at all')
})

t.test('handshake() rejects when nothing answers', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await t.rejects(handshake(`ws://127.0.0.1:${port}/`, {}, (fn) => t.teardown(fn)), { code: 'ECONNREFUSED' })
})
