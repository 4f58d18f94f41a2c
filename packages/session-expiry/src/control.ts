const OPEN_BRACE = 0x7b

/** Whether the first byte that is not JSON whitespace is `{`: only an object can be a control message. */
function startsAsObject (buf: Buffer): boolean {
  for (const byte of buf) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return byte === OPEN_BRACE
  }
  return false
}

/**
 * Cheap recognition of control frames. A text frame is looked at only when its first
 * non-space character is `{` and it contains the quoted name of the refresh message (one
 * byte search), and parsed only when it is small enough, so ordinary frames never cost a
 * JSON.parse.
 *
 * A frame that names the refresh but cannot be parsed is a malformed refresh, not the app's:
 * a frame that is not valid JSON, or is over `maxBytes`, and holds a `"type": "<refresh>"`
 * member (in its first or last `maxBytes` bytes when it is over) closes 4400. Handing it to
 * the app would deliver a cut-short credential to the app's listeners.
 */
export class ControlMatcher {
  readonly #needle: Buffer
  readonly #maxBytes: number
  readonly #refresh: string
  readonly #typeMember: RegExp

  constructor (refreshName: string, maxBytes: number) {
    const quoted = JSON.stringify(refreshName)
    this.#needle = Buffer.from(quoted)
    this.#maxBytes = maxBytes
    this.#refresh = refreshName
    this.#typeMember = new RegExp(`"type"[ \\t\\n\\r]*:[ \\t\\n\\r]*${quoted.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)
  }

  /**
   * `undefined`: not a control frame, hand it to the app. `null`: a refresh message that is
   * malformed (close 4400). A string: the token of a well-formed refresh.
   */
  read (data: unknown, isBinary: unknown): string | null | undefined {
    if (isBinary !== false) return undefined
    const buf = toBuffer(data)
    if (buf === undefined) return undefined
    if (buf.length > this.#maxBytes) {
      // Never parsed: its ends are read for the refresh's type member, at most maxBytes each.
      if (!startsAsObject(buf)) return undefined
      const head = buf.subarray(0, this.#maxBytes)
      return this.#namesRefresh(head) || this.#namesRefresh(buf.subarray(buf.length - this.#maxBytes)) ? null : undefined
    }
    if (buf.indexOf(this.#needle) === -1 || !startsAsObject(buf)) return undefined
    const text = buf.toString('utf8')
    let msg: unknown
    try {
      msg = JSON.parse(text)
    } catch {
      // Not JSON: a refresh cut short (or broken), or the app's own text that mentions the name.
      return this.#typeMember.test(text) ? null : undefined
    }
    if ((msg as { type?: unknown }).type !== this.#refresh) return undefined
    const token = (msg as { token?: unknown }).token
    return typeof token === 'string' && token.length > 0 ? token : null
  }

  #namesRefresh (part: Buffer): boolean {
    return part.indexOf(this.#needle) !== -1 && this.#typeMember.test(part.toString('utf8'))
  }
}

function toBuffer (data: unknown): Buffer | undefined {
  if (Buffer.isBuffer(data)) return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (Array.isArray(data) && data.every((d) => Buffer.isBuffer(d))) return Buffer.concat(data as Buffer[])
  return undefined
}
