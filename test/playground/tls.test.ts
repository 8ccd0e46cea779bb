/**
 * The playground's kept TLS certificate (src/playground/tls.ts): made once, reused while it is good, replaced
 * when it no longer names this machine's addresses or is near its end; user files checked for a matching key.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateNames, defaultTlsDir, makeSelfSigned, RENEW_BEFORE_SECONDS, tlsFromDir, tlsFromFiles } from '../../src/playground/tls.js';
import { MAX_VALIDITY_SECONDS } from '../../src/playground/x509.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.UTC(2026, 11, 5) / 1000;
const ifaces = {
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.1.20/24' },
    { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
  ],
} as unknown as ReturnType<typeof import('node:os').networkInterfaces>;

describe('certificateNames', () => {
  it('localhost, loopback, every non-internal address, and a specific --host', () => {
    expect(certificateNames('0.0.0.0', ifaces)).toEqual({ dns: ['localhost'], ips: ['127.0.0.1', '::1', '192.168.1.20', 'fe80::1'] });
    expect(certificateNames('10.1.2.3', ifaces).ips).toContain('10.1.2.3');
    expect(certificateNames('pi.local', ifaces).dns).toEqual(['localhost', 'pi.local']);
    expect(certificateNames('[::]', ifaces).ips).not.toContain('::');
  });
  it('the default directory is under the user config directory', () => {
    expect(defaultTlsDir({ XDG_CONFIG_HOME: '/cfg' })).toBe(join('/cfg', 'offpay', 'playground'));
  });
});

describe('tlsFromDir', () => {
  const names = certificateNames('0.0.0.0', ifaces);
  it('makes a certificate on first run (key 0600) and reuses it on the next', () => {
    const d = join(dir, 'keep');
    const a = tlsFromDir(d, names, NOW);
    expect(a.source).toBe('created');
    expect(a.replaced).toBeUndefined();
    expect(statSync(join(d, 'key.pem')).mode & 0o077).toBe(0);
    const x = new X509Certificate(readFileSync(join(d, 'cert.pem')));
    expect(x.fingerprint256).toBe(a.fingerprint256);
    expect(Date.parse(x.validTo) / 1000 - Date.parse(x.validFrom) / 1000).toBe(MAX_VALIDITY_SECONDS);
    const b = tlsFromDir(d, names, NOW + 86400);
    expect(b).toMatchObject({ source: 'reused', fingerprint256: a.fingerprint256 });
  });
  it('replaces it when the machine has an address it does not name, when it nears its end, or when the files are broken', () => {
    const d = join(dir, 'replace');
    const first = tlsFromDir(d, names, NOW);
    const moved = tlsFromDir(d, { ...names, ips: [...names.ips, '10.0.0.7'] }, NOW);
    expect(moved.source).toBe('created');
    expect(moved.replaced).toMatch(/does not name 10\.0\.0\.7/);
    expect(moved.fingerprint256).not.toBe(first.fingerprint256);
    const old = tlsFromDir(d, names, NOW + MAX_VALIDITY_SECONDS - RENEW_BEFORE_SECONDS);
    expect(old.replaced).toMatch(/expires/);
    writeFileSync(join(d, 'key.pem'), makeSelfSigned(names, NOW).key); // another key
    const mismatched = tlsFromDir(d, names, NOW);
    expect(mismatched.replaced).toMatch(/not the key of/);
  });
});

describe('tlsFromFiles', () => {
  it('takes a matching pair; refuses a key of another certificate, a non-PEM file and a missing file with playground.bad_tls', () => {
    const names = { dns: ['localhost'], ips: ['127.0.0.1'] };
    const a = makeSelfSigned(names, NOW);
    const b = makeSelfSigned(names, NOW);
    for (const [n, text] of [['a.pem', a.cert], ['a.key', a.key], ['b.key', b.key], ['junk.pem', 'hello']] as const) writeFileSync(join(dir, n), text);
    expect(tlsFromFiles(join(dir, 'a.pem'), join(dir, 'a.key'))).toMatchObject({ source: 'given', fingerprint256: new X509Certificate(a.cert).fingerprint256 });
    expect(() => tlsFromFiles(join(dir, 'a.pem'), join(dir, 'b.key'))).toThrow(expect.objectContaining({ code: 'playground.bad_tls' }));
    expect(() => tlsFromFiles(join(dir, 'junk.pem'), join(dir, 'a.key'))).toThrow(expect.objectContaining({ code: 'playground.bad_tls' }));
    expect(() => tlsFromFiles(join(dir, 'a.pem'), join(dir, 'junk.pem'))).toThrow(expect.objectContaining({ code: 'playground.bad_tls' }));
    expect(() => tlsFromFiles(join(dir, 'none.pem'), join(dir, 'a.key'))).toThrow(expect.objectContaining({ code: 'playground.bad_tls' }));
  });
});
