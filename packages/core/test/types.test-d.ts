// Type tests, checked by the root `tsc` (typecheck); never run.
import Fastify from 'fastify'
import { refuseUngovernedRoutes, type UngovernedRouteGuard } from '../src/index.js'

const app = Fastify()
const guard: UngovernedRouteGuard = {
  source: '@wsguard/example',
  phase: 'preHandler',
  handled: (request) => request.principal !== null,
  exempt: (routeConfig) => routeConfig?.auth === false,
  consequence: 'it has no authentication',
  optOut: 'config.auth: false'
}
refuseUngovernedRoutes(app, guard)
refuseUngovernedRoutes(app, { ...guard, phase: 'preValidation', optOut: undefined })

// @ts-expect-error the guard runs after the route hooks it checks: not in onRequest
const early: UngovernedRouteGuard = { ...guard, phase: 'onRequest' }
// @ts-expect-error handled answers a boolean
const vague: UngovernedRouteGuard = { ...guard, handled: () => 'yes' }
// @ts-expect-error the words for the log line are required
const silent: UngovernedRouteGuard = { source: 'x', phase: 'preHandler', handled: () => true, exempt: () => false }

export { early, vague, silent }
