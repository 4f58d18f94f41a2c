import type { FastifyInstance, FastifyRequest } from 'fastify'
import { invalidOption, type Clock, type WsguardErrorCode } from '@wsguard/core'
import type { TokenFault } from './claims.js'
import { describeFailure } from './failures.js'
import type { IssuerConfig } from './issuer-options.js'
import type { KeyLogger } from './jwks.js'

/** Why the app's `@fastify/jwt` did not verify a token; `undefined` when it did. */
export type Verdict = undefined | { code: WsguardErrorCode, fault: TokenFault | 'unavailable' }

/** What this module reads of a registration's `fastify.jwt` decorator. */
interface JwtDecorator {
  verify: unknown
  lookupToken: unknown
  options: { decoratorName: string, verify?: { algorithms?: unknown } }
}

type VerifyMethod = (this: FastifyRequest, options: object, next: (err: unknown, user?: unknown) => void) => void

const EXPIRED: Verdict = { code: 'WSG_TOKEN_EXPIRED', fault: 'expired' }
const UNAVAILABLE: Verdict = { code: 'WSG_UNAVAILABLE', fault: 'unavailable' }
const invalid = (fault: TokenFault): Verdict => ({ code: 'WSG_TOKEN_INVALID', fault })
/** fast-jwt's and @fastify/jwt's refusals of a token; any other error is a verifier that failed. */
const TOKEN_REFUSALS: Record<string, Verdict> = {
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: EXPIRED,
  FAST_JWT_EXPIRED: EXPIRED,
  FAST_JWT_INACTIVE: invalid('not-yet-valid'),
  FAST_JWT_INVALID_ALGORITHM: invalid('algorithm'),
  FAST_JWT_MISSING_SIGNATURE: invalid('signature'),
  // get-jwks, the key function @fastify/jwt's README pairs it with: no key with the token's kid
  JWK_NOT_FOUND: invalid('unknown-key')
}
const VERIFICATION = invalid('verification')
/** Least time between two warnings about a failing verifier, ms. */
const WARN_EVERY_MS = 30_000

function isJwtDecorator (value: unknown): value is JwtDecorator {
  const v = value as Partial<JwtDecorator> | null | undefined
  return typeof v?.verify === 'function' && typeof v.lookupToken === 'function' && typeof v.options?.decoratorName === 'string'
}

/**
 * One issuer's tokens verified by the app's registered `@fastify/jwt`: its secret or key
 * function (e.g. `get-jwks`), its decode and verify options, its `trusted` check. It is
 * asked through the request method it decorates (`request.jwtVerify`, or a namespace's),
 * with the token wsguard found in whichever carrier, never reading the `Authorization`
 * header itself; the value it sets on `request.user` (its `decoratorName`) is put back.
 */
export class FastifyJwtVerifier {
  readonly #method: string
  readonly #decoratorName: string
  readonly #issuer: IssuerConfig
  readonly #clock: Clock
  readonly #log: KeyLogger
  #warnedAt = Number.NEGATIVE_INFINITY

  /** Finds the registration an issuer names; throws WSG_INVALID_OPTION, naming the option, when it cannot. */
  constructor (fastify: FastifyInstance, issuer: IssuerConfig, path: string, clock: Clock, log: KeyLogger) {
    const source = issuer.fastifyJwt as NonNullable<IssuerConfig['fastifyJwt']>
    const jwt = fastify.hasDecorator('jwt') ? (fastify as unknown as { jwt: unknown }).jwt : undefined
    if (typeof jwt !== 'object' || jwt === null) {
      throw invalidOption(`${path}.fastifyJwt: @fastify/jwt is not registered where @wsguard/auth-handshake is ` +
        '(register it first, in the same context or a parent)')
    }
    const { namespace } = source
    let registration: unknown = jwt
    if (namespace !== undefined) {
      registration = Object.hasOwn(jwt, namespace) ? (jwt as Record<string, unknown>)[namespace] : undefined
      if (!isJwtDecorator(registration)) throw invalidOption(`${path}.fastifyJwt.namespace: @fastify/jwt has no namespace ${JSON.stringify(namespace)}`)
    } else if (!isJwtDecorator(registration)) {
      throw invalidOption(`${path}.fastifyJwt: @fastify/jwt is registered with namespaces only ` +
        `(${Object.keys(jwt).join(', ')}): name one with fastifyJwt: { namespace }`)
    }
    this.#method = source.jwtVerify ?? (namespace === undefined ? 'jwtVerify' : `${namespace}JwtVerify`)
    if (!fastify.hasRequestDecorator(this.#method)) {
      throw invalidOption(`${path}.fastifyJwt: request.${this.#method} is not decorated; if @fastify/jwt was registered ` +
        'with a jwtVerify option, give the same name as fastifyJwt.jwtVerify')
    }
    const { decoratorName, verify } = registration.options
    this.#decoratorName = decoratorName
    // Its own algorithm list applies too: say so now if it leaves nothing of ours.
    const theirs = verify?.algorithms
    if (Array.isArray(theirs) && theirs.length > 0 && !issuer.algorithms.some((alg) => theirs.includes(alg))) {
      throw invalidOption(`${path}.algorithms: @fastify/jwt's verify.algorithms (${theirs.join(', ')}) allows none of ` +
        `${issuer.algorithms.join(', ')}`)
    }
    this.#issuer = issuer
    this.#clock = clock
    this.#log = log
  }

  /** Resolves (never rejects) once `@fastify/jwt` has verified the token, refused it, failed, or not answered in time. */
  verify (token: string, request: FastifyRequest): Promise<Verdict> {
    const holder = request as unknown as Record<string, unknown>
    const method = holder[this.#method] as VerifyMethod
    return new Promise<Verdict>((resolve) => {
      let settled = false
      const settle = (verdict: Verdict): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(verdict)
      }
      const timer = setTimeout(() => {
        settle(this.#failed(Object.assign(new Error(`no answer within ${this.#issuer.verifyTimeoutMs} ms`), { code: 'ETIMEDOUT' })))
      }, this.#issuer.verifyTimeoutMs)
      timer.unref()
      const before = holder[this.#decoratorName]
      const done = (err: unknown): void => {
        // Set in the same tick as this callback runs: nothing else reads it in between.
        holder[this.#decoratorName] = before
        settle(err === null || err === undefined ? undefined : this.#refusal(err))
      }
      try {
        // The nested form keeps the app's decode options (its key function reads the header they give).
        method.call(request, { verify: { extractToken: () => token } }, done)
      } catch (err) {
        done(err)
      }
    })
  }

  #refusal (err: unknown): Verdict {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') {
      const known = TOKEN_REFUSALS[code]
      if (known !== undefined) return known
      if (code.startsWith('FST_JWT_') || code.startsWith('FAST_JWT_')) return VERIFICATION
    }
    return this.#failed(err)
  }

  /** The verifier failed (its key function threw, a key fetch failed, no answer in time): 503, logged. */
  #failed (err: unknown): Verdict {
    const now = this.#clock.now()
    if (now - this.#warnedAt >= WARN_EVERY_MS) {
      this.#warnedAt = now
      this.#log.warn({ issuer: this.#issuer.issuer, error: describeFailure(err) },
        'wsguard: @fastify/jwt could not verify a token (its key function failed or did not answer); handshakes get 503')
    }
    return UNAVAILABLE
  }
}
