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
}

export function sendRejection (reply: RejectableReply, code: WsguardErrorCode, headers?: Readonly<Record<string, string>>): void {
  const r = rejection(code)
  reply.code(r.statusCode).header('content-type', 'application/json; charset=utf-8')
  if (headers !== undefined) {
    for (const name in headers) reply.header(name, headers[name] as string)
  }
  reply.send(r.body)
}
