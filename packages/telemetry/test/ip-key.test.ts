import t from 'tap'
import fc from 'fast-check'
import { isIPv6 } from 'node:net'
import { telemetry, DEFAULT_IPV6_SUBNET } from '../src/index.js'
import { ipKey, MAX_TEXT_KEY } from '../src/ip-key.js'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { connectSocket } from '@wsguard/testing'

t.test('an IPv4 client seen through a dual-stack socket is the same key', async (t) => {
  t.equal(ipKey('::ffff:10.0.0.1', 56), '10.0.0.1')
  t.equal(ipKey('10.0.0.1', 56), '10.0.0.1')
  t.equal(ipKey(undefined, 56), '', 'an injected request has no address')
})

t.test('an IPv6 address counts by its first ipv6Subnet bits', async (t) => {
  t.equal(DEFAULT_IPV6_SUBNET, 56)
  t.equal(ipKey('2001:db8:1:ab01::1', 56), '2001:db8:1:ab00::/56')
  t.equal(ipKey('2001:db8:1:abff:ffff:ffff:ffff:ffff', 56), '2001:db8:1:ab00::/56', 'the whole /56 is one key')
  t.equal(ipKey('2001:DB8:0001:AB01:0:0:0:1', 56), '2001:db8:1:ab00::/56', 'however it is spelled')
  t.equal(ipKey('2001:db8:1:ac00::1', 56), '2001:db8:1:ac00::/56', 'the next /56 is another')
  t.equal(ipKey('2001:db8:1:ab01::1', 64), '2001:db8:1:ab01::/64')
  t.equal(ipKey('2001:db8:1:ab01::1', 48), '2001:db8:1::/48')
  t.equal(ipKey('2001:db8:1:ab01::1', 128), '2001:db8:1:ab01:0:0:0:1', '128: the whole address')
  t.equal(ipKey('2001:DB8:1:AB01::0001', 128), '2001:db8:1:ab01:0:0:0:1', 'in one spelling')
  t.equal(ipKey('fe80::1%eth0', 64), 'fe80:0:0:0::/64', 'a zone is not part of the key')
})

