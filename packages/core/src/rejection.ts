import { STATUS_CODES } from 'node:http'
import { errorCatalogue, type WsguardErrorCode } from './errors.js'

/**
 * A pre-serialised rejection: what a plugin sends before the upgrade. Built once per
 * code at load time so a rejected handshake costs no error object and no stringify.
 * The body has Fastify's error shape.
 */
export interface Rejection {
  readonly code: WsguardErrorCode
  readonly statusCode: number
  readonly body: string
}

const rejections = new Map<WsguardErrorCode, Rejection>()
for (const [code, def] of Object.entries(errorCatalogue) as Array<[WsguardErrorCode, { status: number, message: string }]>) {
  const body = JSON.stringify({ statusCode: def.status, code, error: STATUS_CODES[def.status], message: def.message })
  rejections.set(code, Object.freeze({ code, statusCode: def.status, body }))
}

export function rejection (code: WsguardErrorCode): Rejection {
  return rejections.get(code) as Rejection
}

/**
 * The Retry-After, in seconds, sent with a 503 `WSG_UNAVAILABLE` when a store (revocations,
 * sessions, counters, replays) could not answer: long enough for a blip or a failover to
 * pass, short enough that clients are back soon after.
 */
export const STORE_UNAVAILABLE_RETRY_AFTER_S = 5
/** The headers of a 503 refused because a store could not answer. */
export const STORE_UNAVAILABLE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'retry-after': String(STORE_UNAVAILABLE_RETRY_AFTER_S) })

/** The minimal reply surface a rejection needs (a Fastify reply satisfies it). */
export interface RejectableReply {
  code(statusCode: number): this
  header(name: string, value: string): this
  send(payload: string): this
  /** the reply's request: its raw request may have a delivery of its own (`deliverRejectionsWith`) */
  readonly request?: { readonly raw: object }
}

/**
 * Delivers a refusal otherwise than as an HTTP answer; `closeCode` is the code's
 * `refusalCloseCode`, `headers` those the HTTP answer would have carried (`Retry-After`). Set per upgrade by auth-handshake's `browserRejection: 'close'`.
 */
export type RejectionDelivery = (code: WsguardErrorCode, closeCode: number, headers?: Readonly<Record<string, string>>) => void

type Deliveries = WeakMap<object, RejectionDelivery>
// Under a global symbol, as the raw-request links are: every copy of core must deliver alike.
const kDeliveries = Symbol.for('@wsguard/core.rejectionDeliveries')
const deliveries: Deliveries = ((globalThis as Record<symbol, unknown>)[kDeliveries] ??= new WeakMap()) as Deliveries

/**
 * For plugins: the next refusal of this request (its raw request), whichever wsguard plugin
 * sends it through `sendRejection`, goes to `deliver` instead of an HTTP answer, once.
 */
export function deliverRejectionsWith (raw: object, deliver: RejectionDelivery): void {
  deliveries.set(raw, deliver)
}

/** Whether a request's refusal will be delivered otherwise than as an HTTP answer. */
export function hasRejectionDelivery (raw: object): boolean {
  return deliveries.has(raw)
}

// A refusal's HTTP status as a close code: the 44xx of the same condition; 503 is the
// standard "try again later" (there is no 4503 in wsguard's table).
const REFUSAL_CLOSE_CODES: Readonly<Record<number, number>> = Object.freeze({ 400: 4400, 401: 4401, 403: 4403, 429: 4429, 503: 1013 })
/** Policy violation: what any other status becomes (none of wsguard's handshake refusals has one). */
const OTHER_REFUSAL_CLOSE_CODE = 1008

/** The close code a handshake refusal is delivered with when it closes an accepted socket (400→4400, 401→4401, 403→4403, 429→4429, 503→1013). */
export function refusalCloseCode (code: WsguardErrorCode): number {
  return REFUSAL_CLOSE_CODES[errorCatalogue[code].status] ?? OTHER_REFUSAL_CLOSE_CODE
}

export function sendRejection (reply: RejectableReply, code: WsguardErrorCode, headers?: Readonly<Record<string, string>>): void {
  const raw = reply.request?.raw
  const deliver = raw === undefined ? undefined : deliveries.get(raw)
  if (deliver !== undefined) {
    deliveries.delete(raw as object)
    deliver(code, refusalCloseCode(code), headers)
    return
  }
  const r = rejection(code)
  reply.code(r.statusCode).header('content-type', 'application/json; charset=utf-8')
  if (headers !== undefined) {
    for (const name in headers) reply.header(name, headers[name] as string)
  }
  reply.send(r.body)
}
