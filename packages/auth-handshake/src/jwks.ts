import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import type { Clock } from '@wsguard/core'
import { isJwsAlgorithm, keyFitsAlgorithm, type JwsAlgorithm } from './algorithms.js'
import type { IssuerConfig } from './issuer-options.js'
import { describeFailure, loggableUrl } from './failures.js'
import { TokenCache } from './token-cache.js'
import { hasUserinfo, isFetchableUrl } from './urls.js'

export type Verify = (token: string) => Record<string, unknown>

export interface VerifierSettings {
  cacheSize: number
  cacheTtlMs: number
  /** claims fast-jwt requires after the signature: an access token's, or a logout token's */
  requiredClaims: readonly string[]
}

interface KeyEntry {
  jwk: Record<string, unknown>
  pem: string
  verifiers: Map<JwsAlgorithm, Verify>
  verified: TokenCache<Record<string, unknown>>
}

export interface KeyLogger {
  warn(obj: object, msg: string): void
}

/** Thrown when an issuer's keys could not be loaded at all. */
export class KeysUnavailableError extends Error {}

const MAX_DOCUMENT_BYTES = 512 * 1024
const MIN_RSA_BITS = 2048

/**
 * The keys of one issuer. Keys are found by `kid` within this issuer only. An unknown
 * `kid` may refetch the key set, but only one fetch runs at a time and fetches are at
 * least `jwksCooldownMs` apart, so garbage tokens cannot make us hammer the IdP.
 */
export class IssuerKeys {
  readonly #config: IssuerConfig
  readonly #clock: Clock
  readonly #settings: VerifierSettings
  readonly #log: KeyLogger
  #byKid = new Map<string, KeyEntry>()
  #withoutKid: KeyEntry[] = []
  #jwksUri: string | undefined
  #fetchedAt = Number.NEGATIVE_INFINITY
  #loaded = false
  #inflight: Promise<void> | undefined

  constructor (config: IssuerConfig, clock: Clock, settings: VerifierSettings, log: KeyLogger) {
    this.#config = config
    this.#clock = clock
    this.#settings = settings
    this.#log = log
    this.#jwksUri = config.jwksUri
    if (config.jwks !== undefined) this.#install(config.jwks.keys)
  }

  get remote (): boolean {
    return this.#config.jwks === undefined
  }

