const TYPE = '"type"'
const ESCAPE = '\\u'
const COLON = 0x3a
const QUOTE = 0x22
const OPEN_BRACE = 0x7b

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/**
 * The messages only session-expiry sends (`auth.expiring`, `auth.refreshed`,
 * `auth.refresh_failed`, `topic.revoked`, by their configured names), kept out of the app's own
 * frames. A client acts on them: an app that relays what clients send (a chat, a fan-out) would
 * otherwise let one client make another refresh (its token going wherever the relay sends it),
 * hammer the refresh limit into a 4400, or drop a topic.
 *
 * A text frame from the app that starts (after JSON whitespace) with `{` is withheld when it
 * holds a `"type": "<one of them>"` member as written, at any depth (JSON whitespace around the
 * colon), or, when it holds a `\u` escape (the only way JSON can spell these names otherwise:
 * `"\u0074ype"`, `"auth\u002eexpiring"`), when `JSON.parse` reads one of them as its `type`.
 * The written form is found by substring searches from each `"type"` (a Buffer read as latin1,
 * one character per byte); only a frame with a `\u` escape is decoded as UTF-8 and parsed. A relay sends one frame to many
 * sockets: the verdict on the last frame checked is kept until the end of the tick, so the
 * frame is read once, not once per recipient.
 */
export class ReservedTypes {
  readonly #names: ReadonlySet<string>
  readonly #quoted: readonly string[]
  #last: unknown = undefined
  #lastVerdict = false
  #forget = (): void => { this.#last = undefined }

  constructor (names: readonly string[]) {
    this.#names = new Set(names)
    this.#quoted = names.map((n) => JSON.stringify(n))
  }

  /** Whether `socket.send(data, options)` would send a text frame that a client reads as a reserved message. */
  holds (data: unknown, options: unknown): boolean {
    // ws sends a string as text and anything else as binary, unless `options.binary` says otherwise.
    const binary = typeof options === 'object' && options !== null && 'binary' in options
      ? Boolean((options as { binary: unknown }).binary)
      : typeof data !== 'string'
    if (binary) return false
    if (data === this.#last) return this.#lastVerdict
    const text = typeof data === 'string' ? data : bytes(data)
    // A Blob is read asynchronously: sent as text, it is withheld unread (fail closed).
    const verdict = text !== undefined ? this.#reads(text) : data instanceof Blob
    if (this.#last === undefined) process.nextTick(this.#forget)
    this.#last = data
    this.#lastVerdict = verdict
    return verdict
  }

  #reads (data: string | Buffer): boolean {
    // Every character the written form is made of is ASCII: a Buffer is searched as latin1 (one
    // character per byte, no decoding), and decoded as UTF-8 only to be parsed.
    const text = typeof data === 'string' ? data : data.toString('latin1')
    if (!startsAsObject(text)) return false
    if (this.#written(text)) return true
    if (!text.includes(ESCAPE)) return false
    let parsed: unknown
    try {
      parsed = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'))
    } catch {
      return false // no client reads text that is not JSON as a control message
    }
    const type = (parsed as { type?: unknown }).type
    return typeof type === 'string' && this.#names.has(type)
  }

  /** A `"type"` member whose value is one of the quoted names, as written. */
  #written (text: string): boolean {
    for (let at = text.indexOf(TYPE); at !== -1; at = text.indexOf(TYPE, at + TYPE.length)) {
      let i = at + TYPE.length
      while (isSpace(text.charCodeAt(i))) i++
      if (text.charCodeAt(i) !== COLON) continue
      i++
      while (isSpace(text.charCodeAt(i))) i++
      if (text.charCodeAt(i) !== QUOTE) continue
      for (const q of this.#quoted) if (text.startsWith(q, i)) return true
    }
    return false
  }
}

/** Whether the first character that is not JSON whitespace is `{`: only an object is read as a control message. */
function startsAsObject (text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (!isSpace(c)) return c === OPEN_BRACE
  }
  return false
}

function bytes (data: unknown): string | Buffer | undefined {
  if (data instanceof String) return data.valueOf()
  if (Buffer.isBuffer(data)) return data
  if (data instanceof SharedArrayBuffer) return Buffer.from(data)
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (Array.isArray(data) && data.every((d) => Buffer.isBuffer(d))) return Buffer.concat(data as Buffer[])
  return undefined
}
