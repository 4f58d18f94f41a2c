import { randomId } from '@wsguard/core'
import type { Principal, WsguardErrorCode } from '@wsguard/core'
import { certificateIdentity, type ClientCertificate, type MtlsConfig } from './mtls.js'
import type { RouteMethod } from './route-rules.js'

/** The client certificate as the handshake sees it; `undefined` when mTLS is not configured. */
export type CertificateState = ClientCertificate | 'missing' | 'untrusted' | undefined

const EMPTY_CLAIMS = Object.freeze({})

/** The certificate's workload identity, or why it cannot be one. */
function workload (cert: ClientCertificate, mtls: MtlsConfig): { id: string, kind: Principal['kind'], scopes: readonly string[] } | 'WSG_CERT_UNTRUSTED' {
  const identity = mtls.identity(cert)
  if (identity === undefined || typeof identity.id !== 'string' || identity.id.length === 0) return 'WSG_CERT_UNTRUSTED'
  if (mtls.allow !== undefined && !mtls.allow(identity.id)) return 'WSG_CERT_UNTRUSTED'
  return { id: identity.id, kind: identity.kind ?? 'workload', scopes: Object.freeze([...(identity.scopes ?? [])]) }
}

/** A principal from the certificate alone (`mtls`). */
export function certificatePrincipal (cert: ClientCertificate, mtls: MtlsConfig): Principal | WsguardErrorCode {
  const w = workload(cert, mtls)
  if (typeof w === 'string') return w
  return Object.freeze({
    id: w.id,
    kind: w.kind,
    method: 'mtls',
    scopes: w.scopes,
    claims: EMPTY_CLAIMS,
    sessionId: randomId(),
    expiresAt: cert.notAfter,
    certificate: certificateIdentity(cert, w.id)
  }) as Principal
}

/**
 * Combines a verified token with the client certificate, per RFC 8705 and the route's
 * methods. A token bound to a certificate (`cnf["x5t#S256"]`) needs that very certificate,
 * whatever the route accepts, and then expires no later than that certificate; with
 * `jwt+mtls` the principal carries the certificate and expires with the earlier of the two.
 * The certificate is read only when it matters: a plain token on a `jwt` route costs no
 * certificate parsing. A verified token always has `exp` (checkClaims refuses one without).
 */
export function bindToken (principal: Principal, readCert: () => CertificateState, mtls: MtlsConfig | undefined, methods: ReadonlySet<RouteMethod>, bindingRequired: boolean): Principal | WsguardErrorCode {
  const cnf = (principal.claims.cnf as { 'x5t#S256'?: unknown } | undefined)?.['x5t#S256']
  let boundTo: ClientCertificate | undefined
  if (cnf !== undefined || bindingRequired) {
    const cert = readCert()
    if (cert === 'untrusted') return 'WSG_CERT_UNTRUSTED'
    if (typeof cert !== 'object') return 'WSG_CERT_REQUIRED'
    if (cnf !== cert.thumbprint) return 'WSG_CERT_BINDING_MISMATCH'
    boundTo = cert
  }
  if (methods.has('jwt+mtls')) {
    const cert = readCert()
    if (typeof cert === 'object') {
      const w = workload(cert, mtls as MtlsConfig)
      if (typeof w === 'string') return w
      return Object.freeze({
        ...principal,
        method: 'jwt+mtls',
        certificate: certificateIdentity(cert, w.id),
        expiresAt: Math.min(principal.expiresAt as number, cert.notAfter) // a verified token always has exp
      })
    }
  }
  if (methods.has('jwt')) {
    // A bound token is usable only with its certificate, so it expires with it on any route:
    // past notAfter the same token and certificate are refused, and so must the open socket be.
    if (boundTo !== undefined && boundTo.notAfter < (principal.expiresAt as number)) return Object.freeze({ ...principal, expiresAt: boundTo.notAfter })
    return principal
  }
  // The route takes only certificate methods: a token without a certificate is not enough,
  // and a token with one on an mtls-only route is a credential it does not accept.
  return typeof readCert() === 'object' ? 'WSG_BAD_REQUEST' : 'WSG_CERT_REQUIRED'
}
