import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { Clock, TicketRecord } from '@wsguard/core'
import type { AuthOutcome } from './authenticator.js'
import { bounded } from './bounded.js'
import { describeFailure } from './failures.js'
import type { TicketConfig } from './ticket-options.js'
import { isTicket, pathOf, ticketId, ticketPrincipal, type TicketFault } from './tickets.js'

/** Least time between two warnings about a failing ticket store, ms. */
const WARN_EVERY_MS = 30_000

const refused = (fault: TicketFault): AuthOutcome => ({ ok: false, code: 'WSG_TICKET_INVALID', fault })
const UNAVAILABLE: AuthOutcome = { ok: false, code: 'WSG_UNAVAILABLE', fault: 'ticket-store' }

/**
 * Takes a ticket at the handshake: consumed from the store at first use (so a ticket tried on
 * the wrong route or from the wrong page is used up too), then checked against the request's
 * path and Origin and the record's expiry. The principal it yields has method `ticket`.
 */
export class TicketRedeemer {
  readonly #config: TicketConfig
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger
  #warnedAt = Number.NEGATIVE_INFINITY

  constructor (config: TicketConfig, clock: Clock, log: FastifyBaseLogger) {
    this.#config = config
    this.#clock = clock
    this.#log = log
  }

  async redeem (ticket: string, request: FastifyRequest): Promise<AuthOutcome> {
    if (!isTicket(ticket)) return refused('ticket-malformed')
    const { store, storeTimeoutMs } = this.#config
    let record: TicketRecord | undefined
    try {
      record = await bounded(() => store.consume(ticketId(ticket)), storeTimeoutMs, 'ticket store')
    } catch (err) {
      this.#warn('the ticket store failed; handshakes with tickets are refused (503)', err)
      return UNAVAILABLE
    }
    if (record === undefined || record === null) return refused('ticket-unknown')
    if (!(record.expiresAt > this.#clock.now())) return refused('ticket-expired')
    if (record.path !== pathOf(request.url)) return refused('ticket-route')
    if (record.origin !== (request.headers.origin ?? null)) return refused('ticket-origin')
    const principal = ticketPrincipal(record)
    if (principal === undefined) {
      this.#warn('the ticket store gave back a record without a valid principal; handshake refused (503)')
      return UNAVAILABLE
    }
    return { ok: true, principal }
  }

  #warn (message: string, err?: unknown): void {
    const now = this.#clock.now()
    if (now - this.#warnedAt < WARN_EVERY_MS) return
    this.#warnedAt = now
    this.#log.warn(err === undefined ? {} : { error: describeFailure(err) }, `wsguard: ${message}`)
  }
}
