import t from 'tap'
import fc from 'fast-check'
import { isIPv6 } from 'node:net'
import { telemetry, DEFAULT_IPV6_SUBNET } from '../src/index.js'
import { ipKey } from '../src/ip-key.js'
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
  t.equal(ipKey('2001:db8:1:ac00::1', 56), '2001:db8:1:ac00::/56', 'the next /56 is another')
  t.equal(ipKey('2001:db8:1:ab01::1', 64), '2001:db8:1:ab01::/64')
  t.equal(ipKey('2001:db8:1:ab01::1', 48), '2001:db8:1::/48')
  t.equal(ipKey('2001:db8:1:ab01::1', 128), '2001:db8:1:ab01::1', '128: the whole address, as written')
  t.equal(ipKey('::1', 56), '0:0:0:0::/56')
  t.equal(ipKey('fe80::1%eth0', 64), 'fe80:0:0:0::/64', 'a zone is not part of the key')
  t.equal(ipKey('::ffff:a:b', 56), '0:0:0:0::/56', 'not a mapped IPv4')
  t.equal(ipKey('64:ff9b::192.0.2.33', 96), '64:ff9b:0:0:0:0::/96', 'an embedded IPv4 (NAT64)')
  t.equal(ipKey('64:ff9b::192.0.2.33', 128), '64:ff9b::192.0.2.33')
  t.equal(ipKey('not an address', 56), 'not an address', 'text that is no address (a proxy header) is kept')
})

// The reference: the address as a 128-bit integer, masked.
const groupsArb = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
const big = (groups: number[]): bigint => groups.reduce((n, g) => (n << 16n) | BigInt(g), 0n)

t.test('property: the key is the address masked to the prefix, however the address is written', async (t) => {
  fc.assert(fc.property(groupsArb, fc.integer({ min: 32, max: 127 }), fc.boolean(), (groups, bits, compress) => {
    // Written in full, or with the longest run of zero groups (two or more) as '::'.
    let text = groups.map((g) => g.toString(16)).join(':')
    if (compress) text = text.replace(/(^|:)0(:0)+(:|$)/, '::')
    if (!isIPv6(text) || groups.slice(0, 6).join() === '0,0,0,0,0,65535') return true // mapped IPv4 forms aside
    const key = ipKey(text, bits)
    const [prefix, length] = key.split('/') as [string, string]
    const mask = ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits)
    const expected = big(groups) & mask
    const written = prefix.slice(0, -2).split(':').map((h) => parseInt(h, 16))
    const got = big([...written, ...Array<number>(8 - written.length).fill(0)])
    return length === String(bits) && got === expected && ipKey(text, bits) === ipKey(groups.map((g) => g.toString(16).padStart(4, '0')).join(':'), bits)
  }), { numRuns: 2_000 })
  t.pass('2,000 addresses and prefixes')
})

t.test('the per-IP gate counts a /56 as one client: new addresses in it are throttled with it', async (t) => {
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
})
