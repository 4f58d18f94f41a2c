import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import type { TestKey } from './keys.js'

/** A relying party of the login provider: a web app signing users in by authorization code. */
export interface OidcLoginClient {
  clientId: string
  /** where the OP posts logout tokens (e.g. an app on 127.0.0.1) */
  backchannelLogoutUri: string
  /** the OP puts `sid` in its ID tokens and logout tokens (`backchannel_logout_session_required`). Default true */
  sessionRequired?: boolean
}

export interface OidcLoginProviderOptions {
  /** signing keys; the first signs ID, access and logout tokens */
  keys: TestKey[]
  /** `aud` of the access tokens (the API) */
  audience: string
  /** scope of the access tokens. Default 'feed:read' */
  scope?: string
}

/** One signed-in browser: its tokens, and its session at the OP. */
export interface SignedIn {
  sub: string
  /** the OP session id of this sign-in (`sid` of the ID token; also in the access token) */
  sid: string | undefined
  idToken: string
  /** a JWT access token (`typ: at+jwt`) carrying `sub` and `sid` */
  accessToken: string
  /**
   * Logs out at the OP as a browser does (end_session, then its confirmation with
   * `logout=yes`). oidc-provider posts the logout tokens before it answers, so they have
   * been delivered (or failed) when this resolves.
   */
  logout(): Promise<void>
}

/**
 * A real OpenID Provider (`oidc-provider`) on 127.0.0.1 with interactive sign-in and its
 * back-channel logout feature. Sign-ins are driven programmatically: the interaction logs in
 * the `login_hint` account and the grant is given without a consent screen.
 */
export interface OidcLoginProvider {
  issuer: string
  /** the client apps sign in with; call once the app's logout URI is known, before signing in */
  registerClient(client: OidcLoginClient): void
  signIn(accountId: string): Promise<SignedIn>
  /** each back-channel delivery so far: `ok`, or the OP's error message */
  readonly deliveries: ReadonlyArray<{ ok: boolean, error?: string }>
  close(): Promise<void>
}

const RESOURCE = 'https://wsguard.test/api'
/** A test's request to the OP that has not been answered in this long fails (rather than hang until tap's timeout), ms. */
const REQUEST_WAIT_MS = 15_000
const REDIRECT_URI = 'https://app.wsguard.test/callback'

/** Cookies by name, as a browser keeps them for one site (paths and expiry aside). */
class CookieJar {
  readonly #cookies = new Map<string, string>()

  take (res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
  }

  get header (): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

interface InteractionContext {
  oidc: {
    result?: { consent?: { grantId?: string } }
    session: { accountId: string, grantIdFor(clientId: string): string | undefined }
    client: { clientId: string }
    provider: Provider
  }
}

function buildProvider (issuer: string, options: OidcLoginProviderOptions, client: OidcLoginClient | undefined): Provider {
  const scope = options.scope ?? 'feed:read'
  const alg = options.keys[0]?.alg
  return new Provider(issuer, {
    jwks: { keys: options.keys.map((k) => k.privateJwk) } as never,
    scopes: ['openid'], // the API's scope is a resource scope (getResourceServerInfo), not an OIDC one
    clientDefaults: { id_token_signed_response_alg: alg } as never,
    clients: client === undefined
      ? []
      : [{
          client_id: client.clientId,
          client_secret: `${client.clientId}-secret`,
          grant_types: ['authorization_code'],
          response_types: ['code'],
          redirect_uris: [REDIRECT_URI],
          backchannel_logout_uri: client.backchannelLogoutUri,
          backchannel_logout_session_required: client.sessionRequired ?? true
        }],
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope, audience: options.audience, accessTokenFormat: 'jwt', jwt: { sign: { alg } } })
      }
    },
    // The access token carries the OP session's sid, as some IdPs' do, so a logout by sid finds its sockets.
    extraTokenClaims: (_ctx: unknown, token: { sid?: string }) => (token.sid === undefined ? undefined : { sid: token.sid }),
    // Sign-in without a consent screen: the first-party grant is given here.
    loadExistingGrant: async (ctx: InteractionContext) => {
      const { oidc } = ctx
      const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId)
      if (grantId !== undefined) return await oidc.provider.Grant.find(grantId)
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId })
      grant.addOIDCScope('openid')
      grant.addResourceScope(RESOURCE, scope)
      await grant.save()
      return grant
    },
    // oidc-provider refuses to reach loopback addresses (SSRF protection); the apps under test live there.
    fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _ssrfGuard, ...rest } = init
      return globalThis.fetch(url, rest)
    }
  } as never)
}

