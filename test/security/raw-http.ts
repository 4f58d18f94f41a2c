// One HTTP/1.1 exchange written as raw bytes over a TCP socket: whatever the bytes are,
// the answer (or its absence) is reported, never thrown.
import { connect } from 'node:net'

export interface RawAnswer {
  /** the status code of the answer; 0 when none arrived */
  status: number
  /** the status line and headers, latin1 */
  head: string
  /** everything the server sent */
  bytes: Buffer
  /** nothing complete arrived within the time allowed */
  timedOut: boolean
}

const HEAD_END = Buffer.from('\r\n\r\n')

/** The headers that make a request a WebSocket upgrade (RFC 6455 §4.1's sample key), each line ended. */
export const UPGRADE_HEADERS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

/** The answer once `bytes` hold a whole one: a 101, a bodiless answer, or a body of the announced length. */
export function whole (bytes: Buffer, bodiless: boolean): RawAnswer | undefined {
  const end = bytes.indexOf(HEAD_END)
  if (end === -1) return undefined
  const head = bytes.subarray(0, end).toString('latin1')
  const status = Number(head.slice(9, 12))
  const answer = { status, head, bytes, timedOut: false }
  if (status === 101 || bodiless) return answer
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)
  const body = bytes.subarray(end + HEAD_END.length)
  if (length !== null) return body.length >= Number(length[1]) ? answer : undefined
  // chunked: the last chunk ends the body (close-delimited bodies end with the socket)
  return body.includes('0\r\n\r\n') ? answer : undefined
}

/**
 * Sends `request` to 127.0.0.1:`port` and resolves with the first answer: once it is whole,
 * when the server closes, or after `timeoutMs`. A HEAD request's answer has no body.
 */
export function exchange (port: number, request: Buffer | string, timeoutMs: number): Promise<RawAnswer> {
  const bodiless = request.slice(0, 5).toString() === 'HEAD '
  return new Promise((resolve) => {
    let bytes = Buffer.alloc(0)
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    const finish = (answer: RawAnswer): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const partial = (timedOut: boolean): RawAnswer => {
      const end = bytes.indexOf(HEAD_END)
      const head = bytes.subarray(0, end === -1 ? bytes.length : end).toString('latin1')
      return { status: Number(head.slice(9, 12)) || 0, head, bytes, timedOut }
    }
    const timer = setTimeout(() => finish(partial(true)), timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk])
      const answer = whole(bytes, bodiless)
      if (answer !== undefined) finish(answer)
    })
    // A reset or an early close: what arrived is the answer.
    socket.on('error', () => finish(partial(false)))
    socket.on('close', () => finish(partial(false)))
  })
}
