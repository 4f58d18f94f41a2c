// The command: `--verbose`, the port from PORT, the URL line first, a clean stop on a signal.
import { DEFAULT_PORT, startDemo } from './server.js'

export interface CliOptions {
  port: number
  verbose: boolean
}

export function parseCli (argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliOptions {
  // `pnpm demo -- --verbose` hands the script a lone `--` (end of options): nothing to read in it.
  const unknown = argv.filter((a) => a !== '--verbose' && a !== '--')
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown[0] as string}; usage: demo [--verbose]  (PORT=<port> to choose the port)`)
  const port = env.PORT === undefined || env.PORT === '' ? DEFAULT_PORT : Number(env.PORT)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, not ${String(env.PORT)}`)
  return { port, verbose: argv.includes('--verbose') }
}

/** What the command touches of its process (main.ts passes the real one; tests, their own). */
export interface CliIo {
  log: (text: string) => void
  error: (text: string) => void
  /** where --verbose log lines go (main.ts: stderr, so stdout starts with the URL) */
  logStream: NodeJS.WritableStream
  /** calls `stop` on SIGINT or SIGTERM */
  onStop: (stop: () => void) => void
  exit: (code: number) => void
}

export async function runCli (argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: CliIo): Promise<void> {
  let options: CliOptions
  try {
    options = parseCli(argv, env)
  } catch (err) {
    io.error((err as Error).message)
    return io.exit(2)
  }
  const demo = await startDemo({ ...options, logStream: io.logStream })
  const taken = demo.portTaken ? `  (port ${options.port} was taken)` : ''
  io.log(`\n  wsguard demo: open ${demo.url}${taken}\n\n  Sign in as alice, bob or admin. Ctrl-C to stop.${options.verbose ? '' : ' --verbose shows the log.'}\n`)
  // Sockets close 1001, then the server and the provider. A failure to close is an unhandled
  // rejection: the process exits 1 with its stack.
  io.onStop(() => {
    demo.close().then(() => {
      io.log('  stopped')
      io.exit(0)
    })
  })
}
