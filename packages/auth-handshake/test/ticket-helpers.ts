import type { TicketStore } from '../src/index.js'

export interface TicketAnswer {
  status: number
  headers: Headers
  body: Record<string, unknown>
  /** the body as sent, for "appears nowhere" checks */
  text: string
}

/** `POST <path>` on the app behind a ws:// base URL, with a JSON body (or raw text) and headers. */
export async function askTicket (base: string, body: unknown, headers: Record<string, string> = {}, path = '/ws-ticket'): Promise<TicketAnswer> {
  const res = await fetch(base.replace(/^ws/, 'http') + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown>, text }
}

/** The ticket of a 200 answer (fails loudly otherwise). */
export function ticketOf (answer: TicketAnswer): string {
  if (answer.status !== 200 || typeof answer.body.ticket !== 'string') throw new Error(`no ticket: ${answer.status} ${answer.text}`)
  return answer.body.ticket
}

/** A ticket store whose calls are recorded, and that fails or answers what a test says. */
export function scriptedStore (inner: TicketStore, script: { issue?: () => unknown, consume?: () => unknown } = {}): TicketStore & { calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    issue (id, record, ttlMs) {
      calls.push(`issue ${id}`)
      return script.issue !== undefined ? script.issue() as void : inner.issue(id, record, ttlMs)
    },
    consume (id) {
      calls.push(`consume ${id}`)
      return script.consume !== undefined ? script.consume() as undefined : inner.consume(id)
    }
  }
}
