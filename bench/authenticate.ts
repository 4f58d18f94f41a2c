// auth-handshake's token check alone, against the bare hook's fast-jwt verifier, with no
// sockets, no Fastify and no other plugin: what `stack.ts`'s "auth-handshake" row costs in
// token work, apart from its hooks and the server around them (issue 15's attribution).
// One process pinned to core 1; each round verifies a batch of fresh ES256 tokens (each its
// own `sub` and `jti`, minted before the batch's clock starts) with each verifier in a
// rotating order; figures are medians over rounds, ratios the median of the per-round ratios.
import './built.js'
import { randomUUID } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import { claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import { machineLine, median, pin } from './lib.js'
import { AUD, ISS, tokenAuthenticator, type Authenticator, type TrustedKey } from './stack-app.js'

const ROUNDS = Number(process.env.ROUNDS ?? 9)
const COUNT = Number(process.env.COUNT ?? 4000)

const es = generateKey('ES256')
const key: TrustedKey = { alg: 'ES256', pem: es.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwks: jwks(es) }
type Outcome = { ok: boolean }
const check = (a: Authenticator) => (t: string): boolean => (a.authenticate(t) as Outcome).ok
const bare = createVerifier({ key: key.pem, algorithms: ['ES256'], allowedIss: ISS, allowedAud: AUD })

const VERIFIERS: Array<{ name: string, check: (token: string) => boolean }> = [
  { name: 'bare hook\'s fast-jwt verifier', check: (t) => typeof bare(t) === 'object' },
  { name: 'auth-handshake\'s authenticate()', check: check(await tokenAuthenticator(key)) },
  { name: 'auth-handshake\'s authenticate(), no verified-token cache', check: check(await tokenAuthenticator(key, { verifiedTokenCacheSize: 0 })) }
]

function batch (): string[] {
  const now = Date.now()
  return Array.from({ length: COUNT }, (_, i) => mintToken(es, { ...claimsFor(ISS, AUD, `user-${i}`, now, 3600), jti: randomUUID(), scope: 'feed:read', tenant: 'acme' }))
}

/** CPU µs per token for one verifier over a fresh batch; throws if any token is refused. */
function run (check: (token: string) => boolean): number {
  const tokens = batch()
  const before = process.cpuUsage()
  let refused = 0
  for (const t of tokens) if (!check(t)) refused++
  const cpu = process.cpuUsage(before)
  if (refused > 0) throw new Error(`${refused} of ${COUNT} fresh tokens refused`)
  return (cpu.user + cpu.system) / COUNT
}

const pinned = pin(process.pid, 1)
for (const v of VERIFIERS) run(v.check) // warm-up, not recorded
const samples = VERIFIERS.map(() => [] as number[])
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < VERIFIERS.length; k++) {
    const i = (k + r) % VERIFIERS.length
    samples[i]?.push(run((VERIFIERS[i] as typeof VERIFIERS[number]).check))
  }
}
const base = samples[0] as number[]
console.log(`\n${ROUNDS} rounds x ${COUNT} fresh ES256 tokens; ${pinned ? 'pinned to core 1' : 'not pinned'}; ${machineLine()}\n`)
console.log('| verifier | CPU µs/token (median) | vs bare hook\'s verifier (paired) |')
console.log('|---|---:|---:|')
VERIFIERS.forEach((v, i) => {
  const s = samples[i] as number[]
  console.log(`| ${v.name} | ${median(s).toFixed(1)} | ${median(s.map((x, r) => x / (base[r] as number))).toFixed(2)}x |`)
})