  /** The verifier of the key a token names, or `undefined` when no known key fits. */
  verifierFor (kid: string | undefined, alg: JwsAlgorithm): Verify | undefined {
    let entry: KeyEntry | undefined
    if (kid !== undefined) {
      entry = this.#byKid.get(kid)
    } else {
      // Without a kid, only an unambiguous key may be used.
      const fits = this.#withoutKid.filter((e) => this.#fits(e, alg))
      if (fits.length === 1) entry = fits[0]
    }
    if (entry === undefined || !this.#fits(entry, alg)) return undefined
    let verify = entry.verifiers.get(alg)
    if (verify === undefined) {
      verify = this.#makeVerifier(entry, alg)
      entry.verifiers.set(alg, verify)
    }
    return verify
  }

  /** Refreshes in the background when the key set is older than `jwksMaxAgeMs`. */
  refreshIfStale (): void {
    if (this.remote && this.#loaded && this.#clock.now() - this.#fetchedAt > this.#config.jwksMaxAgeMs) {
      this.refresh().catch(() => {})
    }
  }

  /**
   * Fetches the key set unless a fetch is under way (then waits for it) or the last one
   * started less than `jwksCooldownMs` ago. Rejects only when no key set was ever loaded.
   */
  refresh (): Promise<void> {
    if (!this.remote) return Promise.resolve()
    if (this.#inflight !== undefined) return this.#inflight
    // The cooldown holds after failed fetches too: an IdP that is down is not hammered either.
    if (this.#clock.now() - this.#fetchedAt < this.#config.jwksCooldownMs) {
      return this.#loaded ? Promise.resolve() : Promise.reject(new KeysUnavailableError('keys unavailable'))
    }
    this.#fetchedAt = this.#clock.now()
    this.#inflight = this.#fetchKeys().then(
      (keys) => { this.#install(keys) },
      (err: unknown) => {
        // The cause in words (connection refused, DNS, TLS, timeout), never a URL's query.
        this.#log.warn({ issuer: this.#config.issuer, error: describeFailure(err) }, 'wsguard: could not fetch the issuer\'s keys')
        if (!this.#loaded) throw new KeysUnavailableError('keys unavailable')
      }
    ).finally(() => { this.#inflight = undefined })
    return this.#inflight
  }

  async #fetchKeys (): Promise<Array<Record<string, unknown>>> {
    if (this.#jwksUri === undefined) {
      const url = this.#config.issuer.replace(/\/$/, '') + '/.well-known/openid-configuration'
      const meta = await this.#getJson(url)
      if (meta.issuer !== this.#config.issuer) throw new Error('discovery document names another issuer')
      if (typeof meta.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri')
      const named = new URL(meta.jwks_uri)
      if (hasUserinfo(named)) throw new Error('jwks_uri carries a user or password')
      if (!isFetchableUrl(named)) throw new Error('jwks_uri is not https')
      this.#jwksUri = meta.jwks_uri
    }
    const set = await this.#getJson(this.#jwksUri)
    if (!Array.isArray(set.keys)) throw new Error('key set has no keys array')
    return set.keys as Array<Record<string, unknown>>
  }

  /**
   * One document, within `jwksTimeoutMs` from the request to the last byte of the body, and
   * within MAX_DOCUMENT_BYTES: the body is read as a stream and dropped at the cap, so a
   * hostile or broken server can neither fill memory nor hold a fetch open.
   */
  async #getJson (url: string): Promise<Record<string, unknown>> {
    // A timer we hold, not AbortSignal.timeout: on Node 20 a timeout signal nothing else
    // references can be collected mid-fetch, and a body that keeps flowing is then never cut.
    // Nor is our own signal enough: undici (Node 20's fetch) follows it through a WeakRef to
    // the controller of the Request it builds, which nothing holds once the headers are in
    // (nodejs/node#55428). After a collection our abort no longer reaches the fetch, and a key
    // server dripping its body held the handshake for the whole drip. So what we wait on (the
    // headers, then each chunk) is stopped by our own signal, which nothing of undici's holds.
    const controller = new AbortController()
    const { signal } = controller
    const timer = setTimeout(() => { controller.abort() }, this.#config.jwksTimeoutMs)
    timer.unref()
    const fetching = fetch(url, { signal, redirect: 'error', headers: { accept: 'application/json' } })
    let value: unknown
    try {
      const res = await Promise.race([fetching, abortOf(signal)])
      value = JSON.parse(await readCapped(res, signal))
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object')
    } catch (err) {
      // A response that comes after the timeout is not read: its connection is let go.
      if (signal.aborted) fetching.then(async (res) => { await res.body?.cancel() }).catch(noop)
      // Named by the document it was after; a timeout is ours (the abort's own error says nothing).
      const cause = signal.aborted
        ? Object.assign(new Error(`no complete document within ${this.#config.jwksTimeoutMs} ms`), { code: 'ETIMEDOUT' })
        : err
      throw new Error(`GET ${loggableUrl(url)}`, { cause })
    } finally {
      clearTimeout(timer)
    }
    return value as Record<string, unknown>
  }

  #install (keys: ReadonlyArray<Record<string, unknown>>): void {
    const byKid = new Map<string, KeyEntry>()
    const withoutKid: KeyEntry[] = []
    for (const jwk of keys) {
      const entry = this.#entry(jwk)
      if (entry === undefined) continue
      if (typeof jwk.kid === 'string') {
        // Keep the verifiers (and their verified-token caches) of keys we already had.
        const previous = this.#byKid.get(jwk.kid)
        byKid.set(jwk.kid, previous !== undefined && previous.pem === entry.pem ? previous : entry)
      } else {
        withoutKid.push(entry)
      }
    }
    this.#byKid = byKid
    this.#withoutKid = withoutKid
    this.#loaded = true
  }

  #entry (jwk: Record<string, unknown>): KeyEntry | undefined {
    if (typeof jwk !== 'object' || jwk === null) return undefined
    if (jwk.use !== undefined && jwk.use !== 'sig') return undefined
    if (jwk.alg !== undefined && !isJwsAlgorithm(jwk.alg)) return undefined
    if (!this.#config.algorithms.some((alg) => keyFitsAlgorithm(jwk, alg))) return undefined
    try {
      // Only the public members: a private JWK must not turn into a private key here.
      const { kty, crv, x, y, n, e } = jwk
      const key = createPublicKey({ key: { kty, crv, x, y, n, e } as JsonWebKey, format: 'jwk' })
      if (kty === 'RSA' && (key.asymmetricKeyDetails as { modulusLength: number }).modulusLength < MIN_RSA_BITS) return undefined
      return {
        jwk,
        pem: key.export({ type: 'spki', format: 'pem' }) as string,
        verifiers: new Map(),
        verified: new TokenCache(this.#settings.cacheSize, this.#settings.cacheTtlMs)
      }
    } catch {
      return undefined
    }
  }

  #fits (entry: KeyEntry, alg: JwsAlgorithm): boolean {
    return (entry.jwk.alg === undefined || entry.jwk.alg === alg) && keyFitsAlgorithm(entry.jwk, alg)
  }

  #makeVerifier (entry: KeyEntry, alg: JwsAlgorithm): Verify {
    const c = this.#config
    const clock = this.#clock
    // Time claims were already checked with the injected clock; fast-jwt checks the rest again.
    const verify = createVerifier({
      key: entry.pem,
      algorithms: [alg],
      allowedIss: c.issuer,
      allowedAud: [...c.audiences],
      requiredClaims: [...this.#settings.requiredClaims],
      ignoreExpiration: true,
      ignoreNotBefore: true,
      ...(c.typ !== undefined ? { checkTyp: c.typ } : {})
    }) as Verify
    const cache = entry.verified
    return (token) => {
      const now = clock.now()
      const key = cache.keyOf(token)
      const hit = cache.get(key, now)
      if (hit !== undefined) return hit
      const claims = verify(token)
      cache.set(key, claims, now)
      return claims
    }
  }
}

function noop (): void {}

/** A promise that rejects once `signal` aborts (it never settles otherwise). */
function abortOf (signal: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
  })
}

/** The body of a successful response as text, read no further than MAX_DOCUMENT_BYTES and no later than `signal` aborts. */
async function readCapped (res: Response, signal: AbortSignal): Promise<string> {
  const body = res.body
  if (!res.ok || body === null) {
    await body?.cancel()
    throw new Error(res.ok ? 'empty document' : `HTTP ${res.status}`)
  }
  if (Number(res.headers.get('content-length') ?? 0) > MAX_DOCUMENT_BYTES) {
    await body.cancel()
    throw new Error(`document larger than ${MAX_DOCUMENT_BYTES} bytes`)
  }
  const reader = body.getReader()
  // Cancelling ends the read under way (done) and closes the connection: one listener, not a race per chunk.
  const stop = (): void => { reader.cancel().catch(noop) }
  signal.addEventListener('abort', stop, { once: true })
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      signal.throwIfAborted()
      if (done) break
      size += value.byteLength
      if (size > MAX_DOCUMENT_BYTES) {
        await reader.cancel()
        throw new Error(`document larger than ${MAX_DOCUMENT_BYTES} bytes`)
      }
      chunks.push(value)
    }
  } finally {
    signal.removeEventListener('abort', stop)
  }
  return new TextDecoder().decode(Buffer.concat(chunks)) // UTF-8 without a BOM, as res.text() reads it
}
