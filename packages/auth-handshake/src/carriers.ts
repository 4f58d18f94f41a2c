import type { IncomingHttpHeaders } from 'node:http'
import type { WsguardErrorCode } from '@wsguard/core'
import { TICKET_PROTOCOL_PREFIX, TICKET_QUERY_PARAMETER, type AuthHandshakeConfig, type Carrier } from './options.js'

export interface Found {
  /** the token, or the one-time ticket (carrier `ticket`) */
  token: string
  carrier: Carrier
  /** whether it came in a `Sec-WebSocket-Protocol` entry (`bearer.`, `ticket.`), which must never be echoed */
  inProtocol: boolean
}

/** A credential, nothing (`null`), or the code of a malformed or forbidden presentation. */
export type CarrierResult = Found | null | WsguardErrorCode

const BEARER = /^bearer +(\S+) *$/i
// The scheme alone, however the rest is spelled (RFC 6750 §2.1: the scheme is case-insensitive).
const BEARER_SCHEME = /^\s*bearer(?![a-z0-9!#$%&'*+.^_`|~-])/i

export interface CarrierInput {
  headers: IncomingHttpHeaders
  rawHeaders: readonly string[]
  query: unknown
}

/**
 * Finds the one credential a handshake presents. Every carrier is looked at, enabled or
 * not: a credential in a disabled carrier is refused (400), never silently ignored, and
 * two credentials are ambiguous (400) even when they are the same token.
 */
export function findCredential (input: CarrierInput, config: AuthHandshakeConfig): CarrierResult {
  let found: Found | null = null
  const { carriers } = config

  const header = bearerHeader(input.headers, input.rawHeaders)
  if (typeof header === 'object') {
    if (!carriers.has('header')) return 'WSG_BAD_REQUEST'
    found = { token: header.token, carrier: 'header', inProtocol: false }
  } else if (header !== undefined) {
    return header
  }

  const protocols = input.headers['sec-websocket-protocol']
  if (protocols !== undefined) {
    const token = protocolEntry(protocols, config.subprotocolPrefix)
    if (token === false) return 'WSG_AMBIGUOUS_CREDENTIAL'
    if (token !== undefined) {
      if (!carriers.has('subprotocol')) return 'WSG_BAD_REQUEST'
      if (found !== null) return 'WSG_AMBIGUOUS_CREDENTIAL'
      found = { token, carrier: 'subprotocol', inProtocol: true }
    }
    // Tickets are looked for only where the app has them: elsewhere `ticket.` is any protocol's name.
    const ticket = carriers.has('ticket') ? protocolEntry(protocols, TICKET_PROTOCOL_PREFIX) : undefined
    if (ticket === false) return 'WSG_AMBIGUOUS_CREDENTIAL'
    if (ticket !== undefined) {
      if (found !== null) return 'WSG_AMBIGUOUS_CREDENTIAL'
      found = { token: ticket, carrier: 'ticket', inProtocol: true }
    }
  }

  const query = input.query as Record<string, unknown> | undefined
  const fromQuery = query?.[config.queryParameter]
  if (fromQuery !== undefined) {
    if (!carriers.has('query')) return 'WSG_BAD_REQUEST'
    if (found !== null || typeof fromQuery !== 'string') return 'WSG_AMBIGUOUS_CREDENTIAL'
    found = { token: fromQuery, carrier: 'query', inProtocol: false }
  }
  const ticketInQuery = carriers.has('ticket') ? query?.[TICKET_QUERY_PARAMETER] : undefined
  if (ticketInQuery !== undefined) {
    if (found !== null || typeof ticketInQuery !== 'string') return 'WSG_AMBIGUOUS_CREDENTIAL'
    found = { token: ticketInQuery, carrier: 'ticket', inProtocol: false }
  }

  if (carriers.has('cookie') && input.headers.cookie !== undefined) {
    const token = readCookie(input.headers.cookie, config.cookieName)
    if (token === false) return 'WSG_AMBIGUOUS_CREDENTIAL'
    if (token !== undefined) {
      if (found !== null) return 'WSG_AMBIGUOUS_CREDENTIAL'
      found = { token, carrier: 'cookie', inProtocol: false }
    }
  }
  return found
}

/**
 * The token of the `Authorization: Bearer` header: `{ token }`, `undefined` when there is no
 * Bearer header, or the code of an unreadable or ambiguous one.
 */
export function bearerHeader (headers: IncomingHttpHeaders, rawHeaders: readonly string[]): { token: string } | undefined | WsguardErrorCode {
  const authorization = headers.authorization
  if (authorization === undefined) return undefined
  // Node keeps only the first Authorization header; a proxy may read the last. Two of them,
  // whatever their schemes, are ambiguous (a Basic header must not hide a Bearer one).
  if (countRaw(rawHeaders, 'authorization') > 1) return 'WSG_AMBIGUOUS_CREDENTIAL'
  const m = BEARER.exec(authorization)
  if (m !== null) return { token: m[1] as string }
  // `Bearer<TAB>token`, `Bearer Bearer token`, `Bearer` alone: a bearer credential we
  // cannot read is malformed, never "no credential" (which would let another carrier in).
  return BEARER_SCHEME.test(authorization) ? 'WSG_BAD_REQUEST' : undefined
}

function countRaw (rawHeaders: readonly string[], name: string): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).length === name.length && (rawHeaders[i] as string).toLowerCase() === name) n++
  }
  return n
}

/** The token of the one entry with `prefix` (`bearer.`, `ticket.`); `undefined` if none, `false` if several. */
function protocolEntry (header: string, prefix: string): string | undefined | false {
  let token: string | undefined
  for (const entry of header.split(',')) {
    const p = entry.trim()
    if (p.length > prefix.length && p.slice(0, prefix.length).toLowerCase() === prefix) {
      if (token !== undefined) return false
      token = p.slice(prefix.length)
    }
  }
  return token
}

/**
 * Removes the credential entries (those starting with one of `prefixes`: `bearer.`, and
 * `ticket.` where tickets are on) so `ws` can never select (echo) one; the app's own
 * protocols stay.
 */
export function stripCredentialProtocols (headers: IncomingHttpHeaders, prefixes: readonly string[]): void {
  const header = headers['sec-websocket-protocol'] as string
  const kept = header.split(',').map((p) => p.trim()).filter((p) => !prefixes.some((prefix) => p.slice(0, prefix.length).toLowerCase() === prefix))
  if (kept.length === 0) delete headers['sec-websocket-protocol']
  else headers['sec-websocket-protocol'] = kept.join(', ')
}

/** Value of one named cookie; `undefined` if absent, `false` if present more than once. */
function readCookie (header: string, name: string): string | undefined | false {
  let value: string | undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue
    if (value !== undefined) return false
    let v = pair.slice(eq + 1).trim()
    if (v.length > 1 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
    value = v
  }
  return value === '' ? undefined : value
}
