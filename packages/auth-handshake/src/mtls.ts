import { createHash, X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { invalidOption, type CertificateIdentity, type PrincipalKind } from '@wsguard/core'

/** What the plugin read off a verified client certificate. */
export interface ClientCertificate {
  /** the subject distinguished name, as Node prints it */
  readonly subject: string
  /** URI subject alternative names */
  readonly uris: readonly string[]
  /** SHA-256 fingerprint, colon-separated hex (as Node's `fingerprint256`) */
  readonly fingerprint256: string
  /** base64url SHA-256 of the DER certificate: RFC 8705's `x5t#S256` */
  readonly thumbprint: string
  /** ms since epoch */
  readonly notBefore: number
  readonly notAfter: number
}

/** The workload a certificate names, for `mtls.identity` functions. */
export interface MtlsIdentity {
  id: string
  /** default `workload` */
  kind?: PrincipalKind
  /** scopes the certificate grants, for route scope rules. Default none */
  scopes?: readonly string[]
}

export interface MtlsOptions {
  /** SPIFFE trust domains accepted (`prod.example`); required with `identity: 'spiffe'` */
  trustDomains?: readonly string[]
  /** how a certificate becomes an identity: `'spiffe'` (the one URI SAN), or a function for other PKIs. Default `'spiffe'` */
  identity?: 'spiffe' | ((certificate: ClientCertificate) => MtlsIdentity | undefined)
  /** workload ids allowed; `*` matches one path segment (`spiffe://prod.example/ns/billing/sa/*`). Default: any */
  allow?: readonly string[]
  /**
   * Behind a TLS-terminating proxy: read the client certificate the proxy forwards in a
   * header (URL-encoded PEM, as nginx's `$ssl_client_escaped_cert`), but only on connections
   * from these proxy addresses, and only if it was issued by one of these CAs. Off by default:
   * anyone who can reach the server without going through the proxy could otherwise claim any
   * certificate.
   */
  trustProxyCertificateHeader?: { header: string, proxies: readonly string[], ca: string | readonly string[] }
}

export interface MtlsConfig {
  readonly trustDomains: ReadonlySet<string>
  readonly identity: (certificate: ClientCertificate) => MtlsIdentity | undefined
  readonly allow: ((id: string) => boolean) | undefined
  readonly proxy: { readonly header: string, readonly proxies: ReadonlySet<string>, readonly cas: readonly TrustedCa[] } | undefined
}

/** A CA named for the forwarded header, with its validity read once. */
export interface TrustedCa {
  readonly cert: X509Certificate
  readonly notBefore: number
  readonly notAfter: number
}

const MTLS_KEYS = new Set(['trustDomains', 'identity', 'allow', 'trustProxyCertificateHeader'])
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const TRUST_DOMAIN = /^[a-z0-9._-]+$/
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/

/** A SPIFFE ID (`spiffe://<trust domain>/<path>`): its trust domain, or undefined if it is not one. */
export function spiffeTrustDomain (uri: string): string | undefined {
  if (uri.length > 2048 || !uri.startsWith('spiffe://')) return undefined
  const rest = uri.slice('spiffe://'.length)
  const slash = rest.indexOf('/')
  if (slash <= 0) return undefined
  const domain = rest.slice(0, slash)
  if (!TRUST_DOMAIN.test(domain)) return undefined
  const segments = rest.slice(slash + 1).split('/')
  for (const s of segments) {
    if (!PATH_SEGMENT.test(s) || s === '.' || s === '..') return undefined
  }
  return domain
}

function allowPattern (pattern: string): RegExp {
  const escaped = pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[A-Za-z0-9._-]+')
  return new RegExp(`^${escaped}$`)
}

/** Validates `opts.mtls` once, at registration. */
export function validateMtls (value: unknown): MtlsConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption('opts.mtls must be an object')
  for (const key of Object.keys(value)) if (!MTLS_KEYS.has(key)) throw invalidOption(`opts.mtls.${key} is not an option`)
  const v = value as Record<string, unknown>
  const identity = v.identity ?? 'spiffe'
  if (identity !== 'spiffe' && typeof identity !== 'function') throw invalidOption("opts.mtls.identity must be 'spiffe' or a function")
  let trustDomains = new Set<string>()
  if (v.trustDomains !== undefined) {
    if (!Array.isArray(v.trustDomains) || v.trustDomains.length === 0 || !v.trustDomains.every((d) => typeof d === 'string' && TRUST_DOMAIN.test(d))) {
      throw invalidOption('opts.mtls.trustDomains must be a non-empty array of trust domains (lowercase letters, digits, . _ -)')
    }
    trustDomains = new Set(v.trustDomains as string[])
  }
  if (identity === 'spiffe' && trustDomains.size === 0) throw invalidOption("opts.mtls.trustDomains is required with identity 'spiffe'")
  let allow: MtlsConfig['allow']
  if (v.allow !== undefined) {
    if (!Array.isArray(v.allow) || v.allow.length === 0 || !v.allow.every((p) => typeof p === 'string' && p.length > 0)) {
      throw invalidOption('opts.mtls.allow must be a non-empty array of workload id patterns')
    }
    const patterns = (v.allow as string[]).map(allowPattern)
    allow = (id) => patterns.some((p) => p.test(id))
  }
  const spiffe = (cert: ClientCertificate): MtlsIdentity | undefined => {
    // Exactly one URI SAN, a SPIFFE ID of an accepted trust domain.
    if (cert.uris.length !== 1) return undefined
    const id = cert.uris[0] as string
    const domain = spiffeTrustDomain(id)
    return domain !== undefined && trustDomains.has(domain) ? { id } : undefined
  }
  return Object.freeze({ trustDomains, identity: identity === 'spiffe' ? spiffe : identity as MtlsConfig['identity'], allow, proxy: validateProxy(v.trustProxyCertificateHeader) })
}

