import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { publishRejection } from './channels.js'
import { sendRejection } from './rejection.js'
import type { Principal } from './principal.js'

/** How a plugin tells its governed handshakes from the ones its route hooks never saw. */
export interface UngovernedRouteGuard {
  /** the plugin's name, for the log line and the rejection channel */
  readonly source: string
  /** a phase that runs after the plugin's own route-level hook */
  readonly phase: 'preValidation' | 'preHandler'
  /**
   * whether the plugin's route-level hook admitted this request: a positive mark the hook
   * set (e.g. core's `requestMark`), never the absence of a value (cheap: runs on every
   * handshake)
   */
  readonly handled: (request: FastifyRequest) => boolean
  /** whether the route asks not to be governed, or has nothing for the plugin; read only for unhandled handshakes */
  readonly exempt: (routeConfig: Readonly<Record<string | symbol, unknown>> | undefined) => boolean
  /**
   * whether `exempt` also holds on a websocket route the plugin never saw added (told only by
   * `schema.hide`, which an app may set on a plain route): true where it means "nothing here for
   * the plugin" (topic-authz: no topic config); default false, where it is an opt-out the app
   * writes (`config.auth: false`), which then holds only on a route recorded after the plugin
   */
  readonly exemptUnseen?: boolean
  /** what such a route would miss, for the log line (e.g. `it has no authentication`) */
  readonly consequence: string
  /** how a route opts out, for the log line (e.g. `config.auth: false`) */
  readonly optOut?: string
}

/**
 * Set on the config of every route added after a guarding plugin: `true` for a websocket route
 * (either form), `false` for any other. Private to this module, so no app config can carry it.
 */
const kWebsocketRoute = Symbol('@wsguard/core.websocketRoute')

/**
 * What the request's route is. A route added after the plugin carries the guard's own mark,
 * whatever else its options say (a plain route may set `schema.hide` to stay out of API docs).
 * A route without it (added before the plugin, or whose config a later `onRoute` hook replaced
 * without its symbol keys) is judged by `schema.hide`, which `@fastify/websocket` (11) sets on
 * every `websocket: true` route, but also on a schema object such a route shares, and which an
 * app may set: such an "unseen websocket" route is never let through on its opt-out. An earlier
 * `{ handler, wsHandler }` route carries no mark at all and cannot be told from a plain route.
 */
function routeKind (request: FastifyRequest): 'websocket' | 'plain' | 'unseen websocket' {
  const { schema, config } = request.routeOptions
  const marked = (config as unknown as Record<symbol, unknown> | undefined)?.[kWebsocketRoute]
  if (marked !== undefined) return marked === true ? 'websocket' : 'plain'
  return (schema as { hide?: unknown } | undefined)?.hide === true ? 'unseen websocket' : 'plain'
}

interface RouteOptionsLike { websocket?: unknown, wsHandler?: unknown, config?: unknown }

function markRoute (routeOptions: RouteOptionsLike): void {
  const websocket = routeOptions.websocket === true || typeof routeOptions.wsHandler === 'function'
  const config = (routeOptions.config ?? {}) as Record<string | symbol, unknown>
  // Fastify copies config (symbol keys included) into the route's context; the app's object is not mutated.
  if (config[kWebsocketRoute] !== websocket) routeOptions.config = { ...config, [kWebsocketRoute]: websocket }
}

/**
 * Refuses the handshakes of websocket routes added before the plugin. A plugin finds its
 * routes in `onRoute`, which only runs for routes added after it, so an earlier route would
 * silently go ungoverned (unauthenticated, never expiring, its topic unchecked). An
 * instance-level hook reaches every route of the context, earlier ones and those of child
 * contexts too, at any depth of encapsulation:
 *
 * - an upgrade to a `websocket: true` route the plugin did not admit gets 503
 *   `WSG_UNAVAILABLE` (a check that cannot run denies), published with detail
 *   `route-not-governed`, and the route is logged once;
 * - an upgrade to any other route (a plain HTTP route, which `@fastify/websocket` would upgrade
 *   only to close, logging its URL, or a `{ handler, wsHandler }` route added before the
 *   plugin, which nothing tells apart at request time) gets 400 `WSG_BAD_REQUEST` before the
 *   upgrade, published with detail `not-a-websocket-route`, with no log line (most such routes
 *   are plain ones), whatever its config: an opt-out (`exempt`) is read on websocket routes only;
 * - a plain request (no upgrade) to a route that asked for its HTTP requests to be governed
 *   (`config.governHttp: true`) and that the plugin did not admit gets 503 `WSG_UNAVAILABLE`
 *   too (not published: it is no handshake), and the route is logged once;
 * - other requests that are not upgrades, upgrades to unknown paths (404) and to HEAD-only
 *   routes (the twin Fastify adds for a GET route; never upgraded) are left alone.
 */