t.test('an IPv6 address that carries an IPv4 client is that client; shared prefixes are whole addresses', async (t) => {
  for (const mapped of ['::ffff:203.0.113.7', '::FFFF:203.0.113.7', '0:0:0:0:0:ffff:203.0.113.7', '::ffff:cb00:7107', '::ffff:203.0.113.7%a']) {
    t.equal(ipKey(mapped, 56), '203.0.113.7', `IPv4-mapped: ${mapped}`)
  }
  t.equal(ipKey('::ffff:0:203.0.113.7', 56), '203.0.113.7', 'SIIT\'s IPv4-translated')
  t.equal(ipKey('64:ff9b::203.0.113.7', 56), '203.0.113.7', 'NAT64\'s well-known prefix')
  t.equal(ipKey('64:ff9b::cb00:7107', 128), '203.0.113.7')
  t.equal(ipKey('64:ff9b:1::203.0.113.7', 56), '64:ff9b:1:0:0:0:cb00:7107', 'NAT64\'s local-use prefix: the whole address')
  t.equal(ipKey('2001:0:4136:e378:8000:63bf:3fff:fdd2', 56), '2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo: the whole address')
  t.equal(ipKey('::1', 56), '0:0:0:0:0:0:0:1', '::/96: the whole address')
  t.equal(ipKey('::', 56), '0:0:0:0:0:0:0:0')
  t.equal(ipKey('not an address', 56), 'not an address', 'text that is no address (a proxy header) is kept')
  t.equal(ipKey('203.0.113.7:51234', 56), '203.0.113.7', 'a proxy that writes the port: the address')
  t.equal(ipKey('[2001:db8:1:ab01::1]:443', 56), '2001:db8:1:ab00::/56')
  t.equal(ipKey('[2001:db8:1:ab01::1]', 56), '2001:db8:1:ab00::/56')
  t.equal(ipKey('[::ffff:203.0.113.7]:80', 56), '203.0.113.7')
  t.equal(ipKey('[not an address]:80', 56), '[not an address]:80', 'brackets around no address: kept')
  // Found by session 20's adversarial review: with trustProxy: true (or a proxy that keeps the
  // client's header) a 16 KB X-Forwarded-For was a 16 KB key, times maxTrackedKeys.
  const long = 'x'.repeat(16_000)
  t.equal(ipKey(long, 56), ipKey(long, 56), 'long text: one key for one text')
  t.match(ipKey(long, 56), /^#[\w-]{43}$/, 'long text: its digest')
  t.not(ipKey(long, 56), ipKey(`${long}y`, 56), 'other text, another key')
  t.equal(ipKey('x'.repeat(MAX_TEXT_KEY), 56), 'x'.repeat(MAX_TEXT_KEY), 'up to MAX_TEXT_KEY characters: kept')
  t.match(ipKey('a\u0085b', 56), /^#/, 'unprintable text: its digest')
  t.equal(ipKey('999.0.113.7:80', 56), '999.0.113.7:80', 'no IPv4 address: kept')
})

// The reference: the address as a 128-bit integer.
const groupsArb = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
  // the translation forms and shared prefixes, with any IPv4 or host part
  fc.tuple(fc.constantFrom([0, 0, 0, 0, 0, 0xffff], [0, 0, 0, 0, 0xffff, 0], [0x64, 0xff9b, 0, 0, 0, 0], [0x64, 0xff9b, 1, 0, 0, 0], [0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf], [0, 0, 0, 0, 0, 0]),
    fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([head, a, b]) => [...head, a, b])
)
const big = (groups: number[]): bigint => groups.reduce((n, g) => (n << 16n) | BigInt(g), 0n)
const top = (n: bigint, bits: number): bigint => n >> BigInt(128 - bits)

function reference (groups: number[], bits: number): string {
  const n = big(groups)
  const low32 = Number(n & 0xffffffffn)
  const dotted = [24, 16, 8, 0].map((s) => (low32 >>> s) & 0xff).join('.')
  if (top(n, 96) === 0xffffn || top(n, 96) === 0xffff0000n || top(n, 96) === big([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]) >> 32n) return dotted
  const whole = groups.map((g) => g.toString(16)).join(':')
  if (top(n, 32) === 0x20010000n || top(n, 48) === 0x64ff9b0001n || top(n, 96) === 0n || bits === 128) return whole
  const kept = top(n, bits) << BigInt(128 - bits)
  const g = Array.from({ length: 8 }, (_, i) => Number((kept >> BigInt(112 - 16 * i)) & 0xffffn))
  return `${g.slice(0, Math.ceil(bits / 16)).map((x) => x.toString(16)).join(':')}::/${bits}`
}

/** Ways to write one address: plain, upper case with leading zeros, its first zero run as '::', its last 32 bits dotted. */
function spellings (groups: number[]): string[] {
  const plain = groups.map((g) => g.toString(16)).join(':')
  const upper = groups.map((g) => g.toString(16).padStart(4, '0').toUpperCase()).join(':')
  const compressed = plain.replace(/(^|:)0(:0)+(:|$)/, '::')
  const [hi, lo] = [groups[6] as number, groups[7] as number]
  const dotted = `${groups.slice(0, 6).map((g) => g.toString(16)).join(':')}:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  return [plain, upper, compressed, dotted]
}

t.test('property: every spelling of an address gives the reference key', async (t) => {
  fc.assert(fc.property(groupsArb, fc.integer({ min: 32, max: 128 }), (groups, bits) => {
    const expected = reference(groups, bits)
    return spellings(groups).every((text) => isIPv6(text) && ipKey(text, bits) === expected)
  }), { numRuns: 3_000 })
  t.pass('3,000 addresses, four spellings each')
})

t.test('the per-IP gate counts a /56 as one client: new addresses in it are throttled with it; an IPv4 client is itself however written', async (t) => {
  const app = Fastify({ trustProxy: true })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(telemetry, { anomalies: { reconnectStorm: { perIp: { max: 2, windowMs: 60_000 }, action: 'throttle' } } })
  app.get('/ws', { websocket: true }, (socket) => { socket.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
  const from = async (ip: string): Promise<number> => {
    const r = await connectSocket(url, { client: { headers: { 'x-forwarded-for': ip } }, teardown: (fn) => t.teardown(fn) })
    if ('refused' in r) return r.status
    r.ws.terminate()
    return 101
  }
  t.same([
    await from('2001:db8:1:ab01::1'),
    await from('2001:db8:1:abff:ffff::2'),
    await from('2001:db8:1:ab00:1:2:3:4'),
    await from('2001:db8:1:ac00::1')
  ], [101, 101, 429, 101], 'the third address of one /56 is its third handshake; another /56 is another client')
  // An IPv4 client written as IPv6 is that client, not a prefix shared with every IPv4 client.
  t.same([
    await from('203.0.113.7'),
    await from('0:0:0:0:0:ffff:203.0.113.7'),
    await from('::FFFF:cb00:7107'),
    await from('::ffff:198.51.100.9'),
    await from('64:ff9b::198.51.100.10')
  ], [101, 101, 429, 101, 101], 'each spelling of 203.0.113.7 counts against it; other IPv4 clients do not')
})