function validateProxy (value: unknown): MtlsConfig['proxy'] {
  if (value === undefined) return undefined
  const path = 'opts.mtls.trustProxyCertificateHeader'
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(`${path} must be { header, proxies, ca }`)
  for (const key of Object.keys(value)) if (!['header', 'proxies', 'ca'].includes(key)) throw invalidOption(`${path}.${key} is not an option`)
  const v = value as Record<string, unknown>
  if (typeof v.header !== 'string' || !HEADER_NAME.test(v.header)) throw invalidOption(`${path}.header must be a header name`)
  if (!Array.isArray(v.proxies) || v.proxies.length === 0 || !v.proxies.every((p) => typeof p === 'string' && isIP(p) !== 0)) {
    throw invalidOption(`${path}.proxies must be a non-empty array of IP addresses`)
  }
  const pems = typeof v.ca === 'string' ? [v.ca] : v.ca
  if (!Array.isArray(pems) || pems.length === 0) throw invalidOption(`${path}.ca must be a PEM certificate or a non-empty array of them`)
  const cas = pems.map((pem, i): TrustedCa => {
    let cert: X509Certificate
    try {
      cert = new X509Certificate(pem as string)
    } catch {
      throw invalidOption(`${path}.ca[${i}] is not a PEM certificate`)
    }
    // As TLS would: only a CA certificate signs client certificates.
    if (!cert.ca) throw invalidOption(`${path}.ca[${i}] is not a CA certificate (basicConstraints CA:TRUE)`)
    // Node cannot check name constraints outside a TLS handshake: a CA they bound (a dev-only CA)
    // would otherwise issue any name through this header.
    let constrained: boolean
    try {
      constrained = hasExtension(cert.raw, NAME_CONSTRAINTS)
    } catch {
      throw invalidOption(`${path}.ca[${i}] is not DER-encoded`)
    }
    if (constrained) throw invalidOption(`${path}.ca[${i}] has name constraints, which a forwarded certificate cannot be checked against: list a CA without them, or let the proxy verify the chain alone`)
    return { cert, notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) }
  })
  return Object.freeze({ header: v.header.toLowerCase(), proxies: new Set(v.proxies as string[]), cas })
}

/** URI SANs from Node's `subjectAltName` text; a quoted (escaped) entry makes the list unreadable. */
function uriSans (subjectAltName: string | undefined): string[] | undefined {
  if (subjectAltName === undefined) return []
  const uris: string[] = []
  for (const entry of subjectAltName.split(', ')) {
    if (entry.includes('"')) return undefined
    if (entry.startsWith('URI:')) uris.push(entry.slice(4))
  }
  return uris
}

/**
 * The client certificate of a TLS request: `'missing'` when none was presented (or the
 * connection is not TLS), `'untrusted'` when the TLS layer did not verify it against the
 * server's CA, or it is outside its validity at `now`, or its names cannot be read.
 */
export function readClientCertificate (socket: unknown, now: number): ClientCertificate | 'missing' | 'untrusted' {
  const tls = socket as TLSSocket | undefined
  if (tls === undefined || tls.encrypted !== true || typeof tls.getPeerCertificate !== 'function') return 'missing'
  const peer = tls.getPeerCertificate(false)
  if (peer === null || peer.raw === undefined) return 'missing'
  if (!tls.authorized) return 'untrusted'
  // The fields TLS already parsed: building an X509Certificate again would parse it twice.
  return describe({
    validFrom: peer.valid_from,
    validTo: peer.valid_to,
    subjectAltName: peer.subjectaltname,
    subject: Object.entries(peer.subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', '),
    fingerprint256: peer.fingerprint256,
    raw: peer.raw
  }, now)
}

/** What `describe` reads of a certificate: an X509Certificate, or the TLS layer's parsed fields. */
interface CertificateFields {
  readonly validFrom: string
  readonly validTo: string
  readonly subjectAltName: string | undefined
  readonly subject: string
  readonly fingerprint256: string
  readonly raw: Buffer
}

// One certificate in PEM: base64 and whitespace between the armour lines (proxies differ in
// how they break or indent the lines), whitespace at most around it.
const ONE_PEM_CERTIFICATE = /^\s*-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*$/

