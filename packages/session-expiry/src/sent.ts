/**
 * What ws 8 makes of `socket.send(data, options)`, read the way it reads it
 * (`WebSocket#send`, `Sender#send`, `toBuffer`): the options are `{ binary: typeof data !==
 * 'string', fin: true, ...options }` (own enumerable members only; a function in the options
 * place is the callback), a number is sent as its digits, a falsy value as nothing, a Blob
 * (duck-typed as ws does) read later, and anything else as `Buffer.from` makes it.
 */

/** A Blob's bytes are read asynchronously: they cannot be judged when it is sent. */
export const BLOB = Symbol('blob')

const given = (options: unknown, name: 'binary' | 'fin'): options is Record<string, unknown> =>
  typeof options === 'object' && options !== null && Object.prototype.propertyIsEnumerable.call(options, name)

/** Whether ws sends `data` as a binary message (or its first fragment as one). */
export function sentAsBinary (data: unknown, options: unknown): boolean {
  return given(options, 'binary') ? Boolean(options.binary) : typeof data !== 'string' && typeof data !== 'number'
}

/** Whether this send ends its message (`fin`): false for a fragment that more will follow. */
export function sentAsFinal (options: unknown): boolean {
  return given(options, 'fin') ? Boolean(options.fin) : true
}

/** The text or bytes ws puts on the wire; `undefined` when ws would refuse `data` (it throws). */
export function sentPayload (data: unknown): string | Buffer | typeof BLOB | undefined {
  if (typeof data === 'number') return String(data)
  if (typeof data === 'string') return data
  if (!(data as boolean)) return ''
  if (isBlob(data)) return BLOB
  if (Buffer.isBuffer(data)) return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  try {
    return Buffer.from(data as never)
  } catch {
    return undefined
  }
}

function isBlob (value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const v = value as { arrayBuffer?: unknown, type?: unknown, stream?: unknown, [Symbol.toStringTag]?: unknown }
  return typeof v.arrayBuffer === 'function' && typeof v.type === 'string' && typeof v.stream === 'function' &&
    (v[Symbol.toStringTag] === 'Blob' || v[Symbol.toStringTag] === 'File')
}
