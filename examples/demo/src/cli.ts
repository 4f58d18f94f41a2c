// What the command line says: `--verbose`, and the port from PORT.
import { DEFAULT_PORT } from './server.js'

export interface CliOptions {
  port: number
  verbose: boolean
}

export function parseCli (argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliOptions {
  const unknown = argv.filter((a) => a !== '--verbose')
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown[0] as string}; usage: demo [--verbose]  (PORT=<port> to choose the port)`)
  const port = env.PORT === undefined || env.PORT === '' ? DEFAULT_PORT : Number(env.PORT)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, not ${String(env.PORT)}`)
  return { port, verbose: argv.includes('--verbose') }
}