/**
 * The certificate a trusted proxy forwarded: `undefined` when the connection does not come
 * from one of `proxies` (the header is then ignored), `'missing'` when the proxy sent none,
 * `'untrusted'` when it is not a client certificate issued by one of the CAs, or it or its CA is
 * out of date.
 */
export function readForwardedCertificate (proxy: NonNullable<MtlsConfig['proxy']>, remoteAddress: string | undefined, headers: Record<string, string | string[] | undefined>, now: number): ClientCertificate | 'missing' | 'untrusted' | undefined {
  if (remoteAddress === undefined || !proxy.proxies.has(remoteAddress)) return undefined
  const value = headers[proxy.header] as string | undefined
  if (value === undefined) return 'missing'
  let cert: X509Certificate
  try {
    const pem = decodeURIComponent(value)
    // Exactly one PEM block, nothing around it. Node joins a repeated header (a client's copy a
    // proxy appended to rather than replaced) as `A, B`, and OpenSSL would read the first
    // block of that, the client's choice, when it ends in a newline.
    if (!ONE_PEM_CERTIFICATE.test(pem)) return 'untrusted'
    cert = new X509Certificate(pem)
  } catch {
    return 'untrusted'
  }
  // What TLS checks of a client's chain: a leaf for client authentication, issued and signed by
  // a CA that is itself within its validity now.
  if (cert.ca || !forClientAuth(cert.keyUsage)) return 'untrusted'
  if (!proxy.cas.some((ca) => now >= ca.notBefore && now <= ca.notAfter && cert.checkIssued(ca.cert) && cert.verify(ca.cert.publicKey))) return 'untrusted'
  return describe({ validFrom: cert.validFrom, validTo: cert.validTo, subjectAltName: cert.subjectAltName, subject: cert.subject.replace(/\n/g, ', '), fingerprint256: cert.fingerprint256, raw: cert.raw }, now)
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

/**
 * Whether an extended key usage allows client authentication (Node's `keyUsage`: undefined when
 * the extension is absent). As OpenSSL's client purpose: `anyExtendedKeyUsage` alone does not.
 */
function forClientAuth (usages: readonly string[] | undefined): boolean {
  return usages === undefined || usages.includes(CLIENT_AUTH)
}

// The DER of the nameConstraints extension's OID, 2.5.29.30.
const NAME_CONSTRAINTS = Buffer.from([0x55, 0x1d, 0x1e])

/**
 * The tag of the DER element at `at`, and where its content starts and ends. Throws on what DER
 * does not allow and BER does: an indefinite length, which would read as empty (Node parsed
 * the certificate, so every definite length fits in what holds it).
 */
function element (der: Buffer, at: number): { tag: number, start: number, end: number } {
  const first = der[at + 1] as number
  if (first === 0x80) throw new RangeError('an indefinite length (BER, not DER)')
  let length = first
  let start = at + 2
  if (first > 0x80) {
    length = 0
    for (let k = 0; k < (first & 0x7f); k++) length = length * 256 + (der[start + k] as number)
    start += first & 0x7f
  }
  return { tag: der[at] as number, start, end: start + length }
}

/**
 * Whether a certificate (DER that Node already parsed, so well formed) has an extension with
 * OID `oid`: Certificate → tbsCertificate → [3] extensions → each Extension's first element.
 */
function hasExtension (der: Buffer, oid: Buffer): boolean {
  const tbs = element(der, element(der, 0).start)
  for (let at = tbs.start; at < tbs.end;) {
    const field = element(der, at)
    if (field.tag === 0xa3) {
      const list = element(der, field.start)
      for (let e = list.start; e < list.end;) {
        const extension = element(der, e)
        const id = element(der, extension.start)
        if (der.subarray(id.start, id.end).equals(oid)) return true
        e = extension.end
      }
    }
    at = field.end
  }
  return false
}

/** What a verified certificate says, or `'untrusted'` when out of date or unreadable. */
function describe (cert: CertificateFields, now: number): ClientCertificate | 'untrusted' {
  const notBefore = Date.parse(cert.validFrom)
  const notAfter = Date.parse(cert.validTo)
  if (!(now >= notBefore && now <= notAfter)) return 'untrusted'
  const uris = uriSans(cert.subjectAltName)
  if (uris === undefined) return 'untrusted'
  return Object.freeze({
    subject: cert.subject,
    uris: Object.freeze(uris),
    fingerprint256: cert.fingerprint256,
    thumbprint: createHash('sha256').update(cert.raw).digest('base64url'),
    notBefore,
    notAfter
  })
}

/** The principal's `certificate` field. */
export function certificateIdentity (cert: ClientCertificate, id: string): CertificateIdentity {
  return Object.freeze({
    fingerprint256: cert.fingerprint256,
    subject: cert.subject,
    ...(id.startsWith('spiffe://') ? { spiffeId: id } : {}),
    notAfter: cert.notAfter
  })
}
