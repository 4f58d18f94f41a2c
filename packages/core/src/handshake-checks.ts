import type { FastifyRequest } from 'fastify'
import type { WsguardErrorCode } from './errors.js'
import type { Principal } from './principal.js'

/**
 * A check a plugin applies at a route's handshake (auth-handshake's scope rules,
 * topic-authz's handshake topic, session-expiry's revocations, …). Each plugin registers
 * its checks on the routes it governs; an in-band refresh runs every one of them against
 * the new principal before it replaces the old one, so a refresh can never pass where the
 * same token would be refused at the route's handshake.
 */
export interface HandshakeCheck {
  /** the plugin that registered it, e.g. `@wsguard/topic-authz` */
  readonly source: string
  /**
   * `undefined`: the principal passes; a code: it is refused with that code. May answer
   * asynchronously; a check that throws or rejects refuses (the caller answers `WSG_UNAVAILABLE`).
   */
  check(request: FastifyRequest, principal: Principal): WsguardErrorCode | undefined | Promise<WsguardErrorCode | undefined>
}

/** Where a route's checks are kept: on its config, which Fastify copies (symbol keys included) into the route's context. */
const kHandshakeChecks = Symbol.for('@wsguard/core.handshakeChecks')

const NONE: readonly HandshakeCheck[] = Object.freeze([])

interface WithConfig { config?: unknown }

/**
 * Registers a check on a route, from a plugin's `onRoute` hook. Replaces `routeOptions.config`
 * with a copy that lists the check after those already registered (the app's config object
 * is never mutated).
 */
export function addHandshakeCheck (routeOptions: WithConfig, check: HandshakeCheck): void {
  const config = (routeOptions.config ?? {}) as Record<string | symbol, unknown>
  const existing = (config[kHandshakeChecks] as readonly HandshakeCheck[] | undefined) ?? NONE
  routeOptions.config = { ...config, [kHandshakeChecks]: Object.freeze([...existing, Object.freeze({ ...check })]) }
}

/** The checks registered on a request's route, in registration order. */
export function handshakeChecksOf (request: { readonly routeOptions: { readonly config?: unknown } }): readonly HandshakeCheck[] {
  const config = request.routeOptions.config as Record<string | symbol, unknown> | undefined
  return (config?.[kHandshakeChecks] as readonly HandshakeCheck[] | undefined) ?? NONE
}

const PASSED: Promise<undefined> = Promise.resolve(undefined)

/**
 * Runs every check registered on the request's route against `principal`, in order, and
 * resolves with the first refusal's code, or `undefined` when all pass. Rejects when a check
 * throws or rejects: the caller must refuse.
 *
 * Checks that answer synchronously are run without awaiting each: an in-band refresh runs
 * them all, and an `await` per check allocated about 1.4 KiB per refresh.
 */
export function runHandshakeChecks (request: FastifyRequest, principal: Principal): Promise<WsguardErrorCode | undefined> {
  return runFrom(handshakeChecksOf(request), 0, request, principal)
}

function runFrom (checks: readonly HandshakeCheck[], from: number, request: FastifyRequest, principal: Principal): Promise<WsguardErrorCode | undefined> {
  for (let k = from; k < checks.length; k++) {
    let code: ReturnType<HandshakeCheck['check']>
    let thenable: boolean
    try {
      code = (checks[k] as HandshakeCheck).check(request, principal)
      // Any thenable, not only a native promise, is waited for (its `then` read here: a getter may throw).
      thenable = typeof (code as { then?: unknown } | undefined)?.then === 'function'
    } catch (err) {
      return Promise.reject(err)
    }
    if (thenable) {
      return Promise.resolve(code).then((c) => c !== undefined ? c : runFrom(checks, k + 1, request, principal))
    }
    if (code !== undefined) return Promise.resolve(code)
  }
  return PASSED
}

/**
 * A store's answer as wsguard handles it: a value as is, any thenable (a Bluebird promise, a
 * promise of another realm, which `instanceof Promise` does not see) as a native promise, and a
 * `then` getter that throws as a rejection. Stores are typed to answer a `Promise`; this keeps a
 * thenable from being read as a value (an object is "revoked", a count it is added to is text).
 */
export function asNativePromise<T> (answer: T | PromiseLike<T>): T | Promise<T> {
  if (answer instanceof Promise || typeof answer !== 'object' || answer === null) return answer as T | Promise<T>
  try {
    if (typeof (answer as { then?: unknown }).then !== 'function') return answer as T
  } catch (err) {
    return Promise.reject(err)
  }
  return Promise.resolve(answer as PromiseLike<T>)
}
