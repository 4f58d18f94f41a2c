import { invalidOption } from './errors.js'

interface RouteLike { readonly config?: unknown, readonly method: unknown, readonly url: string }

/**
 * Whether a websocket route asks for its plain HTTP requests to be governed too
 * (`config.governHttp: true`), read once in a plugin's `onRoute`. By default only the upgrade
 * is: the `handler` of a `{ handler, wsHandler }` route (mercurius's `GET /graphql`) answers
 * plain HTTP requests untouched. Any other value than a boolean fails registration.
 */
export function governsHttp (routeOptions: RouteLike): boolean {
  const value = (routeOptions.config as { governHttp?: unknown } | undefined)?.governHttp
  if (value === undefined || value === false) return false
  if (value === true) return true
  throw invalidOption(`route ${String(routeOptions.method)} ${routeOptions.url}: config.governHttp must be a boolean`)
}
