const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])

/**
 * Whether keys may be fetched from this URL: `https:`, or `http:` on a loopback host (tests,
 * a local IdP). Used for configured URLs and for the `jwks_uri` a discovery document names.
 */
/** Whether a URL carries a user or password (`user:password@`): fetch refuses it, quoting it whole. */
export function hasUserinfo (url: URL): boolean {
  return url.username !== '' || url.password !== ''
}

export function isFetchableUrl (url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
}
