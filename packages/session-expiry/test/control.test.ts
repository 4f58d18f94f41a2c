import t, { type Test } from 'tap'
import fc from 'fast-check'
import { ControlMatcher } from '../src/control.js'

t.test('ControlMatcher reads refresh frames in every binaryType and nothing else', async (t) => {
  const m = new ControlMatcher('auth.refresh', 256)
  const frame = Buffer.from('{"type":"auth.refresh","token":"abc"}')
  t.equal(m.read(frame, false), 'abc', 'Buffer (nodebuffer)')
  t.equal(m.read(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length), false), 'abc', 'ArrayBuffer')
  t.equal(m.read([frame.subarray(0, 10), frame.subarray(10)], false), 'abc', 'fragments')
  t.equal(m.read('{"type":"auth.refresh","token":"abc"}', false), undefined, 'a string is not a frame ws delivers')
  t.equal(m.read([frame, 'x'], false), undefined)
  t.equal(m.read(frame, true), undefined, 'binary')
  t.equal(m.read(Buffer.from('{"type":"auth.refresh"}'), false), null, 'no token')
  t.equal(m.read(Buffer.from('{"type":"auth.refresh","token":["a"]}'), false), null)
  t.equal(m.read(Buffer.from(' \r\n\t{ "type" : "auth.refresh" ,\n "token" : "abc" }'), false), 'abc', 'JSON whitespace anywhere')
  t.equal(m.read(Buffer.from('"auth.refresh"'), false), undefined, 'a JSON string, not an object')
  t.equal(m.read(Buffer.from('["auth.refresh"]'), false), undefined, 'an array')
  t.equal(m.read(Buffer.from('null'), false), undefined)
  t.equal(m.read(Buffer.from('   '), false), undefined)
  t.equal(m.read(Buffer.from('{"type":"chat","nested":{"type":"auth.refresh","token":"x"}}'), false), undefined, 'a nested refresh in valid JSON is the app\'s')
})

// A frame that names the refresh and does not parse used to reach the app's listeners, with
// whatever part of the token it carried.
t.test('a refresh frame cut short, or broken, is malformed; the app\'s text that mentions the name is not', async (t) => {
  const m = new ControlMatcher('auth.refresh', 256)
  const read = (s: string): string | null | undefined => m.read(Buffer.from(s), false)
  t.equal(read('{"type":"auth.refresh","token":'), null, 'cut short after the token key')
  t.equal(read('{"type":"auth.refresh","token":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIi'), null, 'cut short inside the token')
  t.equal(read('{"type":"auth.refresh"'), null)
  t.equal(read('{"token":"abc","type" :\t"auth.refresh"'), null, 'the type member last, spaced')
  t.equal(read('{"type":"auth.refresh","token":"abc"} trailing'), null, 'not JSON after the object')
  t.equal(read('{"type":"auth.refresh","token":"abc",}'), null, 'a trailing comma')
  t.equal(read('plain "auth.refresh" text'), undefined, 'plain text mentioning the name')
  t.equal(read('{ how do I send "auth.refresh"?'), undefined, 'broken JSON with the name but no type member')
  t.equal(read('{"type":"chat","text":"say \\"type\\":\\"auth.refresh\\"'), undefined, 'the member only inside an escaped string')
  t.equal(read('{"type":"auth.refreshed","token":'), undefined, 'another message\'s name')
})

