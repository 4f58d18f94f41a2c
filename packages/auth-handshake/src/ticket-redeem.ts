import type { FastifyRequest } from 'fastify'
import type { Clock, TicketRecord } from '@wsguard/core'
import type { AuthOutcome } from './authenticator.js'
import { bounded } from './bounded.js'
import type { TicketConfig } from './ticket-options.js'
import type { TicketQuota } from './ticket-quota.js'
import { isTicket, pathOf, ticketId, ticketPrincipal, type TicketFault } from './tickets.js'
import type { ThrottledWarning } from './warn-throttle.js'

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
  readonly #warning: ThrottledWarning
  readonly #quota: TicketQuota

  constructor (config: TicketConfig, clock: Clock, warning: ThrottledWarning, quota: TicketQuota) {
    this.#config = config
    this.#clock = clock
    this.#warning = warning
    this.#quota = quota
  }

  async redeem (ticket: string, request: FastifyRequest): Promise<AuthOutcome> {
    if (!isTicket(ticket)) return refused('ticket-malformed')
    const { store, storeTimeoutMs } = this.#config
    let record: TicketRecord | undefined
    try {
      record = await bounded(() => store.consume(ticketId(ticket)), storeTimeoutMs, 'ticket store')
    } catch (err) {
      this.#warning.warn('the ticket store failed; ticket requests and handshakes with tickets are refused (503)', err)
      return UNAVAILABLE
    }
    if (record === undefined || record === null) return refused('ticket-unknown')
    const principal = ticketPrincipal(record)
    // Used up, whatever follows: it no longer counts against its principal's maxPerPrincipal.
    if (principal !== undefined) this.#quota.release(principal, record.expiresAt)
    if (!(record.expiresAt > this.#clock.now())) return refused('ticket-expired')
    if (record.path !== pathOf(request.url)) return refused('ticket-route')
    if (record.origin !== (request.headers.origin ?? null)) return refused('ticket-origin')
    if (principal === undefined) {
      this.#warning.warn('the ticket store gave back a record without a valid principal; handshake refused (503)')
      return UNAVAILABLE
    }
    return { ok: true, principal }
  }
}
