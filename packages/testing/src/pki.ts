// A throw-away PKI for mTLS tests: a CA and workload certificates with SPIFFE URI SANs.
// @peculiar/x509 builds the certificates (Node can parse X.509 but not create it); it needs
// the reflect-metadata polyfill, which is why this test-only package loads it.
import 'reflect-metadata'
import { createHash, KeyObject, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as never)

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const HOUR = 3_600_000

/** A certificate and its private key, in the PEM Node's TLS takes. */
export interface TestCertificate {
  cert: string
  key: string
  /** base64url SHA-256 of the DER certificate: RFC 8705's `x5t#S256` */
  thumbprint: string
}

export interface TestCa extends TestCertificate {
  /** issues a workload (client) certificate signed by this CA */
  issue(options?: IssueOptions): Promise<TestCertificate>
  /** creates an intermediate CA signed by this one (it issues leaves the same way) */
  intermediate(commonName?: string): Promise<TestCa>
}

export interface IssueOptions {
  /** subject: `CN=<commonName>`; an empty string for an empty subject (as SPIFFE SVIDs often have). Default 'workload' */
  commonName?: string
  /** URI SANs, e.g. `spiffe://prod.example/ns/billing/sa/api`; none when empty. Default none */
  uris?: readonly string[]
  /** IP address SANs, for a server certificate (`127.0.0.1`). Default none */
  ipAddresses?: readonly string[]
  /** validity, ms since epoch. Default one minute ago to one hour from now */
  notBefore?: number
  notAfter?: number
  /** extended key usage OIDs; `[]` leaves the extension out. Default client and server authentication */
  extendedKeyUsage?: readonly string[]
}

export interface CaOptions {
  /** validity, ms since epoch. Default one hour ago to a day from now */
  notBefore?: number
  notAfter?: number
  /** a critical nameConstraints extension permitting only URIs in these hosts (`dev.example`). Default none */
  permittedUriHosts?: readonly string[]
}

/** DER of a tag, its length and its content (short or long length form). */
function der (tag: number, content: Buffer): Buffer {
  const n = content.length
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), length, content])
}

/** NameConstraints { permittedSubtrees [0] { GeneralSubtree { uniformResourceIdentifier [6] host } … } } */
function nameConstraints (hosts: readonly string[]): x509.Extension {
  const subtrees = hosts.map((host) => der(0x30, der(0x86, Buffer.from(host, 'ascii'))))
  const value = der(0x30, der(0xa0, Buffer.concat(subtrees)))
  return new x509.Extension('2.5.29.30', true, new Uint8Array(value))
}

let serial = 1

async function keys (): Promise<webcrypto.CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair
}

async function pemKey (key: webcrypto.CryptoKey): Promise<string> {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string
}

function thumbprintOf (cert: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(cert.rawData)).digest('base64url')
}

const CA_EXTENSIONS = (): x509.Extension[] => [
  new x509.BasicConstraintsExtension(true, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)
]

/** Creates a CA (self-signed, P-256). */
export async function createTestCa (commonName = 'wsguard test CA', options: CaOptions = {}): Promise<TestCa> {
  const caKeys = await keys()
  const now = Date.now()
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: `CN=${commonName}`,
    notBefore: new Date(options.notBefore ?? now - HOUR),
    notAfter: new Date(options.notAfter ?? now + 24 * HOUR),
    keys: caKeys as never,
    signingAlgorithm: ALG,
    extensions: [...CA_EXTENSIONS(), ...(options.permittedUriHosts !== undefined ? [nameConstraints(options.permittedUriHosts)] : [])]
  })
  return await testCa(ca, caKeys)
}

/** A CA's certificate and keys, as a TestCa that issues leaves and intermediates. */
async function testCa (ca: x509.X509Certificate, caKeys: webcrypto.CryptoKeyPair): Promise<TestCa> {
  return {
    cert: ca.toString('pem'),
    key: await pemKey(caKeys.privateKey),
    thumbprint: thumbprintOf(ca),
    async intermediate (commonName = 'wsguard test intermediate CA'): Promise<TestCa> {
      const subKeys = await keys()
      const t = Date.now()
      const sub = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: `CN=${commonName}`,
        issuer: ca.subject,
        notBefore: new Date(t - HOUR),
        notAfter: new Date(t + 24 * HOUR),
        signingKey: caKeys.privateKey as never,
        publicKey: subKeys.publicKey as never,
        signingAlgorithm: ALG,
        extensions: CA_EXTENSIONS()
      })
      return await testCa(sub, subKeys)
    },
    async issue (options: IssueOptions = {}): Promise<TestCertificate> {
      const leafKeys = await keys()
      const t = Date.now()
      const usages = options.extendedKeyUsage ?? [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]
      const names = [
        ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
        ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value }))
      ]
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: options.commonName === '' ? '' : `CN=${options.commonName ?? 'workload'}`,
        issuer: ca.subject,
        notBefore: new Date(options.notBefore ?? t - 60_000),
        notAfter: new Date(options.notAfter ?? t + HOUR),
        signingKey: caKeys.privateKey as never,
        publicKey: leafKeys.publicKey as never,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          ...(usages.length > 0 ? [new x509.ExtendedKeyUsageExtension([...usages])] : []),
          ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [])
        ]
      })
      return { cert: leaf.toString('pem'), key: await pemKey(leafKeys.privateKey), thumbprint: thumbprintOf(leaf) }
    }
  }
}
