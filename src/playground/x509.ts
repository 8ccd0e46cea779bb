/**
 * A self-signed X.509 v3 server certificate for the playground's HTTPS (RFC 5280), ECDSA P-256 with SHA-256.
 * Node makes the key pair and the signature; this file lays out the bytes (DER, src/playground/der.ts).
 *
 *   Certificate  = SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate = SEQUENCE {
 *     [0] EXPLICIT version INTEGER 2 (v3)
 *     serialNumber INTEGER        16 random bytes, positive, top byte 0x40..0x7f (no leading zero, never 0)
 *     signature AlgorithmIdentifier  ecdsa-with-SHA256 1.2.840.10045.4.3.2, parameters absent (RFC 5758 §3.2)
 *     issuer Name                 CN=<commonName> (self-signed: issuer = subject)
 *     validity SEQUENCE { notBefore, notAfter }   UTCTime / GeneralizedTime (der.ts x509Time)
 *     subject Name                CN=<commonName>
 *     subjectPublicKeyInfo        as Node exports it (id-ecPublicKey, prime256v1, uncompressed point)
 *     [3] EXPLICIT extensions SEQUENCE {
 *       basicConstraints  2.5.29.19 critical  SEQUENCE {}             (cA FALSE, the DER default, omitted)
 *       keyUsage          2.5.29.15 critical  BIT STRING 07 80        (digitalSignature only)
 *       extKeyUsage       2.5.29.37           SEQUENCE { serverAuth 1.3.6.1.5.5.7.3.1 }
 *       subjectAltName    2.5.29.17           dNSName [2] / iPAddress [7] (4 or 16 bytes) per name
 *       subjectKeyIdentifier 2.5.29.14        SHA-1 of the public key point (RFC 5280 §4.2.1.2 method 1)
 *     }
 *   }
 * Browsers match the host only against subjectAltName (the CN is ignored), so every address the phone may
 * use must be there. Validity is capped at 397 days, the most browsers accept for a server certificate.
 */
import { createHash, randomBytes, sign as nodeSign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { bitString, boolean, explicit, implicitPrimitive, octetString, oid, sequence, setOf1, smallInteger, unsignedInteger, utf8String, x509Time, type Der } from './der.js';

/** Longest validity accepted for a TLS server certificate (CA/Browser Forum, Apple and Chrome: 397 days). */
export const MAX_VALIDITY_SECONDS = 397 * 86_400;

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

export interface SelfSignedOptions {
  /** An EC P-256 key pair (generateKeyPairSync('ec', { namedCurve: 'prime256v1' })). */
  privateKey: KeyObject;
  publicKey: KeyObject;
  commonName: string;
  /** subjectAltName dNSName entries (e.g. 'localhost'). */
  dnsNames: readonly string[];
  /** subjectAltName iPAddress entries, IPv4 dotted or IPv6 text (a %zone suffix is dropped). */
  ipAddresses: readonly string[];
  /** Unix seconds; notAfter - notBefore must not exceed {@link MAX_VALIDITY_SECONDS}. */
  notBefore: number;
  notAfter: number;
  /** 16 bytes; random when absent (tests pass one for a fixed certificate). */
  serial?: Uint8Array;
}

/** An IP address as the 4 or 16 bytes of an iPAddress name (RFC 5280 §4.2.1.6). */
export function ipBytes(address: string): Uint8Array {
  const a = address.replace(/%.*$/, '');
  if (isIPv4(a)) return Uint8Array.from(a.split('.').map(Number));
  if (!isIPv6(a)) throw new RangeError(`not an IP address: ${address}`);
  // An IPv6 text form: groups of hex, at most one '::', possibly ending in a dotted IPv4 (RFC 4291 §2.2).
  let text = a;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = text.slice(0, -v4[1]!.length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  // Each IPv6 group is one 16-bit number written in 1 to 4 hex digits (not a byte string: base/hex.ts does not apply).
  const group = (g: string): number => Number(`0x${g}`);
  const parse = (s: string | undefined) => (s ? s.split(':').filter((g) => g !== '').map(group) : []);
  const h = parse(head);
  const r = [...parse(rest), ...tail];
  const groups = rest === undefined && !text.includes('::') ? [...h, ...tail] : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  if (groups.length !== 8) throw new RangeError(`not an IPv6 address: ${address}`);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function extension(id: string, critical: boolean, value: Der): Der {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

function name(commonName: string): Der {
  return sequence(setOf1(sequence(oid(OID.commonName), utf8String(commonName))));
}

/** The uncompressed EC point 04 || x || y of a P-256 public key (for the subject key identifier). */
function ecPoint(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new RangeError('the certificate key must be an EC P-256 key');
  return Uint8Array.from([4, ...Buffer.from(jwk.x, 'base64url'), ...Buffer.from(jwk.y, 'base64url')]);
}

/** Build and sign the certificate; returns its DER bytes. */
export function selfSignedCertificate(o: SelfSignedOptions): Uint8Array {
  if (!Number.isSafeInteger(o.notBefore) || !Number.isSafeInteger(o.notAfter) || o.notAfter <= o.notBefore) throw new RangeError('notAfter must follow notBefore');
  if (o.notAfter - o.notBefore > MAX_VALIDITY_SECONDS) throw new RangeError(`validity over ${MAX_VALIDITY_SECONDS / 86_400} days`);
  if (o.dnsNames.length + o.ipAddresses.length === 0) throw new RangeError('a server certificate needs at least one subjectAltName');
  const serial = Uint8Array.from(o.serial ?? randomBytes(16));
  if (serial.length !== 16) throw new RangeError('the serial is 16 bytes');
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  const point = ecPoint(o.publicKey);
  const spki = new Uint8Array(o.publicKey.export({ type: 'spki', format: 'der' }));
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const sans = [
    ...o.dnsNames.map((d) => {
      if (!/^[A-Za-z0-9.-]{1,253}$/.test(d)) throw new RangeError(`bad DNS name ${d}`);
      return implicitPrimitive(2, new TextEncoder().encode(d));
    }),
    ...o.ipAddresses.map((ip) => implicitPrimitive(7, ipBytes(ip))),
  ];
  const extensions = sequence(
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.keyUsage, true, bitString(Uint8Array.of(0x80), 7)),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, sequence(...sans)),
    extension(OID.subjectKeyIdentifier, false, octetString(createHash('sha1').update(point).digest())),
  );
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(serial),
    algorithm,
    name(o.commonName),
    sequence(x509Time(o.notBefore), x509Time(o.notAfter)),
    name(o.commonName),
    spki,
    explicit(3, extensions),
  );
  // ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.3): Node's default 'der' encoding.
  const signature = nodeSign('sha256', tbs, { key: o.privateKey, dsaEncoding: 'der' });
  return sequence(tbs, algorithm, bitString(new Uint8Array(signature)));
}

/** PEM armour (RFC 7468): base64 in lines of 64. */
export function toPem(label: 'CERTIFICATE', der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}
