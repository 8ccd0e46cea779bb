/**
 * Packaging review: the README's Node snippet swaps MemoryCounterStore for `new FileCounterStore('wallet/counter.json')`
 * ("FileCounterStore on Node (below)"). A newcomer doing that for the new wallet of the snippet gets, at the first
 * pay, wallet.counter_missing telling them to `offpay wallet restore-counter ... N at least the last counter the
 * issuer has seen plus a margin`: advice for a LOST counter. The call that writes a new wallet's counter 0,
 * createCounterFile (offpay/node), is not named in the README, and the error does not name it either.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('a new wallet with a FileCounterStore, as the README shows it', () => {
  it('the README says how a new wallet gets its counter file (createCounterFile, or offpay wallet new)', () => {
    const readme = readFileSync('README.md', 'utf8');
    const i = readme.indexOf("new FileCounterStore('wallet/counter.json')");
    expect(i).toBeGreaterThan(0);
    expect(readme).toContain('createCounterFile');
  });

  it("the first pay with a FileCounterStore over a missing file names createCounterFile for a new wallet", () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-counter-'));
    try {
      const src = `
        import { Issuer, Wallet, createRequest, publicKeyOf, randomSecretKey, dayOf } from 'offpay';
        import { FileCounterStore } from 'offpay/node';
        const now = Math.floor(Date.now() / 1000);
        const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
        const walletKey = randomSecretKey();
        const cert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(walletKey), expiryDay: dayOf(now) + 30, maxPerPayment: 20000, offlineAllowance: 50000, currency: 344 }, now);
        const wallet = new Wallet({ secretKey: walletKey, cert, counter: new FileCounterStore(${JSON.stringify(join(d, 'counter.json'))}) });
        const readerKey = randomSecretKey();
        const reader = { secretKey: readerKey, cert: issuer.issueReaderCert({ readerId: 4201, readerPublicKey: publicKeyOf(readerKey), operatorId: 90, profile: 'vending', notBefore: now - 60, notAfter: now + 365 * 86400 }, now) };
        const { bytes } = createRequest(reader, { amount: 1250, currency: 344, time: now });
        try { await wallet.pay(bytes, { issuerKeys: issuer.keySet() }); console.log('paid'); } catch (e) { console.log(e.code + ': ' + e.message); }
      `;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8' });
      expect(r.stdout).toMatch(/wallet\.counter_missing/);
      expect(r.stdout).toMatch(/createCounterFile/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
