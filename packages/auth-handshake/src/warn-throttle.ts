import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '@wsguard/core'
import { describeFailure } from './failures.js'

/** Least time between two warnings of one kind about a failing dependency, ms. */
export const WARN_EVERY_MS = 30_000

/**
 * A warning said at most once per `WARN_EVERY_MS`: a store or service that fails fails for
 * every request, and one log line per request would bury everything else (and cost as much).
 */
export class ThrottledWarning {
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger
  #warnedAt = Number.NEGATIVE_INFINITY

  constructor (clock: Clock, log: FastifyBaseLogger) {
    this.#clock = clock
    this.#log = log
  }

  warn (message: string, err?: unknown): void {
    const now = this.#clock.now()
    if (now - this.#warnedAt < WARN_EVERY_MS) return
    this.#warnedAt = now
    this.#log.warn(err === undefined ? {} : { error: describeFailure(err) }, `wsguard: ${message}`)
  }
}
