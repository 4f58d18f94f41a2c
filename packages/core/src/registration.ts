import type { FastifyInstance } from 'fastify'
import { wsgError } from './errors.js'

/**
 * Throws `WSG_REGISTERED_TWICE` when `plugin` already decorated `decorator` where this
 * registration would govern routes: in the same encapsulation context, or in a parent,
 * whose hooks already reach this context's routes (two registrations would verify, count
 * or close every socket twice, and each refuse what the other admitted). Call it first in
 * a plugin, before its first decorator: Fastify's own `FST_ERR_DEC_ALREADY_PRESENT` names
 * only the decorator. Registrations in sibling contexts are independent and allowed.
 */
export function assertRegisteredOnce (fastify: FastifyInstance, plugin: string, decorator: string): void {
  if (!fastify.hasDecorator(decorator)) return
  // A context inherits its parent's decorators through its prototype: own means this very context.
  const where = Object.hasOwn(fastify, decorator)
    ? 'in the same encapsulation context'
    : 'in this context and in a parent context, whose registration already governs this context\'s routes'
  throw wsgError('WSG_REGISTERED_TWICE',
    `${plugin} is registered ${where}. Register it once (per-route settings go in the route's config)` +
    ', or register each one in its own sibling context')
}
