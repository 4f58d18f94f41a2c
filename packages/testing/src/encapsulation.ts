import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Declares a route on the instance it is given. */
export type DeclareRoute = (instance: FastifyInstance, path: string) => void

/**
 * Every way a route can sit inside Fastify's encapsulation: on the root, in children at
 * several depths, through `fastify-plugin` (which shares its parent's context) at the root,
 * inside a child and around a child, and under a prefix. Each places `declare` with `path`
 * (a prefixed placement strips `/v1` from the path it gives, so the full path stays `path`).
 * For tests that a guard reaches routes wherever they were added.
 */
export const encapsulations: Readonly<Record<string, (app: FastifyInstance, path: string, declare: DeclareRoute) => Promise<void>>> = Object.freeze({
  root: async (app, path, declare) => { declare(app, path) },
  child: async (app, path, declare) => { await app.register(async (c) => { declare(c, path) }) },
  grandchild: async (app, path, declare) => {
    await app.register(async (c) => { await c.register(async (g) => { declare(g, path) }) })
  },
  'great-grandchild': async (app, path, declare) => {
    await app.register(async (c) => { await c.register(async (g) => { await g.register(async (gg) => { declare(gg, path) }) }) })
  },
  'fastify-plugin at the root': async (app, path, declare) => { await app.register(fp(async (c) => { declare(c, path) })) },
  'fastify-plugin inside a child': async (app, path, declare) => {
    await app.register(async (c) => { await c.register(fp(async (g) => { declare(g, path) })) })
  },
  'child inside a fastify-plugin': async (app, path, declare) => {
    await app.register(fp(async (c) => { await c.register(async (g) => { declare(g, path) }) }))
  },
  'prefixed child': async (app, path, declare) => {
    await app.register(async (c) => { declare(c, path.replace(/^\/v1/, '')) }, { prefix: '/v1' })
  }
})