export function refuseUngovernedRoutes (fastify: FastifyInstance, guard: UngovernedRouteGuard): void {
  fastify.addHook('onRoute', markRoute)
  const said = new Set<string>()
  // An opt-out holds only on a route the plugin saw added: the way out is the same, register first.
  const optOut = guard.optOut === undefined ? '' : ` (then ${guard.optOut} opts it out)`

  const saidHttp = new Set<string>()

  /**
   * A plain request is governed only on a route that asked (`config.governHttp: true`), and
   * only websocket routes can ask, which are GET routes and their HEAD twins: any other
   * method never reads the route's options (a getter that builds an object per call).
   */
  function refuseHttp (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || guard.handled(request)) return done()
    const { config, url } = request.routeOptions
    const routeConfig = config as unknown as Readonly<Record<string | symbol, unknown>> | undefined
    if (url === undefined || routeConfig?.governHttp !== true || guard.exempt(routeConfig)) return done()
    if (!saidHttp.has(url)) {
      saidHttp.add(url)
      fastify.log.error({ route: url }, `${guard.source}: route ${url} asks for its HTTP requests to be governed (config.governHttp) but was added before the plugin, so ${guard.consequence}; its requests are refused. Register the plugin before the route${optOut}.`)
    }
    // Not a handshake: answered, not published on the handshake channel.
    sendRejection(reply, 'WSG_UNAVAILABLE')
  }

  fastify.addHook(guard.phase, function wsguardUngovernedRoute (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    if ((request as { ws?: boolean }).ws !== true) return refuseHttp(request, reply, done)
    if (guard.handled(request)) return done()
    const { config, url, method } = request.routeOptions
    // No route (404), or a HEAD-only route: @fastify/websocket never hands either to the
    // upgrade. A route declared for ['GET', 'HEAD'] hands a HEAD upgrade to ws (which answers
    // 405 today); it is guarded like a GET rather than trusted to that.
    if (url === undefined || method === 'HEAD') return done()
    // Before the opt-out is read: a plain route's config may hold the same key (an app's own
    // `auth: false` on its public routes), and @fastify/websocket would upgrade it, only to
    // close it, logging its URL (a query token with it) under a key no serializer redacts.
    const kind = routeKind(request)
    if (kind === 'plain') {
      // Refused before the upgrade: once upgraded, @fastify/websocket would call the route's
      // wsHandler whatever a 'connection' listener did to the socket.
      sendRejection(reply, 'WSG_BAD_REQUEST')
      publishRejection(guard.source, request, url, 'WSG_BAD_REQUEST', 0, 'not-a-websocket-route', request.principal)
      return
    }
    // An opt-out holds only on a route the plugin saw as a websocket route.
    if ((kind === 'websocket' || guard.exemptUnseen === true) && guard.exempt(config as unknown as Readonly<Record<string | symbol, unknown>> | undefined)) return done()
    if (!said.has(url)) {
      said.add(url)
      fastify.log.error({ route: url }, `${guard.source}: websocket route ${url} was added before the plugin, so ${guard.consequence}; its handshakes are refused. Register the plugin before the route${optOut}.`)
    }
    sendRejection(reply, 'WSG_UNAVAILABLE')
    publishRejection(guard.source, request, url, 'WSG_UNAVAILABLE', 0, 'route-not-governed', request.principal)
  })
}

/** What `refuseLostRouteState` says of a route and remembers. */
export interface LostRouteState {
  /** the plugin's name, for the log line and the rejection channel */
  readonly source: string
  /** the route's URL pattern */
  readonly route: string
  /** what the plugin kept on the route's config, for the log line (e.g. `its authentication rules`) */
  readonly what: string
  /** the routes already logged (one set per plugin registration) */
  readonly said: Set<string>
  /** when the plugin's hook began (`performance.now()`, 0 when nobody listens), for the published duration */
  readonly started: number
  /** the principal, where one was verified before the refusal */
  readonly principal: Principal | null
}

/**
 * For a plugin's route hook that finds its route's config without what its `onRoute` hook put
 * there under symbol keys (an app's `onRoute` hook added after the plugin replaced config
 * without them: `structuredClone`, JSON): the route's checks could not all run, on the
 * handshake or on an in-band refresh, so it is refused with 503 `WSG_UNAVAILABLE`, an upgrade's
 * refusal is published with detail `route-not-governed`, and the route is logged once at `error`.
 */
export function refuseLostRouteState (request: FastifyRequest, reply: FastifyReply, lost: LostRouteState): void {
  const { source, route, said } = lost
  if (!said.has(route)) {
    said.add(route)
    request.log.error({ route }, `${source}: route ${route} lost ${lost.what} from its config (an onRoute hook added after the plugin replaced config without its symbol keys); its handshakes are refused. Keep config's symbol keys (spread it) in that hook.`)
  }
  sendRejection(reply, 'WSG_UNAVAILABLE')
  if ((request as { ws?: boolean }).ws === true) publishRejection(source, request, route, 'WSG_UNAVAILABLE', lost.started, 'route-not-governed', lost.principal)
}
