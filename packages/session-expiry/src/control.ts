/**
 * Cheap recognition of control frames. A text frame is only parsed when it is small enough
 * and contains the quoted name of the refresh message, so ordinary frames cost a length
 * check and one byte search, never a JSON.parse.
 */
export class ControlMatcher {
  readonly #needle: Buffer
  readonly #maxBytes: number
  readonly #refresh: string

  constructor (refreshName: string, maxBytes: number) {
    this.#needle = Buffer.from(JSON.stringify(refreshName))
    this.#maxBytes = maxBytes
    this.#refresh = refreshName
  }

  /**
   * `undefined`: not a control frame, hand it to the app. `null`: a refresh message that is
   * malformed (close 4400). A string: the token of a well-formed refresh.
   */
  read (data: unknown, isBinary: unknown): string | null | undefined {
    if (isBinary !== false) return undefined
    const buf = toBuffer(data)
    if (buf === undefined || buf.length > this.#maxBytes || buf.indexOf(this.#needle) === -1) return undefined
    let msg: unknown
    try {
      msg = JSON.parse(buf.toString('utf8'))
    } catch {
      return undefined // not JSON: the app's own text that happens to contain the name
    }
    if (typeof msg !== 'object' || msg === null || (msg as { type?: unknown }).type !== this.#refresh) return undefined
    const token = (msg as { token?: unknown }).token
    return typeof token === 'string' && token.length > 0 ? token : null
  }
}

function toBuffer (data: unknown): Buffer | undefined {
  if (Buffer.isBuffer(data)) return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (Array.isArray(data) && data.every((d) => Buffer.isBuffer(d))) return Buffer.concat(data as Buffer[])
  return undefined
}
