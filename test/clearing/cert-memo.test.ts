/**
 * The database memo of verified wallet certificates on SQLite (cert-memo-suite.ts), and its digest.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { certMemoDigest } from '../../src/clearing/cert-memo.js';
import { toHex } from '../../src/index.js';
import { encodeWalletCert } from '../../src/messages.js';
import { certMemoSuite, issuer, w1 } from './cert-memo-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-cert-memo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

certMemoSuite('SQLite', async () => {
  const path = join(dir, `memo-${++n}.db`);
  return (o) => Clearing.open({ ...o, path });
});

describe('the certificate memo digest', () => {
  it('the digest covers the issuer key and every byte of the certificate, its signature included', () => {
    const key = issuer.keys[0]!.publicKey;
    const cert = encodeWalletCert(w1!.cert);
    const d = toHex(certMemoDigest(key, cert));
    expect(toHex(certMemoDigest(new Uint8Array(32).fill(9), cert))).not.toBe(d);
    for (let i = 0; i < cert.length; i++) {
      const c = cert.slice();
      c[i]! ^= 1;
      expect(toHex(certMemoDigest(key, c)), `byte ${i}`).not.toBe(d);
    }
  });
});
