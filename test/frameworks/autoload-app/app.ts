// An app laid out as fastify-cli generates it (app.ts, plugins/, routes/), in TypeScript:
// plugins/ is autoloaded first, with the app's options, then routes/.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import autoLoad from '@fastify/autoload'
import type { AppOptions } from './plugins/wsguard.js'

const here = fileURLToPath(new URL('.', import.meta.url))

export default async function app (fastify: FastifyInstance, opts: AppOptions & { routesFirst?: boolean }): Promise<void> {
  const plugins = { dir: join(here, 'plugins'), options: opts }
  const routes = { dir: join(here, 'routes'), options: opts }
  // fastify-cli's order is plugins, then routes. routesFirst is the mistake the guard catches.
  for (const dir of opts.routesFirst === true ? [routes, plugins] : [plugins, routes]) await fastify.register(autoLoad, dir)
}