t.test('a frame over maxControlFrameBytes is never parsed; one that reads like a refresh at either end is malformed', async (t) => {
  const m = new ControlMatcher('auth.refresh', 64)
  const big = 'x'.repeat(200)
  const read = (s: string): string | null | undefined => m.read(Buffer.from(s), false)
  t.equal(read(JSON.stringify({ type: 'auth.refresh', token: big })), null, 'a refresh too big to parse: 4400, fail closed')
  t.equal(read(JSON.stringify({ token: big, type: 'auth.refresh' })), null, 'its type member at the end')
  t.equal(m.read([Buffer.from('{"type":"auth.refresh",'), Buffer.from(`"token":"${big}"}`)], false), null, 'fragments')
  t.equal(read(JSON.stringify({ type: 'chat', text: `${big} "auth.refresh" ${big}` })), undefined, 'the app\'s JSON that mentions the name')
  t.equal(read(JSON.stringify({ type: 'chat', text: big })), undefined, 'the app\'s JSON')
  t.equal(read(`"auth.refresh" ${big}`), undefined, 'the app\'s text that starts with the name')
  t.equal(read(`${big}{"type":"auth.refresh","token":"x"}`), undefined, 'text that does not start as an object')
  t.equal(read(' '.repeat(200)), undefined, 'whitespace only')
  t.equal(read(`${' '.repeat(200)}{"type":"auth.refresh","token":"x"}`), null, 'whitespace, then a refresh')
})

/** Runs a property and asserts it held for every run (fast-check's report is the message). */
function holds (t: Test, property: fc.IProperty<unknown[]>, numRuns: number): void {
  const details = fc.check(property, { numRuns })
  t.equal(details.failed, false, fc.defaultReportMessage(details) ?? '')
  t.equal(details.numRuns, numRuns)
}

const NAME = 'auth.refresh'
// Text made of pieces of refresh frames, so random data reaches every branch of the reader.
const piece = fc.constantFrom('{', '}', '"type"', ':', `"${NAME}"`, '"token"', '"x"', ',', ' ', '\n', '[', 'é', '\\')
const frameish = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.array(piece, { maxLength: 16 }).map((p) => p.join('')))
const bytes = frameish.map((s) => Buffer.from(s))
const data = fc.oneof(
  bytes,
  fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.from(u)),
  fc.array(bytes, { maxLength: 4 }),
  bytes.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length)),
  frameish,
  fc.anything()
)

t.test('property: read never throws, whatever the data and binary flag', async (t) => {
  const m = new ControlMatcher(NAME, 64)
  holds(t, fc.property(data, fc.oneof(fc.boolean(), fc.anything()), (d, isBinary) => {
    const out = m.read(d, isBinary)
    return out === undefined || out === null || (typeof out === 'string' && out.length > 0)
  }), 5000)
})

// A well-formed refresh: the type and a non-empty token, other members, any key order, any
// JSON whitespace before and inside.
const refreshFrame = fc.record({
  token: fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }),
  extra: fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== 'type' && k !== 'token'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  tokenFirst: fc.boolean(),
  indent: fc.constantFrom(undefined, 1, '\t', ' \r\n'),
  lead: fc.constantFrom('', ' ', '\n\t ')
}).map(({ token, extra, tokenFirst, indent, lead }) => {
  const message = tokenFirst ? { ...extra, token, type: NAME } : { type: NAME, ...extra, token }
  return { token, text: lead + JSON.stringify(message, null, indent) }
})

t.test('property: a well-formed refresh frame returns its token', async (t) => {
  const m = new ControlMatcher(NAME, 65_536)
  holds(t, fc.property(refreshFrame, ({ token, text }) => m.read(Buffer.from(text), false) === token), 2000)
})

t.test('property: any truncation of a refresh frame that keeps its type member is malformed (null)', async (t) => {
  const m = new ControlMatcher(NAME, 65_536)
  const member = new RegExp(`"type"\\s*:\\s*"${NAME.replace('.', '\\.')}"`)
  holds(t, fc.property(refreshFrame, fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(), ({ text }, at, anywhere) => {
    const frame = Buffer.from(text)
    const found = member.exec(text) as RegExpExecArray
    const from = Buffer.byteLength(text.slice(0, found.index + found[0].length))
    const cut = from + Math.floor(at * (frame.length - from)) // from the member's end to one byte short
    if (cut < frame.length && m.read(frame.subarray(0, cut), false) !== null) return false
    // Cut anywhere (before the member too), it is never taken for a refresh.
    return typeof m.read(frame.subarray(0, anywhere % frame.length), false) !== 'string'
  }), 3000)
})
