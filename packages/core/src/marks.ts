import type { FastifyInstance, FastifyRequest } from 'fastify'

/** A positive mark a plugin sets on the requests its route hook admitted (see `requestMark`). */
export interface RequestMark {
  /** marks the request */
  set (request: FastifyRequest): void
  /** whether this mark was set on the request: `false` for any request it was not set on */
  has (request: FastifyRequest): boolean
}

/**
 * For plugins: a mark that only this call's holder can set, kept on the request itself under
 * a symbol of its own and decorated (`false`) on `fastify`, so every request of the contexts
 * that see the decorator starts with it and keeps one shape. A request of a context created
 * before the decorator lacks the property and reads `undefined`: `has()` compares with
 * `true`, so a missing decorator reads "not marked", never "marked". Cheaper than a
 * `WeakSet` of requests, whose entries the garbage collector has to walk as ephemerons.
 */
export function requestMark (fastify: FastifyInstance, description: string): RequestMark {
  const key = Symbol(description)
  fastify.decorateRequest(key, false)
  return {
    set (request) { (request as unknown as Record<symbol, boolean>)[key] = true },
    has (request) { return (request as unknown as Record<symbol, unknown>)[key] === true }
  }
}
