import { CloseCode, errorCatalogue } from '@wsguard/core'

// Label values that come from a client must come from a bounded set: every distinct value is
// a series prom-client keeps for the life of the process.

/** What a label value outside its bounded set becomes. */
export const OTHER = 'other'

// The standard codes ws can report (1000-1015; 1005 and 1006 it makes itself), and wsguard's.
const CLOSE_CODES = new Map<number, string>()
for (let code = 1000; code <= 1015; code++) CLOSE_CODES.set(code, String(code))
for (const code of Object.values(CloseCode)) CLOSE_CODES.set(code, String(code))

const WSGUARD_CLOSE_CODES = new Set<number>(Object.values(CloseCode).filter((code) => code >= 4000))

/**
 * A close code as a label: one wsguard or the WebSocket standard knows, else `other` (a client
 * picks any of 1000-4999). wsguard's own codes (4400-4429) are theirs only when the server
 * closed: a client that closes with 4401 or 4403 is `other`, never an expiry or a revocation.
 */
export function closeCodeLabel (code: number, closedBy: 'server' | 'peer'): string {
  if (closedBy === 'peer' && WSGUARD_CLOSE_CODES.has(code)) return OTHER
  return CLOSE_CODES.get(code) ?? OTHER
}

/** A route as a label: a route pattern; `''` when the message has none (an unmatched URL). */
export function routeLabel (route: unknown): string {
  return typeof route === 'string' ? route : ''
}

/** A `WSG_*` code as a label: one of core's error catalogue, else `other`. */
export function codeLabel (code: unknown): string {
  return typeof code === 'string' && Object.hasOwn(errorCatalogue, code) ? code : OTHER
}

/** Distinct values kept per capped label (`action`, `reason`, `by`); later ones are `other`. */
export const MAX_LABEL_VALUES = 32
/** The longest value kept as a capped label, or written to an audit line as is. */
export const MAX_LABEL_LENGTH = 64

/**
 * Values of a label whose set telemetry cannot know: the first `MAX_LABEL_VALUES` distinct
 * strings of at most `MAX_LABEL_LENGTH` characters keep their name, any other is `other`.
 * topic-authz publishes only its configured actions (and `[unknown]`), but telemetry cannot
 * read that list, and it does not trust a publisher to keep any set short.
 */
export class CappedLabel {
  readonly #kept = new Set<string>()

  label (value: unknown): string {
    if (typeof value !== 'string' || value.length > MAX_LABEL_LENGTH) return OTHER
    if (this.#kept.has(value)) return value
    if (this.#kept.size >= MAX_LABEL_VALUES) return OTHER
    this.#kept.add(value)
    return value
  }
}

/** An action as an audit line carries it: cut past `MAX_LABEL_LENGTH` characters (ending in `…`). */
export function auditAction (action: unknown): string {
  if (typeof action !== 'string') return OTHER
  return action.length <= MAX_LABEL_LENGTH ? action : `${action.slice(0, MAX_LABEL_LENGTH)}…`
}

// Characters a log viewer may not show as themselves: controls (C0, DEL, C1 such as NEL, which
// some viewers break a line at), format characters (bidirectional overrides, zero-width ones)
// and the line and paragraph separators. JSON escapes only C0.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu
const ONLY_VISIBLE_ASCII = /^[\x20-\x7e]*$/

/**
 * Text a client chose (an Origin, a close reason, a topic), as an audit line carries it: each
 * character a log viewer could hide or turn (a right-to-left override, a line separator, NEL)
 * written as its `\u` escape in the text, so the line reads as what was sent.
 */
export function visibleText<T extends string | undefined> (text: T): T {
  if (text === undefined || ONLY_VISIBLE_ASCII.test(text)) return text
  return text.replace(HIDDEN, (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`) as T
}
