import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { publishRejection } from './channels.js'
import { sendRejection } from './rejection.js'

/** How a plugin tells its governed handshakes from the ones its route hooks never saw. */
export interface UngovernedRouteGuard {
  /** the plugin's name, for the log line and the rejection channel */
  readonly source: string
  /** a phase that runs after the plugin's own route-level hook */
  readonly phase: 'preValidation' | 'preHandler'
  /** whether the plugin's route-level hook has dealt with this request (cheap: runs on every handshake) */
  readonly handled: (request: FastifyRequest) => boolean
  /** whether the route asks not to be governed, or has nothing for the plugin; read only for unhandled handshakes */
  readonly exempt: (routeConfig: Readonly<Record<string | symbol, unknown>> | undefined) => boolean
  /** what such a route would miss, for the log line (e.g. `it has no authentication`) */
  readonly consequence: string
  /** how a route opts out, for the log line (e.g. `config.auth: false`) */
  readonly optOut?: string
}

/**
 * Refuses the handshakes of websocket routes added before the plugin. A plugin finds its
 * routes in `onRoute`, which only runs for routes added after it, so an earlier route would
 * silently go ungoverned (unauthenticated, never expiring, its topic unchecked). An
 * instance-level hook reaches every route of the context, earlier ones and those of child
 * contexts too: this one answers 503 `WSG_UNAVAILABLE` (a check that cannot run denies),
 * publishes the rejection with detail `route-not-governed`, and logs the route once.
 */
export function refuseUngovernedRoutes (fastify: FastifyInstance, guard: UngovernedRouteGuard): void {
  const said = new Set<string>()
  const optOut = guard.optOut === undefined ? '' : ` (or set ${guard.optOut} on it)`
  fastify.addHook(guard.phase, function wsguardUngovernedRoute (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    if ((request as { ws?: boolean }).ws !== true || guard.handled(request)) return done()
    const { config, url } = request.routeOptions
    if (guard.exempt(config as unknown as Readonly<Record<string | symbol, unknown>> | undefined)) return done()
    const route = url as string // a matched route always has its pattern
    if (!said.has(route)) {
      said.add(route)
      fastify.log.error({ route }, `${guard.source}: websocket route ${route} was added before the plugin, so ${guard.consequence}; its handshakes are refused. Register the plugin before the route${optOut}.`)
    }
    sendRejection(reply, 'WSG_UNAVAILABLE')
    publishRejection(guard.source, request, route, 'WSG_UNAVAILABLE', 0, 'route-not-governed', request.principal)
  })
}
