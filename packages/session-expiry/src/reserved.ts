const WS = '[ \\t\\n\\r]*'
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * The messages only session-expiry sends (`auth.expiring`, `auth.refreshed`,
 * `auth.refresh_failed`, `topic.revoked`, by their configured names), kept out of the app's own
 * frames. A client acts on them: an app that relays what clients send (a chat, a fan-out) would
 * otherwise let one client make another refresh (its token going wherever the relay sends it),
 * hammer the refresh limit into a 4400, or drop a topic. A text frame from the app that starts
 * (after JSON whitespace) with `{` and holds a `"type": "<one of them>"` member anywhere in it
 * (nested too; JSON whitespace allowed around the colon) is not sent. The search is one
 * substring search for `"type"` and, only where it occurs, one regular expression; no frame is
 * parsed.
 */
export class ReservedTypes {
  readonly #member: RegExp

  constructor (names: readonly string[]) {
    this.#member = new RegExp(`"type"${WS}:${WS}(?:${names.map((n) => escape(JSON.stringify(n))).join('|')})`)
  }

  /** Whether `socket.send(data, options)` would send a text frame that holds a reserved `type`. */
  holds (data: unknown, options: unknown): boolean {
    // ws sends a string as text and anything else as binary, unless `options.binary` says otherwise.
    const binary = typeof options === 'object' && options !== null && 'binary' in options
      ? Boolean((options as { binary: unknown }).binary)
      : typeof data !== 'string'
    if (binary) return false
    const text = typeof data === 'string' ? data : bytes(data)?.toString('utf8')
    return text !== undefined && startsAsObject(text) && text.includes('"type"') && this.#member.test(text)
  }
}

/** Whether the first character that is not JSON whitespace is `{`: only an object is read as a control message. */
function startsAsObject (text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c === 0x7b
  }
  return false
}

function bytes (data: unknown): Buffer | undefined {
  if (Buffer.isBuffer(data)) return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (Array.isArray(data) && data.every((d) => Buffer.isBuffer(d))) return Buffer.concat(data as Buffer[])
  return undefined
}
