// The heavy dependencies (oidc-provider, @peculiar/x509 with reflect-metadata: about 2.5 s of
// loading together) are loaded by the functions that need them, on first call, not by
// importing @wsguard/testing: most test files make no OpenID Provider and no CA.
import type { OidcIssuer, OidcIssuerOptions } from './oidc-issuer.js'
import type { OidcLoginProvider, OidcLoginProviderOptions } from './oidc-login.js'
import type { CaOptions, TestCa } from './pki.js'

/** A real OpenID Provider (`oidc-provider`) on 127.0.0.1 issuing JWT access tokens by client credentials. */
export async function startOidcIssuer (options: OidcIssuerOptions): Promise<OidcIssuer> {
  return await (await import('./oidc-issuer.js')).startOidcIssuer(options)
}

/** A real OpenID Provider (`oidc-provider`) on 127.0.0.1 with interactive sign-in. */
export async function startOidcLoginProvider (options: OidcLoginProviderOptions): Promise<OidcLoginProvider> {
  return await (await import('./oidc-login.js')).startOidcLoginProvider(options)
}

/** A test certificate authority (ECDSA P-256), issuing intermediates and leaves. */
export async function createTestCa (commonName?: string, options?: CaOptions): Promise<TestCa> {
  return await (await import('./pki.js')).createTestCa(commonName, options)
}
