// `pnpm demo`: the command on this process (src/cli.ts).
import { runCli } from './cli.js'

await runCli(process.argv.slice(2), process.env, {
  log: (text) => { console.log(text) },
  error: (text) => { console.error(text) },
  logStream: process.stderr,
  onStop: (stop) => {
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  },
  exit: (code) => process.exit(code)
})