export async function startOidcLoginProvider (options: OidcLoginProviderOptions): Promise<OidcLoginProvider> {
  let provider: Provider | undefined
  let client: OidcLoginClient | undefined
  const deliveries: Array<{ ok: boolean, error?: string }> = []

  async function interaction (req: IncomingMessage, res: ServerResponse, op: Provider): Promise<void> {
    const details = await op.interactionDetails(req, res)
    await op.interactionFinished(req, res, { login: { accountId: String(details.params.login_hint) } }, { mergeWithLastSubmission: false })
  }

  const server = createServer((req, res) => {
    const op = provider as Provider
    if (req.url?.startsWith('/interaction/') === true) {
      interaction(req, res, op).catch((err: Error) => { res.writeHead(500).end(err.message) })
      return
    }
    ;(op.callback() as unknown as (req: IncomingMessage, res: ServerResponse) => void)(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  function install (): void {
    provider = buildProvider(issuer, options, client)
    provider.on('backchannel.success', () => { deliveries.push({ ok: true }) })
    provider.on('backchannel.error', (_ctx: unknown, err: Error) => { deliveries.push({ ok: false, error: err.message }) })
  }
  install()

  async function signIn (accountId: string): Promise<SignedIn> {
    if (client === undefined) throw new Error('registerClient() first')
    const { clientId } = client
    const jar = new CookieJar()
    const verifier = randomBytes(32).toString('base64url')
    const query = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      scope: `openid ${options.scope ?? 'feed:read'}`,
      redirect_uri: REDIRECT_URI,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: randomBytes(8).toString('hex'),
      nonce: randomBytes(8).toString('hex'),
      login_hint: accountId
    })
    let url = `${issuer}/auth?${query.toString()}`
    let code: string | null = null
    for (let hop = 0; hop < 10 && code === null; hop++) {
      const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header }, signal: AbortSignal.timeout(REQUEST_WAIT_MS) })
      jar.take(res)
      const location = res.headers.get('location')
      if (location === null) throw new Error(`sign-in stopped at ${url}: HTTP ${res.status} ${await res.text()}`)
      const next = new URL(location, url)
      if (next.href.startsWith(REDIRECT_URI)) {
        code = next.searchParams.get('code')
        if (code === null) throw new Error(`sign-in refused: ${next.searchParams.get('error_description') ?? next.href}`)
      }
      url = next.href
    }
    if (code === null) throw new Error('sign-in: no authorization code after 10 redirects')
    const tokenRes = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from(`${clientId}:${clientId}-secret`).toString('base64')
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
      signal: AbortSignal.timeout(REQUEST_WAIT_MS)
    })
    const tokens = await tokenRes.json() as { access_token?: string, id_token?: string, error_description?: string }
    if (tokens.access_token === undefined || tokens.id_token === undefined) throw new Error(`token endpoint: ${tokens.error_description}`)
    const idClaims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1] as string, 'base64url').toString()) as { sub: string, sid?: string }
    const idToken = tokens.id_token

    async function logout (): Promise<void> {
      const page = await fetch(`${issuer}/session/end?${new URLSearchParams({ id_token_hint: idToken }).toString()}`, { headers: { cookie: jar.header }, signal: AbortSignal.timeout(REQUEST_WAIT_MS) })
      jar.take(page)
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(await page.text())?.[1]
      if (xsrf === undefined) throw new Error('end_session: no logout form')
      const confirm = await fetch(`${issuer}/session/end/confirm`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: jar.header, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ xsrf, logout: 'yes' }),
        // the OP posts the logout tokens before it answers: bounded, so a delivery that hangs fails the test
        signal: AbortSignal.timeout(REQUEST_WAIT_MS)
      })
      if (confirm.status !== 303) throw new Error(`end_session confirm: HTTP ${confirm.status}`)
    }

    return { sub: idClaims.sub, sid: idClaims.sid, idToken, accessToken: tokens.access_token, logout }
  }

  return {
    issuer,
    registerClient (c) { client = c; install() },
    signIn,
    deliveries,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
