import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { publishRejection, sendRejection, slidingEstimate, STORE_UNAVAILABLE_HEADERS, type WindowCounter, type WindowCounts } from '@wsguard/core'
import type { RateWindow } from './options.js'
import type { StoreAnswer, StoreContext } from './store.js'
import { SlidingWindow } from './window.js'

export const SOURCE = '@wsguard/telemetry'
/** The Retry-After sent with 503 when a gate's counter store cannot answer, s (core's, for every store). */
export { STORE_UNAVAILABLE_RETRY_AFTER_S } from '@wsguard/core'

/** What a storm raises. */
export interface Storm { scope: 'ip' | 'principal', key: string, count: number, limit: number, request: FastifyRequest, route: string }

export interface GateOptions {
  readonly scope: 'ip' | 'principal'
  readonly limit: RateWindow
  readonly maxTrackedKeys: number
  readonly store: WindowCounter | undefined
  /** 'throttle' refuses a storm (429) and, when the store fails, the handshake (503) */
  readonly throttle: boolean
  readonly context: StoreContext
  readonly raise: (storm: Storm) => void
  /** when the handshake's first wsguard check started (`performance.now()`, 0 when not timed) */
  readonly started: (request: FastifyRequest) => number
}

/** One gated handshake. */
interface Attempt { key: string, route: string, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction }

/**
 * A reconnect-storm gate: handshakes per key (an IP, a principal) over a sliding window. It
 * always counts in this process's window (bounded by `maxTrackedKeys`); with a store it also
 * counts there, one command per handshake, and decides on the higher of the shared estimate
 * and its own. When the store lets it (`undefined`: fail-open) it decides on its own counts;
 * when the store fails (a throw, a rejection, no answer in time) a throttling gate refuses the
 * handshake with 503 and a logging gate decides on its own counts.
 */
export class StormGate {
  readonly #o: GateOptions
  readonly #window: SlidingWindow
  readonly #storeKey: string

  constructor (options: GateOptions) {
    this.#o = options
    this.#window = new SlidingWindow(options.limit.windowMs, options.maxTrackedKeys)
    this.#storeKey = `${options.scope} `
  }

  /** Counts a handshake for `key`; calls `done()` when it may go on, else answers it (429, 503). */
  check (key: string, route: string, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const { context, store, limit } = this.#o
    const now = context.clock.now()
    if (store === undefined) {
      // Without a store (the usual case) nothing waits: under the limit, nothing is built.
      if (this.#window.hit(key, now) <= limit.max) return done()
      return this.#decide(this.#window.add(key, now, 0), { key, route, request, reply, done })
    }
    const local = this.#window.add(key, now)
    const a: Attempt = { key, route, request, reply, done }
    const answer = context.ask(store, this.#storeKey + key, limit.windowMs, 1)
    if (answer instanceof Promise) answer.then((x) => { this.#settle(store, local, x, a) }).catch(done)
    else this.#settle(store, local, answer, a)
  }

  #settle (store: WindowCounter, local: WindowCounts, answer: StoreAnswer, a: Attempt): void {
    const { context, scope, throttle, limit } = this.#o
    if (answer instanceof Error || answer === undefined) {
      const refuse = answer instanceof Error && throttle
      context.failed(store, scope, refuse ? 'refused' : 'local', answer)
      if (!refuse) return this.#decide(local, a)
      sendRejection(a.reply, 'WSG_UNAVAILABLE', STORE_UNAVAILABLE_HEADERS)
      // A plain HTTP request (config.governHttp) is answered alike, but is no handshake to count.
      if (a.request.ws === true) publishRejection(SOURCE, a.request, a.route, 'WSG_UNAVAILABLE', this.#o.started(a.request), 'counter-store', a.request.principal)
      return
    }
    context.answered(store)
    // A store that lost its keys (Redis flushed or restarted) counts less than this process did.
    this.#decide(slidingEstimate(answer, limit.windowMs) >= slidingEstimate(local, limit.windowMs) ? answer : local, a)
  }

  #decide (counts: WindowCounts, a: Attempt): void {
    const { limit, scope, throttle } = this.#o
    const count = slidingEstimate(counts, limit.windowMs)
    if (count <= limit.max) return a.done()
    if (this.#window.firstReport(a.key, this.#o.context.clock.now())) {
      this.#o.raise({ scope, key: a.key, count: Math.round(count), limit: limit.max, request: a.request, route: a.route })
    }
    if (!throttle) return a.done()
    const retryAfter = Math.max(1, Math.ceil((limit.windowMs - counts.elapsedMs) / 1000))
    sendRejection(a.reply, 'WSG_RATE_LIMITED', { 'retry-after': String(retryAfter) })
    if (a.request.ws === true) publishRejection(SOURCE, a.request, a.route, 'WSG_RATE_LIMITED', this.#o.started(a.request), `reconnect-storm-${scope}`, a.request.principal)
  }
}
