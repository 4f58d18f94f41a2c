import { sentAsBinary, sentAsFinal, sentPayload, BLOB } from './sent.js'

const TYPE = '"type"'
const ESCAPE = '\\u'
const COLON = 0x3a
const QUOTE = 0x22
const OPEN_BRACE = 0x7b
const BOM = 0xfeff
const BOM_BYTES = [0xef, 0xbb, 0xbf] as const
/** frames whose verdict is kept until the end of the tick: a relay's header and body, and then some */
const KEPT = 32

const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/** A message being sent in fragments (`fin: false`): none, one being sent, one being withheld. */
export type Fragments = 0 | 1 | 2
const NONE = 0
const SENDING = 1
const WITHHOLDING = 2

/** What ReservedTypes keeps per socket: where its outgoing fragmented message stands. */
export interface Outgoing {
  fragments: Fragments
}

/**
 * The messages only session-expiry sends (`auth.expiring`, `auth.refreshed`,
 * `auth.refresh_failed`, `topic.revoked`, by their configured names), kept out of the app's own
 * frames. A client acts on them: an app that relays what clients send (a chat, a fan-out) would
 * otherwise let one client make another refresh (its token going wherever the relay sends it),
 * hammer the refresh limit into a 4400, or drop a topic.
 *
 * The frame is read as ws sends it (see `sent.ts`) and as a client reads it: a text message whose
 * first character, after one byte order mark (which a WHATWG client's UTF-8 decoder drops) and
 * JSON whitespace, is `{` is withheld when it holds a `"type": "<one of them>"` member as written,
 * at any depth (JSON whitespace around the colon), or, when it holds a `\u` escape (the only way
 * JSON can spell these names otherwise: `"\u0074ype"`, `"auth\u002eexpiring"`), when
 * `JSON.parse` reads one of them as its `type`. The written form is searched in the bytes of a
 * Buffer as they are (every character of it is ASCII); only a frame with a `\u` escape is decoded
 * and parsed. A message sent in fragments cannot be read whole before its first fragment goes:
 * one whose first fragment may open an object is withheld whole, every fragment of it.
 *
 * A relay sends one frame to many sockets: the verdicts on the last frames checked are kept until
 * the end of the tick, so each is read once, not once per recipient. A Buffer changed between
 * two sends within one tick is judged as it was at the first (ws may still be writing it then).
 */
export class ReservedTypes {
  readonly #names: ReadonlySet<string>
  readonly #quoted: readonly string[]
  #kept = new Map<unknown, boolean>()
  // Replaced, not cleared: clear() on a Map that has reached the old generation allocates its
  // new table there, and this one is emptied once per tick that sends (hundreds a second),
  // each table dead a tick later: garbage only a major GC collects. A new Map dies young.
  readonly #forget = (): void => { this.#kept = new Map() }

  constructor (names: readonly string[]) {
    this.#names = new Set(names)
    this.#quoted = names.map((n) => JSON.stringify(n))
  }

  /**
   * Whether `socket.send(data, options)` on an open socket is withheld: it sends (a fragment of) a
   * text message that a client may read as a reserved message. Keeps `out.fragments` in step with ws.
   */
  withholds (data: unknown, options: unknown, out: Outgoing): boolean {
    const payload = sentPayload(data)
    if (payload === undefined) return false // ws throws: nothing sent, its message state as it was
    const fin = sentAsFinal(options)
    let withhold: boolean
    if (out.fragments !== NONE) withhold = out.fragments === WITHHOLDING
    else if (sentAsBinary(data, options)) withhold = false
    else withhold = fin ? this.#holds(data, payload) : mayOpenObject(payload)
    if (fin) out.fragments = NONE
    else if (out.fragments === NONE) out.fragments = withhold ? WITHHOLDING : SENDING
    return withhold
  }

  /** Whether a whole text message of `data` is read by a client as a reserved message. */
  #holds (data: unknown, payload: string | Buffer | typeof BLOB): boolean {
    const kept = this.#kept.get(data)
    if (kept !== undefined) return kept
    // A Blob is read asynchronously: sent as text, it is withheld unread (fail closed).
    const verdict = payload === BLOB || this.#reads(payload)
    if (this.#kept.size === 0) process.nextTick(this.#forget)
    if (this.#kept.size < KEPT) this.#kept.set(data, verdict)
    return verdict
  }

  #reads (text: string | Buffer): boolean {
    if (!opensObject(text)) return false
    if (this.#written(text)) return true
    if (!text.includes(ESCAPE)) return false
    let parsed: unknown
    try {
      parsed = JSON.parse(withoutBom(typeof text === 'string' ? text : text.toString('utf8')))
    } catch {
      return false // no client reads text that is not JSON as a control message
    }
    const type = (parsed as { type?: unknown }).type
    return typeof type === 'string' && this.#names.has(type)
  }

  /** A `"type"` member whose value is one of the quoted names, as written. */
  #written (text: string | Buffer): boolean {
    for (let at = text.indexOf(TYPE); at !== -1; at = text.indexOf(TYPE, at + TYPE.length)) {
      let i = at + TYPE.length
      while (isSpace(codeAt(text, i))) i++
      if (codeAt(text, i) !== COLON) continue
      i++
      while (isSpace(codeAt(text, i))) i++
      if (codeAt(text, i) !== QUOTE) continue
      for (const q of this.#quoted) if (writtenAt(text, q, i)) return true
    }
    return false
  }
}

function codeAt (text: string | Buffer, i: number): number | undefined {
  return typeof text === 'string' ? text.charCodeAt(i) : text[i]
}

/** Whether ASCII `q` is written at `i` (in a Buffer: its bytes). */
function writtenAt (text: string | Buffer, q: string, i: number): boolean {
  if (typeof text === 'string') return text.startsWith(q, i)
  for (let k = 0; k < q.length; k++) if (text[i + k] !== q.charCodeAt(k)) return false
  return true
}

/** Where the text starts past byte order marks and JSON whitespace (taken in any order: more than a client skips). */
function start (text: string | Buffer): number {
  let i = 0
  if (typeof text === 'string') {
    while (i < text.length && (isSpace(text.charCodeAt(i)) || text.charCodeAt(i) === BOM)) i++
    return i
  }
  while (i < text.length) {
    if (isSpace(text[i])) i++
    else if (text[i] === BOM_BYTES[0] && text[i + 1] === BOM_BYTES[1] && text[i + 2] === BOM_BYTES[2]) i += 3
    else break
  }
  return i
}

/** Whether the first character that is not JSON whitespace (or a byte order mark) is `{`: only an object is read as a control message. */
function opensObject (text: string | Buffer): boolean {
  return codeAt(text, start(text)) === OPEN_BRACE
}

/**
 * Whether a message whose first fragment is this may turn out to be an object: it opens one, or
 * holds only whitespace and byte order marks (or a Buffer ends in part of one), or cannot be read
 * (a Blob).
 */
function mayOpenObject (payload: string | Buffer | typeof BLOB): boolean {
  if (payload === BLOB) return true
  const i = start(payload)
  if (i === payload.length) return true
  if (typeof payload !== 'string' && payload[i] === BOM_BYTES[0] && (i + 1 === payload.length || (payload[i + 1] === BOM_BYTES[1] && i + 2 === payload.length))) return true
  return codeAt(payload, i) === OPEN_BRACE
}

function withoutBom (text: string): string {
  return text.charCodeAt(0) === BOM ? text.slice(1) : text
}
