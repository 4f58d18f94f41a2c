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
  'headers["sec-websocket-protocol"]'
])

export const REDACTED = '[REDACTED]'

/**
 * Replaces the value of each named query parameter in a URL path with `[REDACTED]`.
 * Returns the input unchanged (same string) when no such parameter is present.
 */
export function redactQuery (url: string, params: readonly string[]): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  let changed = false
  const parts = url.slice(q + 1).split('&')
  for (let i = 0; i < parts.length; i++) {
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
  return changed ? `${url.slice(0, q)}?${parts.join('&')}` : url
}
