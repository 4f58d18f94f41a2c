// The command: its arguments, and the process itself (spawned as `pnpm demo` runs it): the
// URL line first, the port fallback, --verbose, and a clean stop on SIGINT and SIGTERM.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { parseCli, runCli } from '../src/cli.js'

t.test('parseCli', async (t) => {
  t.same(parseCli([], {}), { port: 3000, verbose: false })
  t.same(parseCli(['--verbose'], { PORT: '8080' }), { port: 8080, verbose: true })
  t.same(parseCli(['--', '--verbose'], {}), { port: 3000, verbose: true }, 'pnpm demo -- --verbose')
  t.same(parseCli([], { PORT: '' }), { port: 3000, verbose: false })
  t.same(parseCli([], { PORT: '0' }), { port: 0, verbose: false })
  t.throws(() => parseCli(['--port=1'], {}), { message: /^unknown argument --port=1; usage: demo \[--verbose\]/ })
  for (const bad of ['x', '-1', '70000', '1.5']) t.throws(() => parseCli([], { PORT: bad }), { message: `PORT must be a port number, not ${bad}` })
})

t.test('runCli in this process: the URL line, the port fallback, --verbose to its stream, a stop', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const port = (holder.address() as { port: number }).port
  for (const [argv, env] of [[['--verbose'], { PORT: String(port) }], [[], { PORT: '0' }]] as const) {
    const lines: string[] = []
    const logs = new PassThrough()
    let logged = ''
    logs.on('data', (chunk: Buffer) => { logged += String(chunk) })
    let stop = (): void => {}
    const exited = new Promise<number>((resolve) => {
      runCli(argv, env, { log: (l) => lines.push(l), error: (l) => lines.push(l), logStream: logs, onStop: (s) => { stop = s }, exit: resolve })
        .then(() => {
          const url = /open (\S+)/.exec(lines[0] as string)?.[1] as string
          return fetch(url)
        })
        .then(() => { stop() })
    })
    t.equal(await exited, 0)
    if (argv.length === 1) {
      t.match(lines[0], `(port ${port} was taken)`)
      t.notMatch(lines[0], '--verbose shows the log')
      t.match(logged, '"msg":"incoming request"')
    } else {
      t.notMatch(lines[0], 'was taken')
      t.match(lines[0], '--verbose shows the log')
      t.equal(logged, '')
    }
    t.equal(lines.at(-1), '  stopped')
  }
  const errors: string[] = []
  t.equal(await new Promise<number>((resolve) => { runCli(['-x'], {}, { log: () => {}, error: (l) => errors.push(l), logStream: new PassThrough(), onStop: () => {}, exit: resolve }) }), 2)
  t.match(errors, [/^unknown argument -x/])
})

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))

interface Run {
  /** resolves with the first stdout line that matches */
  line(pattern: RegExp): Promise<string>
  /** the same on stderr */
  errLine(pattern: RegExp): Promise<string>
  stdout(): string
  stderr(): string
  exit: Promise<{ code: number | null, signal: string | null }>
  kill(signal: NodeJS.Signals): void
}

function run (t: Test, args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--conditions=@wsguard/source', '--import', 'tsx', main, ...args], { env: { ...process.env, ...env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const text = { out: '', err: '' }
  const waiting: Array<{ key: 'out' | 'err', pattern: RegExp, resolve: (line: string) => void }> = []
  const check = (): void => {
    for (const w of [...waiting]) {
      const found = text[w.key].split('\n').find((l) => w.pattern.test(l))
      if (found !== undefined) { waiting.splice(waiting.indexOf(w), 1); w.resolve(found) }
    }
  }
  child.stdout.on('data', (chunk: Buffer) => { text.out += String(chunk); check() })
  child.stderr.on('data', (chunk: Buffer) => { text.err += String(chunk); check() })
  const exit = new Promise<{ code: number | null, signal: string | null }>((resolve) => child.on('exit', (code, signal) => { resolve({ code, signal }) }))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exit
  })
  const line = (key: 'out' | 'err', pattern: RegExp): Promise<string> => new Promise((resolve) => {
    waiting.push({ key, pattern, resolve })
    check()
  })
  return {
    line: (pattern) => line('out', pattern),
    errLine: (pattern) => line('err', pattern),
    stdout: () => text.out,
    stderr: () => text.err,
    exit,
    kill: (signal) => { child.kill(signal) }
  }
}

t.test('PORT taken: another port, said on the URL line; --verbose logs JSON lines without credentials; SIGINT stops it (exit 0)', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const port = (holder.address() as { port: number }).port
  const cli = run(t, ['--verbose'], { PORT: String(port) })
  const url = await cli.line(/wsguard demo: open /)
  t.match(url, new RegExp(`open http://127\\.0\\.0\\.1:(?!${port}/)\\d+/  \\(port ${port} was taken\\)$`))
  t.equal(cli.stdout().trimStart().split('\n')[0], url.trim(), 'the URL is the first thing printed')
  const base = /open (\S+)/.exec(url)?.[1] as string
  const page = await fetch(`${base}login`, { redirect: 'manual' })
  t.equal(page.status, 303)
  const logged = await cli.errLine(/"url":"\/login"/)
  t.match(JSON.parse(logged), { level: 30, req: { method: 'GET', url: '/login' } })
  await fetch(`${base}callback?code=secret-code&state=secret-state`)
  await cli.errLine(/"url":"\/callback/)
  t.notMatch(cli.stderr(), 'secret-code', 'the authorization code is not logged')
  t.notMatch(cli.stderr(), 'secret-state')
  t.notMatch(cli.stdout(), /"level"/, 'log lines on stderr, stdout is the URL\'s')
  cli.kill('SIGINT')
  t.same(await cli.exit, { code: 0, signal: null })
  t.match(cli.stdout(), /\n {2}stopped\n$/)
})

t.test('PORT free: that port, no log lines; SIGTERM stops it (exit 0)', async (t) => {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as { port: number }).port
  await new Promise((resolve) => probe.close(resolve))
  const cli = run(t, [], { PORT: String(port) })
  t.match(await cli.line(/wsguard demo: open /), `open http://127.0.0.1:${port}/`)
  await cli.line(/--verbose shows the log/)
  t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200)
  cli.kill('SIGTERM')
  t.same(await cli.exit, { code: 0, signal: null })
  t.notMatch(cli.stdout(), /"level"/, 'no log line')
})

t.test('an unknown argument: usage, exit 2', async (t) => {
  const cli = run(t, ['--nope'], {})
  t.same(await cli.exit, { code: 2, signal: null })
  t.match(cli.stderr(), /^unknown argument --nope; usage: demo \[--verbose\]/)
})
