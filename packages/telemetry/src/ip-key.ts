import { createHash } from 'node:crypto'
import { isIP, isIPv4, isIPv6 } from 'node:net'

/** The IPv6 prefix length the per-IP gate counts by, bits (as express-rate-limit's `ipv6Subnet`). */
export const DEFAULT_IPV6_SUBNET = 56
export const MIN_IPV6_SUBNET = 32
export const MAX_IPV6_SUBNET = 128

/**
 * An address as the per-IP gate's key, the same for every spelling of one address. A request
 * without an address (`app.injectWS`) is `''`; an IPv4 address is kept as it is; an address
 * with a port (`[2001:db8::1]:443`, `203.0.113.7:51234`, as some proxies write
 * `X-Forwarded-For`) is its address; other text that is no IP address is kept as it is when
 * short and printable, else keyed by its digest. An IPv6 address is parsed (its zone
 * dropped), then:
 * - one that carries an IPv4 client (IPv4-mapped `::ffff:a.b.c.d`, SIIT's `::ffff:0:a.b.c.d`,
 *   NAT64's well-known `64:ff9b::a.b.c.d`) is that IPv4 address: a dual-stack socket or a
 *   translator in front of the server does not merge every IPv4 client into one prefix;
 * - one whose prefix is shared by unrelated clients (Teredo `2001:0::/32`, NAT64's local-use
 *   `64:ff9b:1::/48`, `::/96`) is the whole address;
 * - any other counts by its first `ipv6Subnet` bits (`2001:db8:1:ab00::/56`): one end site
 *   holds a /64 or more, so keyed by whole address a single client could use a new key on
 *   every attempt.
 */
export function ipKey (ip: string | undefined, ipv6Subnet: number): string {
  if (ip === undefined) return ''
  if (isIPv4(ip)) return ip
  if (!isIPv6(ip)) {
    // A proxy that writes the client's port as well would make each connection a key of its own.
    const m = WITH_PORT.exec(ip)
    const address = m === null ? undefined : m[1] ?? m[2]
    return address !== undefined && isIP(address) !== 0 ? ipKey(address, ipv6Subnet) : boundedText(ip)
  }
  const g = hextets(ip)
  const ipv4 = embeddedIPv4(g)
  if (ipv4 !== undefined) return ipv4
  if (ipv6Subnet === MAX_IPV6_SUBNET || sharedPrefix(g)) return g.map((x) => x.toString(16)).join(':')
  const whole = Math.floor(ipv6Subnet / 16)
  const rest = ipv6Subnet % 16
  const kept = g.slice(0, whole)
  if (rest !== 0) kept.push((g[whole] as number) & (0xffff << (16 - rest)) & 0xffff)
  // The prefix in the shortest form that is still unambiguous: the kept groups, then `::`.
  return `${kept.map((x) => x.toString(16)).join(':')}::/${ipv6Subnet}`
}

/** The longest text that is no address kept as a key as it is; longer (or unprintable) text is keyed by its digest. */
export const MAX_TEXT_KEY = 64
const PRINTABLE = /^[\x21-\x7e ]*$/

/**
 * Text that is no address (a proxy's header, or with `trustProxy: true` whatever a client
 * wrote in `X-Forwarded-For`, up to the 16 KB head): kept when short and printable, else its
 * SHA-256 (`#` + base64url), so each of the gate's `maxTrackedKeys` holds at most a few dozen
 * bytes, however long the text.
 */
function boundedText (text: string): string {
  return text.length <= MAX_TEXT_KEY && PRINTABLE.test(text) ? text : `#${createHash('sha256').update(text).digest('base64url')}`
}

/** An address with a port, as some proxies write `X-Forwarded-For`: `[2001:db8::1]:443`, `[2001:db8::1]`, `203.0.113.7:51234`. */
const WITH_PORT = /^\[([^\]]{1,64})\](?::\d{1,5})?$|^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/

const zero = (g: number[], from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0)

/** The IPv4 client an IPv6 address stands for, dotted, if it is one of the translation forms. */
function embeddedIPv4 (g: number[]): string | undefined {
  const mapped = zero(g, 0, 5) && g[5] === 0xffff
  const translated = zero(g, 0, 4) && g[4] === 0xffff && g[5] === 0
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && zero(g, 2, 6)
  if (!mapped && !translated && !nat64) return undefined
  const [hi, lo] = [g[6] as number, g[7] as number]
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
}

/** Prefixes that unrelated clients share: Teredo, NAT64's local-use prefix, `::/96`. */
function sharedPrefix (g: number[]): boolean {
  return (g[0] === 0x2001 && g[1] === 0) || (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) || zero(g, 0, 6)
}

/** The eight 16-bit groups of a valid IPv6 address (`isIPv6`), a zone or an embedded IPv4 allowed. */
function hextets (ip: string): number[] {
  const zone = ip.indexOf('%')
  let text = zone === -1 ? ip : ip.slice(0, zone)
  const lastColon = text.lastIndexOf(':')
  const v4 = text.slice(lastColon + 1)
  if (v4.includes('.')) {
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map((h) => parseInt(h, 16))
  const left = parse(head)
  if (tail === undefined) return left
  const right = parse(tail)
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right]
}
