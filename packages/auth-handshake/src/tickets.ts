import { randomBytes } from 'node:crypto'
import { sha256 } from './digest.js'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { PrincipalSchema, type Principal, type TicketRecord } from '@wsguard/core'
import { deepFreeze } from './principal.js'

/** Random bytes in a ticket: 256 bits, 43 base64url characters. */
export const TICKET_BYTES = 32
const TICKET = /^[A-Za-z0-9_-]{43}$/
const isPrincipal = TypeCompiler.Compile(PrincipalSchema)

/** Why a ticket was refused, for diagnostics. Fixed words, never the ticket. */
export type TicketFault = 'ticket-malformed' | 'ticket-unknown' | 'ticket-expired' | 'ticket-route' | 'ticket-origin' | 'ticket-store'

/** A new one-time ticket: 32 random bytes, base64url. */
export function newTicket (): string {
  return randomBytes(TICKET_BYTES).toString('base64url')
}

/** Whether a presented value can be a ticket at all (anything else costs no store call). */
export function isTicket (value: string): boolean {
  return TICKET.test(value)
}

/** What a store keeps a ticket under: its SHA-256, base64url. The ticket itself is kept nowhere. */
export function ticketId (ticket: string): string {
  return sha256(ticket)
}

/** The request path a ticket is bound to and checked against: the URL without its query or fragment. */
export function pathOf (url: string): string {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/**
 * The principal a ticket stands for, as the handshake installs it: the issuing request's,
 * method `ticket`, frozen. `undefined` when the store gave back something that is not a
 * principal (a store that answers garbage is a store that fails).
 */
export function ticketPrincipal (record: TicketRecord): Principal | undefined {
  // Typed as the contract says, checked because a store may give back anything.
  const issued: Principal | undefined = (record as TicketRecord | null)?.principal
  if (!isPrincipal.Check(issued)) return undefined
  return deepFreeze({ ...issued, method: 'ticket' })
}
