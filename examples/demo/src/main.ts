// The demo's command: starts everything, prints the URL to open, stops cleanly on Ctrl-C.
import { parseCli } from './cli.js'
import { startDemo } from './server.js'

let options
try {
  options = parseCli(process.argv.slice(2), process.env)
} catch (err) {
  console.error((err as Error).message)
  process.exit(2)
}
const demo = await startDemo(options)
const taken = demo.portTaken ? `  (port ${options.port} was taken)` : ''
console.log(`\n  wsguard demo: open ${demo.url}${taken}\n\n  Sign in as alice, bob or admin. Ctrl-C to stop.${options.verbose ? '' : ' --verbose shows the log.'}\n`)

// Sockets close 1001, then the server and the provider; a failure to close is an unhandled
// rejection, which exits 1 with its stack.
async function stop (): Promise<void> {
  await demo.close()
  console.log('  stopped')
  process.exit(0)
}
process.once('SIGINT', () => { void stop() })
process.once('SIGTERM', () => { void stop() })
