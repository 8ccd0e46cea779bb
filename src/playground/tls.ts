/**
 * The playground's TLS certificate (spec/playground.md §1.3): browsers give the microphone and camera only to
 * secure origins, so a phone on the LAN needs https. Either the user's own files (--tls-cert, --tls-key), or
 * a self-signed ECDSA P-256 certificate the playground makes once and keeps in a directory (--tls-dir,
 * default {@link defaultTlsDir}) so the phone accepts it once, not at every start.
 *
 * A kept certificate is reused when ALL hold, else a new one replaces it (the reason is reported):
 *   - cert.pem parses, key.pem parses and is the certificate's key;
 *   - it is valid now and for at least {@link RENEW_BEFORE_SECONDS} more;
 *   - its subjectAltName holds every name the server needs now (the machine's addresses change with the
 *     network: a phone reaching an address not in the certificate gets a name-mismatch error it cannot pass).
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { OffpayError } from '../../base/errors.js';
import { writeFileDurable } from '../node/durable.js';
import { ipBytes, MAX_VALIDITY_SECONDS, selfSignedCertificate, toPem } from './x509.js';

/** A kept certificate this close to its end is replaced: 30 days. */
export const RENEW_BEFORE_SECONDS = 30 * 86_400;
/** notBefore is set this far back, for phones whose clock runs behind: 1 hour. */
export const BACKDATE_SECONDS = 3600;
/** Largest PEM file read: 64 KiB. */
const MAX_PEM_BYTES = 64 * 1024;

export interface TlsMaterial {
  /** PEM texts for https.createServer. */
  cert: string;
  key: string;
  /** SHA-256 of the certificate DER, colon-separated hex, as browsers show it. */
  fingerprint256: string;
  /** 'created' (new self-signed), 'reused' (kept one) or 'given' (--tls-cert / --tls-key). */
  source: 'created' | 'reused' | 'given';
  certPath: string;
  /** Why a kept certificate was replaced (source 'created' with an existing one). */
  replaced?: string;
  validTo: string;
  subjectAltName: string;
}

/** The names a certificate for `host` must carry. */
export interface CertNames {
  dns: string[];
  ips: string[];
}

/**
 * Every name a browser may use to reach this server: localhost, 127.0.0.1, ::1, every non-internal address of
 * the machine (os.networkInterfaces()), and `host` itself when it is a specific address or name.
 */
export function certificateNames(host: string, interfaces = networkInterfaces()): CertNames {
  const dns = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(interfaces)) for (const i of list ?? []) if (!i.internal) ips.add(i.address.replace(/%.*$/, ''));
  const h = host.replace(/^\[|\]$/g, '');
  if (isIP(h)) {
    if (h !== '0.0.0.0' && h !== '::') ips.add(h);
  } else if (/^[A-Za-z0-9.-]{1,253}$/.test(h)) dns.add(h.toLowerCase());
  return { dns: [...dns], ips: [...ips] };
}

/** ~/.config/offpay/playground ($XDG_CONFIG_HOME honoured; %APPDATA% on Windows). */
export function defaultTlsDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = process.platform === 'win32' && env.APPDATA ? env.APPDATA : env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'offpay', 'playground');
}

function readPem(path: string, what: string): string {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
    if (st.size > MAX_PEM_BYTES) throw new Error(`${st.size} bytes, over ${MAX_PEM_BYTES}`);
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new OffpayError('playground.bad_tls', `cannot read the TLS ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function material(cert: string, key: string, source: TlsMaterial['source'], certPath: string): { m: TlsMaterial; x: X509Certificate } {
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (e) {
    throw new OffpayError('playground.bad_tls', `${certPath} is not a PEM certificate: ${(e as Error).message}`);
  }
  let k;
  try {
    k = createPrivateKey(key);
  } catch (e) {
    throw new OffpayError('playground.bad_tls', `the TLS key for ${certPath} is not a PEM private key: ${(e as Error).message}`);
  }
  if (!x.checkPrivateKey(k)) throw new OffpayError('playground.bad_tls', `the TLS key is not the key of ${certPath}`);
  return { m: { cert, key, fingerprint256: x.fingerprint256, source, certPath, validTo: x.validTo, subjectAltName: x.subjectAltName ?? '' }, x };
}

/** The user's own certificate and key (--tls-cert, --tls-key): parsed, and the key must be the certificate's. */
export function tlsFromFiles(certPath: string, keyPath: string): TlsMaterial {
  return material(readPem(certPath, 'certificate'), readPem(keyPath, 'key'), 'given', certPath).m;
}

/** The bytes of every iPAddress and the text of every dNSName in a certificate's subjectAltName. */
function sanOf(x: X509Certificate): { dns: Set<string>; ips: Set<string> } {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const part of (x.subjectAltName ?? '').split(', ')) {
    const m = /^(DNS|IP Address):(.*)$/.exec(part);
    if (!m) continue;
    if (m[1] === 'DNS') dns.add(m[2]!.toLowerCase());
    else ips.add(Buffer.from(ipBytes(m[2]!)).toString('hex'));
  }
  return { dns, ips };
}

/** Why a kept certificate cannot be reused for `names` at `now`, or undefined when it can. */
export function reuseProblem(x: X509Certificate, names: CertNames, now: number): string | undefined {
  const from = Date.parse(x.validFrom) / 1000;
  const to = Date.parse(x.validTo) / 1000;
  if (now < from) return `it is valid only from ${x.validFrom}`;
  if (now > to - RENEW_BEFORE_SECONDS) return `it expires ${x.validTo}`;
  const have = sanOf(x);
  const missing = [...names.dns.filter((d) => !have.dns.has(d.toLowerCase())), ...names.ips.filter((ip) => !have.ips.has(Buffer.from(ipBytes(ip)).toString('hex')))];
  if (missing.length) return `it does not name ${missing.join(', ')}`;
  return undefined;
}

/** Make a new self-signed certificate and key for `names`, valid from now - 1 h for 397 days. */
export function makeSelfSigned(names: CertNames, now: number): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const notBefore = now - BACKDATE_SECONDS;
  const der = selfSignedCertificate({ privateKey, publicKey, commonName: 'offpay playground', dnsNames: names.dns, ipAddresses: names.ips, notBefore, notAfter: notBefore + MAX_VALIDITY_SECONDS });
  return { cert: toPem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/**
 * The kept certificate in `dir` (cert.pem, key.pem) when it is still good for `names`, else a new one
 * written there (the directory made with mode 0700, key.pem 0600).
 */
export function tlsFromDir(dir: string, names: CertNames, now: number): TlsMaterial {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  let replaced: string | undefined;
  if (existsSync(certPath) || existsSync(keyPath)) {
    try {
      const { m, x } = material(readPem(certPath, 'certificate'), readPem(keyPath, 'key'), 'reused', certPath);
      replaced = reuseProblem(x, names, now);
      if (!replaced) return m;
    } catch (e) {
      replaced = (e as Error).message;
    }
  }
  const made = makeSelfSigned(names, now);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileDurable(keyPath, made.key); // mode 0600 (durable.ts)
    writeFileDurable(certPath, made.cert);
  } catch (e) {
    throw new OffpayError('playground.bad_tls', `cannot keep the TLS certificate in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (--tls-dir chooses another directory)`);
  }
  const { m } = material(made.cert, made.key, 'created', certPath);
  return replaced ? { ...m, replaced } : m;
}
