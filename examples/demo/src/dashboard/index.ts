import { readFile } from 'node:fs/promises'
import type { FastifyInstance, FastifyReply, HTTPMethods } from 'fastify'
import { snapshot, type MetricsSource } from './snapshot.js'

export { reconnectStorm, MAX_STORM_COUNT, MAX_STORM_MS, type StormOptions, type StormResult } from './storm.js'
export { snapshot, quantile, ANOMALY_KINDS, MAX_ROWS, type DashboardSnapshot, type DurationBucket, type MetricJson, type MetricsSource } from './snapshot.js'

export interface DashboardOptions {
  /**
   * telemetry's registry, `app.wsguardTelemetry.registry` (anything with prom-client's
   * `getMetricsAsJSON()`); undefined there when telemetry is disabled, which fails registration
   */
  registry: MetricsSource | undefined
  /** what the "Start a reconnect storm" button starts (`POST <path>/storm` awaits it); no button without it */
  storm?: () => unknown
  /** where the dashboard is served; default '/dashboard' (not `prefix`: Fastify's `register` takes that one for itself) */
  path?: string
  /** telemetry's `metrics.prefix`; default 'wsguard_' */
  metricPrefix?: string
}

const PATH = /^(\/[A-Za-z0-9_-]+)+$/
const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const ALL_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
const ASSETS = new URL('./assets/', import.meta.url)
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** Answers 405 (with `Allow`) to every method of `url` but `allowed`, so a wrong method is told so, not 404. */
function onlyMethods (app: FastifyInstance, url: string, allowed: HTTPMethods[]): void {
  const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed
  const others = ALL_METHODS.filter((m) => !allowed.includes(m))
  app.route({
    method: others,
    url,
    handler: async (request, reply) => await reply.code(405).header('allow', allow.join(', ')).send({ statusCode: 405, error: 'Method Not Allowed', message: `${request.method} is not allowed here; use ${allow.join(' or ')}` })
  })
}

const noStore = (reply: FastifyReply): FastifyReply => reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff')

/**
 * The live telemetry dashboard: `GET <path>` (the page), `GET <path>/data` (the numbers, from
 * telemetry's registry), `GET <path>/dashboard.js` and `<path>/dashboard.css`, and
 * `POST <path>/storm` (body `{}`, JSON) when a `storm` is given.
 */
export async function dashboard (app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const path = options.path ?? '/dashboard'
  const metricPrefix = options.metricPrefix ?? 'wsguard_'
  if (typeof options.registry?.getMetricsAsJSON !== 'function') throw new TypeError('dashboard: registry must be telemetry\'s registry (app.wsguardTelemetry.registry)')
  if (typeof path !== 'string' || !PATH.test(path)) throw new TypeError('dashboard: path must be like /dashboard (letters, digits, _ and - between slashes, no trailing slash)')
  if (typeof metricPrefix !== 'string' || !METRIC_PREFIX.test(metricPrefix)) throw new TypeError('dashboard: metricPrefix must be a Prometheus metric name prefix, like wsguard_')
  if (options.storm !== undefined && typeof options.storm !== 'function') throw new TypeError('dashboard: storm must be a function')
  const { registry, storm } = options

  const [html, js, css] = await Promise.all(['dashboard.html', 'dashboard.js', 'dashboard.css'].map((f) => readFile(new URL(f, ASSETS), 'utf8')))
  const page = (html as string).replaceAll('{{path}}', path)

  app.get(path, async (_request, reply) => await noStore(reply).type('text/html; charset=utf-8').header('content-security-policy', CSP).send(page))
  onlyMethods(app, path, ['GET'])
  for (const [file, type, text] of [['dashboard.js', 'text/javascript; charset=utf-8', js], ['dashboard.css', 'text/css; charset=utf-8', css]] as const) {
    app.get(`${path}/${file}`, async (_request, reply) => await noStore(reply).type(type).send(text))
    onlyMethods(app, `${path}/${file}`, ['GET'])
  }

  app.get(`${path}/data`, async (_request, reply) => {
    const data = snapshot(await registry.getMetricsAsJSON(), metricPrefix, Date.now(), storm !== undefined)
    return await noStore(reply).send(data)
  })
  onlyMethods(app, `${path}/data`, ['GET'])

  if (storm === undefined) return
  let running = false
  // A JSON body is required (`{}`): a cross-site page can POST a form or text/plain without
  // asking, but not application/json, so another site cannot start a storm from a visitor's browser.
  app.post(`${path}/storm`, { bodyLimit: 64, schema: { body: { type: 'object', maxProperties: 0 } } }, async (request, reply) => {
    if (running) return await reply.code(409).send({ statusCode: 409, error: 'Conflict', message: 'a reconnect storm is already running' })
    running = true
    const started = Date.now()
    try {
      await storm()
    } catch (err) {
      // Only the error's class: the app's storm may have put a URL or a credential in its message.
      request.log.warn({ error: err instanceof Error ? err.name : typeof err }, 'dashboard: the reconnect storm failed')
      return await reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'the reconnect storm failed' })
    } finally {
      running = false
    }
    return await reply.send({ status: 'finished', durationMs: Date.now() - started })
  })
  onlyMethods(app, `${path}/storm`, ['POST'])
}

export default dashboard
