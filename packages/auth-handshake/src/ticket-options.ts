import type { FastifyRequest } from 'fastify'
import { invalidOption, timerDelay, type Clock, type Principal, type TicketStore } from '@wsguard/core'
import { isObject, nonEmptyString, positiveInteger, unknownKeys } from './option-checks.js'
import { MemoryTicketStore } from './ticket-memory.js'

/** One-time tickets: a POST endpoint that hands them out, and the `ticket` carrier that takes them. */
export interface TicketOptions {
  /** path of the POST endpoint that issues tickets. Default '/ws-ticket' */
  path?: string
  /** how long a ticket may wait to be used, ms, from 1_000 to 300_000. Default 30_000 */
  ttlMs?: number
  /** where tickets wait to be used: `@wsguard/redis`'s `stores.tickets` lets any instance consume one. Default a `MemoryTicketStore` (this process only) */
  store?: TicketStore
  /**
   * The principal of a ticket request that carries no Bearer token, from the app's own
   * session (its cookie); `null` refuses it (401). Needs `opts.allowedOrigins`. Default none:
   * only a Bearer token gets a ticket
   */
  principalFor?: (request: FastifyRequest) => Principal | null | Promise<Principal | null>
  /** a store that has not answered within this fails the ticket request or the handshake (503), ms. Default 2_000 */
  storeTimeoutMs?: number
  /**
   * tickets one principal may hold unused at once on this instance (issued, neither used here
   * nor expired), from 1 to 1_000; one more is refused 429 `WSG_RATE_LIMITED` with `Retry-After`
   * (until its oldest expires), so no principal can fill the store for everyone. Default 8
   */
  maxPerPrincipal?: number
}

export const DEFAULT_TICKET_PATH = '/ws-ticket'
export const DEFAULT_TICKET_TTL_MS = 30_000
export const MIN_TICKET_TTL_MS = 1_000
export const MAX_TICKET_TTL_MS = 300_000
export const DEFAULT_TICKET_STORE_TIMEOUT_MS = 2_000
export const DEFAULT_TICKETS_PER_PRINCIPAL = 8
export const MAX_TICKETS_PER_PRINCIPAL = 1_000

export interface TicketConfig {
  path: string
  ttlMs: number
  store: TicketStore
  principalFor: ((request: FastifyRequest) => Principal | null | Promise<Principal | null>) | undefined
  storeTimeoutMs: number
  maxPerPrincipal: number
}

const KEYS = new Set(['path', 'ttlMs', 'store', 'principalFor', 'storeTimeoutMs', 'maxPerPrincipal'])
const PATH = /^\/[\x21-\x7e]*$/

/** What the rest of the options say about tickets, for the checks that need them. */
export interface TicketContext {
  clock: Clock
  hasIssuers: boolean
  hasAllowedOrigins: boolean
  carrierOn: boolean
}

/** Validates and copies `opts.tickets`; throws WSG_INVALID_OPTION naming the option path. */
export function validateTickets (value: unknown, context: TicketContext): TicketConfig | undefined {
  if (value === undefined) {
    if (context.carrierOn) throw invalidOption("opts.carriers includes 'ticket', which needs opts.tickets (where tickets are issued)")
    return undefined
  }
  if (!isObject(value)) throw invalidOption('opts.tickets must be an object')
  unknownKeys(value, KEYS, 'opts.tickets')
  if (!context.carrierOn) throw invalidOption("opts.tickets issues tickets that no route would take: add 'ticket' to opts.carriers")
  const path = value.path === undefined ? DEFAULT_TICKET_PATH : nonEmptyString(value.path, 'opts.tickets.path')
  if (!PATH.test(path)) throw invalidOption('opts.tickets.path must start with / and hold no spaces or control characters')
  const ttlMs = positiveInteger(value.ttlMs, 'opts.tickets.ttlMs', DEFAULT_TICKET_TTL_MS, MIN_TICKET_TTL_MS)
  if (ttlMs > MAX_TICKET_TTL_MS) throw invalidOption(`opts.tickets.ttlMs must be at most ${MAX_TICKET_TTL_MS} (5 minutes): a ticket is a credential in a URL or header`)
  const store = value.store as Partial<TicketStore> | undefined
  if (store !== undefined && (!isObject(store) || typeof store.issue !== 'function' || typeof store.consume !== 'function')) {
    throw invalidOption('opts.tickets.store must be a TicketStore (issue, consume)')
  }
  const maxPerPrincipal = positiveInteger(value.maxPerPrincipal, 'opts.tickets.maxPerPrincipal', DEFAULT_TICKETS_PER_PRINCIPAL)
  if (maxPerPrincipal > MAX_TICKETS_PER_PRINCIPAL) throw invalidOption(`opts.tickets.maxPerPrincipal must be at most ${MAX_TICKETS_PER_PRINCIPAL}`)
  const principalFor = value.principalFor
  if (principalFor !== undefined && typeof principalFor !== 'function') throw invalidOption('opts.tickets.principalFor must be a function')
  if (principalFor === undefined && !context.hasIssuers) {
    throw invalidOption('opts.tickets needs opts.jwt (a Bearer token gets a ticket) or opts.tickets.principalFor (the app\'s session does)')
  }
  if (principalFor !== undefined && !context.hasAllowedOrigins) {
    throw invalidOption('opts.tickets.principalFor reads the app\'s own session, which needs opts.allowedOrigins (cross-site request forgery)')
  }
  return {
    path,
    ttlMs,
    store: (store as TicketStore | undefined) ?? new MemoryTicketStore({ clock: context.clock }),
    principalFor: principalFor as TicketConfig['principalFor'],
    storeTimeoutMs: timerDelay(positiveInteger(value.storeTimeoutMs, 'opts.tickets.storeTimeoutMs', DEFAULT_TICKET_STORE_TIMEOUT_MS), 'opts.tickets.storeTimeoutMs'),
    maxPerPrincipal
  }
}
