import type { FastifyBaseLogger } from 'fastify'

/**
 * The logger audit lines go to, or `undefined` when nothing would be written, so that no event
 * is built for nobody. Audit lines are evidence, not operational logging: their child logger
 * has a level of its own (info), so an app that raises its level to drop request logs keeps
 * its audit trail. Only an app logger at 'silent', or Fastify's null logger (`logger: false`,
 * whose child is itself and whose every method is abstract-logging's `noop`), stops them.
 */
export function auditLogger (log: FastifyBaseLogger): FastifyBaseLogger | undefined {
  if (log.level === 'silent') return undefined
  const child = log.child({ name: 'wsguard.audit' }, { level: 'info' })
  return child === log && child.info.name === 'noop' && child.info === child.error ? undefined : child
}
