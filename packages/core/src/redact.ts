/**
 * pino `redact` paths for the headers that carry credentials. Pass them to Fastify's
 * logger if the app logs request headers:
 * `Fastify({ logger: { redact: credentialRedactPaths } })`.
 */
export const credentialRedactPaths: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'headers.authorization',
  'headers.cookie',
  'headers["sec-websocket-protocol"]',
  // At trace level Fastify logs a request head it could not parse whole, credentials included.
  'err.rawPacket'
])

export const REDACTED = '[REDACTED]'

// Where a query string can start: Fastify's router (find-my-way) ends the path at the first
// `?` or `#`, or `;` with `useSemicolonDelimiter`. Parameters are then split on `&`.
const QUERY_START = /[?#;]/
// Every character that may separate parameters as one of those readings sees them.
const SEPARATORS = /([&?#;])/

/**
 * Replaces the value of each named query parameter in a URL path with `[REDACTED]`, wherever
 * a router could read the query from: after the first `?`, `#` or `;`, parameters separated
 * by any of `&`, `?`, `#`, `;`. Returns the input unchanged (same string) when no such
 * parameter is present.
 */
export function redactQuery (url: string, params: readonly string[]): string {
  const q = url.search(QUERY_START)
  if (q === -1) return url
  let changed = false
  // Odd indexes hold the separators themselves.
  const parts = url.slice(q + 1).split(SEPARATORS)
  for (let i = 0; i < parts.length; i += 2) {
    const part = parts[i] as string
    const eq = part.indexOf('=')
    const rawName = eq === -1 ? part : part.slice(0, eq)
    let name: string
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '))
    } catch {
      name = rawName
    }
    if (params.includes(name)) {
      parts[i] = `${rawName}=${REDACTED}`
      changed = true
    }
  }
  return changed ? `${url.slice(0, q + 1)}${parts.join('')}` : url
}
