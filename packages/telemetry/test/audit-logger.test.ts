import t from 'tap'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import { auditLogger } from '../src/audit-logger.js'

t.test('no audit logger where nothing would be written: logger: false, or an app at silent', async (t) => {
  t.equal(auditLogger(Fastify({ logger: false }).log), undefined, 'Fastify\'s null logger')
  t.equal(auditLogger(Fastify().log), undefined, 'no logger option is the null logger too')
  t.equal(auditLogger(Fastify({ logger: { level: 'silent' } }).log), undefined, 'silent')
})

t.test('an app logger at warn still gets audit lines, at info, under the wsguard.audit name', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (l: string) => { lines.push(l) } } } })
  const audit = auditLogger(app.log) as FastifyBaseLogger
  t.equal(audit.level, 'info')
  audit.info('evidence')
  t.match(JSON.parse(lines[0] as string), { name: 'wsguard.audit', msg: 'evidence', level: 30 })
})

t.test('a custom logger whose child is itself is a real logger, whatever its methods are named', async (t) => {
  const written: unknown[] = []
  const write = (...args: unknown[]): void => { written.push(args) }
  const custom = { level: 'info', info: write, error: write, warn: write, debug: write, fatal: write, trace: write, silent: write, child () { return custom } }
  const app = Fastify({ loggerInstance: custom as unknown as FastifyBaseLogger })
  const audit = auditLogger(app.log) as FastifyBaseLogger
  t.ok(audit !== undefined)
  audit.info('evidence')
  t.same(written, [['evidence']])
  // one that names its single function `noop` but has distinct methods is not the null logger either
  function noop (...args: unknown[]): void { written.push(args) }
  const named = { info: noop, error: write, warn: noop, debug: noop, fatal: noop, trace: noop, child () { return named } }
  t.ok(auditLogger(Fastify({ loggerInstance: named as unknown as FastifyBaseLogger }).log) !== undefined)
})
