import { REDACTED } from '@wsguard/core'

/** What went wrong, for a log line: an error and its causes in words, and the innermost code. */
export interface FailureDescription {
  /** the messages of the error and of each of its causes, outermost first, joined by `: ` */
  message: string
  /** the innermost `code` (`ECONNREFUSED`, `ENOTFOUND`, `CERT_HAS_EXPIRED`, `ETIMEDOUT`, …), if any */
  code?: string
}

const MAX_DEPTH = 8
// A compact JWS however it got into a message: never logged.
const JWS = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g
// A URL however it got into a message (undici quotes the whole URL it refuses): logged as its
// origin and path only, never a user, password, query or fragment.
const URLS = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi
// A URL's user and password, whatever they hold (a quote, a space, `>`: a URL in a message need
// not be encoded), up to the last `@` before its path: removed before the URLs are cut.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/gi

/**
 * Describes a failure by its whole chain of causes. `fetch` rejects with a bare
 * `TypeError('fetch failed')` whose `cause` says what happened (connection refused, DNS,
 * TLS); logged as the error alone, the cause was lost. Anything shaped like a token is
 * replaced by `[REDACTED]`, and a URL cut to its origin and path: an app's key function may
 * put anything in its messages, and undici quotes a URL it refuses whole.
 */
export function describeFailure (err: unknown): FailureDescription {
  const messages: string[] = []
  let code: string | undefined
  let current: unknown = err
  for (let depth = 0; depth < MAX_DEPTH && current !== undefined && current !== null; depth++) {
    if (typeof current !== 'object') {
      messages.push(String(current))
      break
    }
    const { message, code: own, errors, cause } = current as { message?: unknown, code?: unknown, errors?: unknown, cause?: unknown }
    // An AggregateError (one connection attempt per address) has no message of its own.
    const text = typeof message === 'string' && message.length > 0
      ? message
      : Array.isArray(errors) ? errors.map((e) => String((e as { message?: unknown } | null)?.message)).join('; ') : ''
    if (text.length > 0 && !messages.includes(text)) messages.push(text)
    if (typeof own === 'string') code = own
    current = cause
  }
  const message = (messages.length === 0 ? 'unknown error' : messages.join(': ')).replace(USERINFO, '$1').replace(URLS, urlForLog).replace(JWS, REDACTED)
  return code === undefined ? { message } : { message, code }
}

function urlForLog (url: string): string {
  try {
    return loggableUrl(url)
  } catch {
    return REDACTED
  }
}

/** A URL as it may be logged: origin and path, never credentials, query or fragment. */
export function loggableUrl (url: string): string {
  const { origin, pathname } = new URL(url)
  return origin + pathname
}
