/**
 * The playground's DER encoder and self-signed certificate (src/playground/der.ts, x509.ts): the bytes parse
 * as X.509 v3 in Node (OpenSSL) and in the openssl tool, with the names, validity and key usage asked for,
 * and the signature verifies with the certificate's own key.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitString, derLength, oid, unsignedInteger, x509Time } from '../../src/playground/der.js';
import { ipBytes, MAX_VALIDITY_SECONDS, selfSignedCertificate, toPem } from '../../src/playground/x509.js';

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const OPENSSL = haveOpenssl();
if (process.env.CI === 'true' && !OPENSSL) throw new Error('CI: the openssl tool is missing');

describe('DER primitives (X.690)', () => {
  it('lengths: short form to 127, then 0x8n and n big-endian bytes', () => {
    expect(hexOf(derLength(0))).toBe('00');
    expect(hexOf(derLength(127))).toBe('7f');
    expect(hexOf(derLength(128))).toBe('8180');
    expect(hexOf(derLength(255))).toBe('81ff');
    expect(hexOf(derLength(256))).toBe('820100');
    expect(hexOf(derLength(65536))).toBe('83010000');
  });
  it('OIDs: known encodings', () => {
    expect(hexOf(oid('1.2.840.113549'))).toBe('06062a864886f70d');
    expect(hexOf(oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hexOf(oid('2.5.29.17'))).toBe('0603551d11');
    expect(() => oid('3.1')).toThrow(RangeError);
    expect(() => oid('1.40')).toThrow(RangeError);
  });
  it('INTEGER: positive, minimal (one leading 0x00 only before a set top bit)', () => {
    expect(hexOf(unsignedInteger(Uint8Array.of(0, 0, 1)))).toBe('020101');
    expect(hexOf(unsignedInteger(Uint8Array.of(0x80)))).toBe('02020080');
    expect(hexOf(unsignedInteger(Uint8Array.of(0)))).toBe('020100');
  });
  it('BIT STRING carries its unused-bit count; times are UTCTime before 2050, GeneralizedTime from 2050', () => {
    expect(hexOf(bitString(Uint8Array.of(0x80), 7))).toBe('03020780');
    expect(Buffer.from(x509Time(Date.UTC(2026, 11, 5, 1, 2, 3) / 1000)).subarray(2).toString()).toBe('261205010203Z');
    expect(x509Time(Date.UTC(2026, 0, 1) / 1000)[0]).toBe(0x17);
    expect(x509Time(Date.UTC(2050, 0, 1) / 1000)[0]).toBe(0x18);
    expect(Buffer.from(x509Time(Date.UTC(2050, 0, 1) / 1000)).subarray(2).toString()).toBe('20500101000000Z');
  });
});

describe('ipBytes', () => {
  it('reads IPv4, compressed IPv6, embedded IPv4 and zone suffixes', () => {
    expect(hexOf(ipBytes('192.168.1.20'))).toBe('c0a80114');
    expect(hexOf(ipBytes('::1'))).toBe('0'.repeat(31) + '1');
    expect(hexOf(ipBytes('fe80::1%eth0'))).toBe('fe80' + '0'.repeat(27) + '1');
    expect(hexOf(ipBytes('::ffff:10.0.0.1'))).toBe('00000000000000000000ffff0a000001');
    expect(hexOf(ipBytes('2001:db8::'))).toBe('20010db8' + '0'.repeat(24));
    expect(() => ipBytes('example.com')).toThrow(RangeError);
  });
  it('any 16 bytes survive the full and the compressed text forms (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 }), (b, from, len) => {
        // Runs of zero groups anywhere, so '::' lands at the start, middle and end.
        const bytes = Uint8Array.from(b);
        for (let g = from; g < Math.min(8, from + len); g++) bytes[2 * g] = bytes[2 * g + 1] = 0;
        const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
        const full = groups.join(':');
        const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1); // WHATWG's canonical (compressed) form
        expect(hexOf(ipBytes(full))).toBe(hexOf(bytes));
        expect(hexOf(ipBytes(compressed))).toBe(hexOf(bytes));
      }),
      { numRuns: 300 },
    );
  });
});

describe('selfSignedCertificate', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const notBefore = Date.UTC(2026, 11, 5, 20, 0, 0) / 1000;
  const notAfter = notBefore + MAX_VALIDITY_SECONDS;
  const der = selfSignedCertificate({
    privateKey, publicKey, commonName: 'offpay playground', dnsNames: ['localhost', 'pi.local'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', 'fd00::2', 'fe80::fc:ff:fe00:1%eth0'], notBefore, notAfter,
  });
  const x = new X509Certificate(der);

  it('parses in Node as a v3 certificate with the names, validity, key usage asked for, signed by its own key', () => {
    expect(x.subjectAltName).toBe('DNS:localhost, DNS:pi.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.168.1.20, IP Address:FD00:0:0:0:0:0:0:2, IP Address:FE80:0:0:0:FC:FF:FE00:1');
    expect(Date.parse(x.validFrom) / 1000).toBe(notBefore);
    expect(Date.parse(x.validTo) / 1000).toBe(notAfter);
    expect(x.subject).toBe('CN=offpay playground');
    expect(x.issuer).toBe(x.subject);
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // Node reports the extended key usage here: serverAuth
    expect(x.checkPrivateKey(privateKey)).toBe(true);
    expect(x.verify(publicKey)).toBe(true);
    expect(x.checkHost('localhost')).toBe('localhost');
    expect(x.checkIP('192.168.1.20')).toBe('192.168.1.20');
    expect(x.checkIP('192.168.1.21')).toBeUndefined();
    expect(x.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
  });
  it('parses in the openssl tool: v3, basicConstraints CA:FALSE critical, keyUsage digitalSignature critical, serverAuth', () => {
    if (!OPENSSL) return;
    const dir = mkdtempSync(join(tmpdir(), 'offpay-x509-'));
    try {
      writeFileSync(join(dir, 'c.pem'), toPem('CERTIFICATE', der));
      const text = execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-text'], { encoding: 'utf8' });
      expect(text).toMatch(/Version: 3 \(0x2\)/);
      expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
      expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication/);
      expect(text).toMatch(/DNS:pi\.local/);
      // A client trusting this certificate as its own anchor accepts it for TLS server use.
      const v = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'c.pem'), join(dir, 'c.pem')], { encoding: 'utf8' });
      expect(v.trim()).toMatch(/OK$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('refuses a validity over 397 days, an empty name list and a non-P-256 key', () => {
    const base = { privateKey, publicKey, commonName: 'x', dnsNames: ['localhost'], ipAddresses: [], notBefore };
    expect(() => selfSignedCertificate({ ...base, notAfter: notBefore + MAX_VALIDITY_SECONDS + 1 })).toThrow(/397 days/);
    expect(() => selfSignedCertificate({ ...base, dnsNames: [], notAfter })).toThrow(/subjectAltName/);
    const ed = generateKeyPairSync('ed25519');
    expect(() => selfSignedCertificate({ ...base, ...ed, notAfter })).toThrow(/P-256/);
  });
});
