// Load generator for topics.ts, in its own process so the server's CPU figures are the server's.
// For each batch: open one socket, send `count` frames as fast as the socket drains, wait for "done".
import WebSocket from 'ws'

export interface MessageBatch {
  url: string
  count: number
  /** frames cycle through these */
  frames: string[]
  /** sent last; the server answers it, which stops the clock */
  lastFrame: string
  timeoutMs: number
}

export interface MessageResult { sent: number, elapsedMs: number, timedOut: boolean }

function run (batch: MessageBatch): Promise<MessageResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(batch.url, { perMessageDeflate: false })
    let sent = 0
    let started = 0
    const timer = setTimeout(() => { ws.terminate(); resolve({ sent, elapsedMs: performance.now() - started, timedOut: true }) }, batch.timeoutMs)
    const pump = (): void => {
      // Bounded by count; pauses whenever 1 MB is buffered and resumes from the send callback.
      while (sent < batch.count) {
        const frame = sent === batch.count - 1 ? batch.lastFrame : batch.frames[sent % batch.frames.length] as string
        sent++
        if (ws.bufferedAmount > 1 << 20) { ws.send(frame, () => pump()); return }
        ws.send(frame)
      }
    }
    ws.on('open', () => { started = performance.now(); pump() })
    ws.on('message', () => {
      clearTimeout(timer)
      resolve({ sent, elapsedMs: performance.now() - started, timedOut: false })
      ws.close()
    })
    ws.on('error', reject)
  })
}

process.on('message', (batch: MessageBatch) => {
  run(batch).then((result) => process.send?.(result), (err: Error) => process.send?.({ error: err.message }))
})
process.on('disconnect', () => process.exit(0))
