// A reconnect storm on demand: a client (the storm-bot workload) reconnecting in a tight
// loop, so telemetry's reconnect-storm anomaly fires. What the dashboard's button starts.
import WebSocket from 'ws'
import { PROTOCOL } from './api.js'

export interface StormResult {
  /** handshakes attempted */
  attempts: number
  /** sockets that opened (said hello) */
  opened: number
}

/** Opens a socket with the token in a header, waits for its hello, closes it; true if it opened. */
function reconnect (url: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    let opened = false
    const ws = new WebSocket(url, [PROTOCOL], { headers: { authorization: `Bearer ${token}` } })
    ws.on('message', () => {
      opened = true
      ws.close(1000)
    })
    ws.on('error', () => {})
    ws.on('close', () => { resolve(opened) })
  })
}

/** `attempts` reconnects one after the other, as fast as the server answers. */
export async function runStorm (url: string, token: string, attempts: number): Promise<StormResult> {
  let opened = 0
  for (let i = 0; i < attempts; i++) if (await reconnect(url, token)) opened++
  return { attempts, opened }
}
