// A floor for issue 15's aim, not wsguard: the whole stack's checks and records written as one
// route hook and one socket listener, with none of the plugins' generality (no options, no
// other credentials, no refusal bodies, no channels, no audit, no refresh, counts that never
// reset). What is left is the least such a handshake can cost on this machine: auth-handshake's
// own token check (the same class as the 'bare+authenticate' row), `request.ip` for a per-IP
// count, a per-principal count, the scope and the claim-bound topic, prom-client's two
// histograms, and a session record with its deadline in session-expiry's own scheduler until the
// socket closes. If even this reads above 1.10x the bare hook, no arrangement of the four plugins can
// meet the aim. With the app's logger on it also writes the two audit lines the stack writes for
// an accepted session (session.opened, session.closed, with telemetry's fields) through a child
// logger at info, as telemetry does: the floor for the aim with the logger on (1.20x).
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { Histogram, Registry } from 'prom-client'
import { randomId, systemTimerClock } from '@wsguard/core'
import { internalModule } from './lib.js'
import type { Authenticator } from './stack-app.js'

interface Claims { tenant?: unknown }
interface Principal { id: string, issuer: string, scopes: readonly string[], claims: Claims, expiresAt: number }
interface SessionRecord { id: string, openedAt: number, dueAt: number, heapIndex: number, fire (now: number): void }

const NOTICE_MS = 60_000
const MAX_LIFETIME_MS = 8 * 3600_000
const IDLE_MS = 300_000
const HEARTBEAT_MS = 30_000

interface Scheduler { arm (item: SessionRecord, at: number): void, cancel (item: SessionRecord): void }

/**
 * session-expiry's own scheduler (one heap of deadlines over one timer, for every session): not
 * exported, so found beside the package's entry (internalModule).
 */
async function sessionScheduler (): Promise<Scheduler> {
  const { Scheduler } = await import(internalModule('session-expiry', 'scheduler')) as { Scheduler: new (clock: unknown, onError: (err: unknown) => void) => Scheduler }
  return new Scheduler(systemTimerClock, (err) => { throw err })
}

function refuse (reply: FastifyReply, status: number): void {
  reply.code(status).send()
}

/** The audit subject telemetry writes for a principal (its `auditSubject`). */
function who (p: Principal): Record<string, unknown> {
  return { subject: p.id, issuer: p.issuer, kind: 'user', method: 'jwt', scopes: p.scopes, principalSessionId: undefined, tokenId: undefined, expiresAt: p.expiresAt }
}

/**
 * Adds the floor's hook and websocket route at `path` to `app` (@fastify/websocket registered);
 * `audited`: the app's logger is on, and the session's two audit lines are written.
 */
export async function floorRoute (app: FastifyInstance, path: string, authenticator: Authenticator, audited: boolean): Promise<void> {
  const audit = audited ? app.log.child({ name: 'wsguard.audit' }, { level: 'info' }) : undefined
  const registry = new Registry()
  const handshakes = new Histogram({ name: 'handshake_seconds', help: 'handshake time', labelNames: ['route', 'outcome'], registers: [registry] })
  const sessions = new Histogram({ name: 'session_seconds', help: 'session time', labelNames: ['route', 'code'], registers: [registry] })
  const perIp = new Map<string, number>()
  const perPrincipal = new Map<string, number>()
  const deadlines = await sessionScheduler()
  const accepted = { route: path, outcome: 'accepted' }
  app.decorateRequest('principal', null)
  app.get(path, {
    websocket: true,
    onRequest (request, reply, done) {
      const started = performance.now()
      const ip = request.ip
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1)
      const header = request.headers.authorization
      if (header === undefined || !header.startsWith('Bearer ')) return refuse(reply, 401)
      const outcome = authenticator.authenticate(header.slice(7)) as { ok: boolean, principal?: Principal }
      if (!outcome.ok) return refuse(reply, 401)
      const p = outcome.principal as Principal
      if (!p.scopes.includes('feed:read')) return refuse(reply, 403)
      // The handshake topic prices.{params.tenant}.all under the policy prices.{tenant}.> with
      // tenant bound to claims.tenant: the route's tenant must be the token's.
      if (p.claims.tenant !== (request.params as { tenant: string }).tenant) return refuse(reply, 403)
      const key = `${p.issuer} ${p.id}`
      perPrincipal.set(key, (perPrincipal.get(key) ?? 0) + 1)
      ;(request as unknown as { principal: Principal }).principal = p
      handshakes.observe(accepted, (performance.now() - started) / 1000)
      done()
    }
  }, (socket, request) => {
    const p = (request as unknown as { principal: Principal }).principal
    const now = Date.now()
    const record: SessionRecord = { id: randomId(), openedAt: now, dueAt: 0, heapIndex: -1, fire () {} }
    const deadline = Math.min(p.expiresAt - NOTICE_MS, now + MAX_LIFETIME_MS, now + IDLE_MS, now + HEARTBEAT_MS)
    deadlines.arm(record, deadline)
    const subject = audit !== undefined ? who(p) : undefined
    const remoteAddress = request.ip
    audit?.info({ audit: { event: 'session.opened', sessionId: record.id, route: path, who: subject, remoteAddress, origin: undefined, deadline, v: 2, at: now } }, 'wsguard session.opened')
    socket.once('close', (code: number, reason: Buffer) => {
      deadlines.cancel(record)
      const closedAt = Date.now()
      sessions.observe({ route: path, code: String(code) }, (closedAt - record.openedAt) / 1000)
      audit?.info({ audit: { event: 'session.closed', sessionId: record.id, route: path, who: subject, remoteAddress, origin: undefined, code, closedBy: 'peer', reason: reason.toString(), openedAt: record.openedAt, durationMs: closedAt - record.openedAt, framesIn: 0, framesOut: 0, revocation: undefined, v: 2, at: closedAt } }, 'wsguard session.closed')
    })
  })
}
