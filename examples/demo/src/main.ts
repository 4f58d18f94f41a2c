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

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  demo.close().then(() => {
    console.log('  stopped')
    process.exit(0)
  }, (err: Error) => {
    console.error(err)
    process.exit(1)
  })
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
