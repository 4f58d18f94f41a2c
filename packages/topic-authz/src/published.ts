/** What a published decision carries for an action outside the plugin's `actions`. */
export const UNKNOWN_ACTION_LABEL = '[unknown]'

/** What a published decision carries instead of a topic shaped like a credential. */
export const REDACTED_TOPIC = '[redacted: looks like a token]'

/**
 * A base64url run at least this long is taken for a credential: 43 characters are 32 bytes,
 * the shortest JWS signature (HS256) and the usual size of an opaque random token.
 */
export const LONG_BASE64URL_RUN = 43

/** JSON whitespace bytes looked past before a JWS header's `{`, and between `{` and `"`. */
const MAX_HEADER_WHITESPACE = 16

const DOT = 0x2e

/** The value of a base64url character, or -1. */
function sextet (c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41 // A-Z
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26 // a-z
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52 // 0-9
  if (c === 0x2d) return 62 // -
  if (c === 0x5f) return 63 // _
  return -1
}

const isJsonSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d

/**
 * Whether the base64url text from `start` (up to `end`) decodes to the start of a JSON object
 * with a member: optional whitespace, `{`, optional whitespace, `"`. That is how every JWS
 * (and JWE) header begins; `eyJ` is only its most common spelling.
 */
function headerAt (text: string, start: number, end: number): boolean {
  let bits = 0
  let nbits = 0
  let state = 0 // 0: before `{`, 1: after it
  let spaces = 0
  for (let i = start; i < end; i++) {
    bits = ((bits << 6) | sextet(text.charCodeAt(i))) & 0xfff
    nbits += 6
    if (nbits < 8) continue
    nbits -= 8
    const byte = (bits >> nbits) & 0xff
    if (isJsonSpace(byte)) {
      if (++spaces > MAX_HEADER_WHITESPACE) return false
    } else if (state === 0 && byte === 0x7b) {
      state = 1
      spaces = 0
    } else {
      return state === 1 && byte === 0x22
    }
  }
  return false
}

// A header's first character encodes the top six bits of `{`, a space, a tab, LF or CR.
const HEADER_FIRST = new Set([0x65, 0x49, 0x43, 0x44]) // e I C D

/** Whether a base64url run (followed by a dot) holds the start of a JWS header at some offset. */
function holdsHeader (text: string, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    if (HEADER_FIRST.has(text.charCodeAt(k)) && headerAt(text, k, end)) return true
  }
  return false
}

/**
 * Whether text looks like it carries a credential: a base64url run of `LONG_BASE64URL_RUN`
 * characters or more, or a run followed by a dot whose decoding (from any offset, so a glued
 * prefix such as `session-` does not hide it) begins like a JWS header. A compact JWS is
 * three base64url parts joined by dots, which the topic grammar reads as segments.
 */
export function looksLikeToken (text: string): boolean {
  let start = -1
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : -1
    if (c !== -1 && sextet(c) >= 0) {
      if (start < 0) start = i
      continue
    }
    if (start >= 0) {
      if (i - start >= LONG_BASE64URL_RUN) return true
      if (c === DOT && holdsHeader(text, start, i)) return true
      start = -1
    }
  }
  return false
}

/**
 * The topic as published: at most `max` characters, and never something shaped like a
 * token. Only the part that would be published is examined: a token that starts past it
 * cannot leak, and one that starts inside it is caught by its header or its length.
 */
export function publishedTopic (text: string, max: number): string {
  const shown = text.length > max ? text.slice(0, max) : text
  return looksLikeToken(shown) ? REDACTED_TOPIC : shown
}
