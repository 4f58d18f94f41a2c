// Z14, third cut: a name-constrained CA whose tbsCertificate uses a BER indefinite length passed
// registration (the DER walk read the tbs as empty) and issued identities outside its
// constraints through trustProxyCertificateHeader. OpenSSL parses it, and Node's
// X509Certificate.raw keeps the BER bytes (the signature covers them). Such a CA is now refused.
import t from 'tap'
import { X509Certificate, createPrivateKey, sign } from 'node:crypto'
import { createTestCa } from '@wsguard/testing'
import { validateOptions } from '../src/options.js'

function el (der: Buffer, at: number): { start: number, end: number } {
  const first = der[at + 1] as number
  let length = first
  let start = at + 2
  if (first >= 0x80) { length = 0; for (let k = 0; k < (first & 0x7f); k++) length = length * 256 + (der[start + k] as number); start += first & 0x7f }
  return { start, end: start + length }
}
function tlv (tag: number, content: Buffer): Buffer {
  const n = content.length
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, content])
}
const toPem = (der: Buffer): string => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`

/** The same CA certificate, its tbsCertificate re-encoded `30 80 … 00 00` and signed again with the CA's own key. */
function berTbs (pem: string, keyPem: string): string {
  const der = new X509Certificate(pem).raw
  const tbs = el(der, el(der, 0).start)
  const sigAlgAt = tbs.end
  const sigAlg = der.subarray(sigAlgAt, el(der, sigAlgAt).end)
  const ber = Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(tbs.start, tbs.end), Buffer.from([0, 0])])
  const signature = sign('sha256', ber, createPrivateKey(keyPem))
  return toPem(tlv(0x30, Buffer.concat([ber, sigAlg, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))])))
}

t.test('a CA in BER (an indefinite length) is refused at registration, name-constrained or not', async (t) => {
  const devCa = await createTestCa('dev-only CA', { permittedUriHosts: ['dev.example'] })
  const plainCa = await createTestCa('plain CA')
  const proxy = (ca: string): unknown => ({ mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: { header: 'x-client-cert', proxies: ['127.0.0.1'], ca: [ca] } } })
  t.throws(() => validateOptions(proxy(devCa.cert)), { code: 'WSG_INVALID_OPTION', message: /has name constraints/ }, 'DER, constrained')
  t.doesNotThrow(() => validateOptions(proxy(plainCa.cert)), 'DER, not constrained')
  for (const [name, ca] of [['constrained', devCa], ['not constrained', plainCa]] as const) {
    const ber = berTbs(ca.cert, ca.key)
    const parsed = new X509Certificate(ber)
    t.equal(parsed.ca, true, `${name}: Node parses it as a CA`)
    t.throws(() => validateOptions(proxy(ber)), { code: 'WSG_INVALID_OPTION', message: /ca\[0\] is not DER-encoded/ }, `${name}, BER: refused`)
  }
})
