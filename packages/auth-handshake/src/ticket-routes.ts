import FindMyWay from 'find-my-way'
import type { FastifyInstance } from 'fastify'
import type { RouteRules } from './route-rules.js'

/** The longest path a ticket request may name. */
export const MAX_TICKET_PATH = 2048
// A path as a request line carries it: printable ASCII, no query or fragment.
const PATH = /^\/[\x21-\x22\x24-\x3e\x40-\x7e]*$/

/**
 * The governed websocket routes that accept tickets, found by a concrete path (`/orders/acme`
 * finds `/orders/:tenant`) with Fastify's own router, set as the app's is.
 */
export class TicketRoutes {
  readonly #router: FindMyWay.Instance<FindMyWay.HTTPVersion.V1>

  constructor (fastify: FastifyInstance) {
    const { caseSensitive, ignoreTrailingSlash, ignoreDuplicateSlashes, maxParamLength } = fastify.initialConfig
    // The app's router has accepted every route already: nothing is refused here.
    this.#router = FindMyWay({ caseSensitive, ignoreTrailingSlash, ignoreDuplicateSlashes, maxParamLength, allowUnsafeRegex: true })
  }

  /** A route that accepts tickets. Of two on one path (other constraints), the first added is kept. */
  add (url: string, rules: RouteRules): void {
    if (!this.#router.hasRoute('GET', url)) this.#router.on('GET', url, noop, rules)
  }

  /** The rules of the route a ticket request's path names, or `undefined` when it names none. */
  find (path: unknown): RouteRules | undefined {
    if (typeof path !== 'string' || path.length > MAX_TICKET_PATH || !PATH.test(path)) return undefined
    return this.#router.find('GET', path)?.store as RouteRules | undefined
  }
}

// find-my-way wants a handler; a lookup reads the route's store and never calls it.
/* c8 ignore next */
function noop (): void {}
