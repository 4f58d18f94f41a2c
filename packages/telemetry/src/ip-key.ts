import { isIPv6 } from 'node:net'

/** The IPv6 prefix length the per-IP gate counts by, bits (as express-rate-limit's `ipv6Subnet`). */
export const DEFAULT_IPV6_SUBNET = 56
export const MIN_IPV6_SUBNET = 32
export const MAX_IPV6_SUBNET = 128

/**
 * An address as the per-IP gate's key. An IPv4 client seen by a dual-stack socket
 * (`::ffff:10.0.0.1`) is the same client as `10.0.0.1`. An IPv6 address counts by its first
 * `ipv6Subnet` bits (`2001:db8:1:ab00::/56`): one end site holds a /64 or more, so keyed by
 * whole address a single client could use a new key on every attempt. A request without an
 * address (`app.injectWS`) is `''`; text that is no IP address (a proxy's header, with
 * `trustProxy`) is kept as it is.
 */
export function ipKey (ip: string | undefined, ipv6Subnet: number): string {
  if (ip === undefined) return ''
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7)
  if (ipv6Subnet === MAX_IPV6_SUBNET || !isIPv6(ip)) return ip
  const groups = hextets(ip)
  const whole = Math.floor(ipv6Subnet / 16)
  const rest = ipv6Subnet % 16
  const kept = groups.slice(0, whole)
  if (rest !== 0) kept.push((groups[whole] as number) & (0xffff << (16 - rest)) & 0xffff)
  // The prefix in the shortest form that is still unambiguous: the kept groups, then `::`.
  return `${kept.map((g) => g.toString(16)).join(':')}::/${ipv6Subnet}`
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
