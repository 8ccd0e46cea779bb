/**
 * Throwaway TLS certificates for the HTTPS tests, made by the openssl command line: a private CA, a server
 * certificate it signs for 127.0.0.1 / localhost, and a second, unrelated CA. Under CI=true a missing
 * openssl fails the test; elsewhere the caller skips.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface TestPki {
  caCert: string;
  otherCaCert: string;
  serverCert: string;
  serverKey: string;
  otherKey: string;
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error('openssl is required for the TLS tests under CI=true');
    return false;
  }
}

export function makePki(dir: string): TestPki {
  const p = (f: string) => join(dir, f);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=offpay test CA');
  ossl('req', '-x509', ...ec, '-keyout', p('other-ca.key'), '-out', p('other-ca.pem'), '-days', '2', '-subj', '/CN=offpay other CA');
  ossl('req', '-new', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost');
  const ext = p('server.ext');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > '${ext}'`]);
  ossl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', ext);
  return { caCert: p('ca.pem'), otherCaCert: p('other-ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), otherKey: p('other-ca.key') };
}
