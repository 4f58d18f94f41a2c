import Fastify, { type FastifyInstance } from 'fastify'

/** What a second registration rejected with, by where it was made (`undefined`: it did not). */
export interface SecondRegistrations {
  /** in the context of the first registration */
  sameContext: unknown
  /** in a child of that context, whose routes the first registration already governs */
  childContext: unknown
}

/**
 * Registers a plugin with `register` on a fresh app (after `setup`, e.g. registering
 * `@fastify/websocket`), then again: in the same context, and (on another fresh app) in a
 * child context. Answers what each second registration rejected with; the apps are closed.
 */
export async function registerTwice (
  setup: (app: FastifyInstance) => PromiseLike<unknown>,
  register: (instance: FastifyInstance) => PromiseLike<unknown>
): Promise<SecondRegistrations> {
  const second = async (again: (app: FastifyInstance) => Promise<unknown>): Promise<unknown> => {
    const app = Fastify()
    try {
      await setup(app)
      await register(app)
      await again(app)
      return undefined
    } catch (err) {
      return err
    } finally {
      await app.close()
    }
  }
  return {
    sameContext: await second(async (app) => await register(app)),
    childContext: await second(async (app) => await app.register(async (child) => { await register(child) }))
  }
}

/**
 * What `registerTwice` answers for a wsguard plugin named `plugin` (its fastify-plugin name):
 * `WSG_REGISTERED_TWICE` in both places, the message naming the plugin and why. A pattern
 * for `t.match`.
 */
export function refusedTwice (plugin: string): Record<keyof SecondRegistrations, { code: string, message: RegExp }> {
  const name = plugin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  return {
    sameContext: { code: 'WSG_REGISTERED_TWICE', message: new RegExp(`^Registered twice: ${name} is registered in the same encapsulation context\\. Register it once`) },
    childContext: { code: 'WSG_REGISTERED_TWICE', message: new RegExp(`^Registered twice: ${name} is registered in this context and in a parent context, whose registration already governs`) }
  }
}
