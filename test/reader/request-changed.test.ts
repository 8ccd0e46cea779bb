/**
 * spec/reader.md §2 (between steps 2 and 3): the decision takes a request-bound token only if the open request is
 * still the very request it was verified against. The second attack review of pruning (2026-12-07) found the
 * open request compared by challenge alone: a request re-opened during an asynchronous verification with the same
 * challenge and another amount took the token that paid the first one, at the new price.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import type { AsyncVerifier } from '../../src/crypto.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from './helpers.js';

const issuer = makeIssuer('request-changed');
const vendId = makeReader(issuer, 'request-changed', 4811, 'vending');
const wallet = makeWallet(issuer, 'request-changed', 'w');

/** An async verifier (as webCryptoEd25519 in a browser) whose answers wait until `release` is called. */
function gatedVerifier(): { v: AsyncVerifier; release(): void; started: Promise<void> } {
  const inner = nodeEd25519();
  let release!: () => void;
  const gate = new Promise<void>((ok) => (release = ok));
  let started!: () => void;
  const s = new Promise<void>((ok) => (started = ok));
  return {
    v: { name: 'gated', verify: async (sig, msg, pk) => { started(); await gate; return inner.verify(sig, msg, pk); } },
    release,
    started: s,
  };
}

function vending(v: AsyncVerifier): Reader {
  const r = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), asyncVerifier: v, clock: () => NOW });
  r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes, NOW);
  return r;
}

describe('a request re-opened with the same challenge while a token is being verified', () => {
  it('does not take the token that paid the earlier request (it paid 1.00, the machine now sells at 50.00)', async () => {
    const g = gatedVerifier();
    const r = vending(g.v);
    const challenge = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]); // an integrator-chosen challenge (an order number)
    r.openRequest({ amount: 100, currency: HKD, now: NOW, challenge });
    const token = signToken(wallet, { payee: r.readerId, amount: 100, counter: 1, time: NOW, challenge });
    const pending = r.accept(token, { now: NOW + 1 });
    await g.started;
    // The customer changes the selection while the phone's token is being checked: same challenge, 50.00.
    r.openRequest({ amount: 5000, currency: HKD, now: NOW + 1, challenge });
    g.release();
    const v = await pending;
    const open = r.openRequestInfo();
    // What the machine sees now: the open 50.00 request paid by this token, while the journal charges 1.00.
    const sold = v.accepted ? { charged: v.amount, requestAmount: v.request?.amount, openAmount: open?.request.amount, paidByIt: open?.paidBy !== undefined } : undefined;
    expect(v.accepted, `accepted ${JSON.stringify(sold)}: the 50.00 request is paid by a 1.00 token`).toBe(false);
    if (!v.accepted) expect(v.reason).toBe('request_not_open');
    expect(open?.paidBy).toBeUndefined();
  });

  it('(control) a token of the request it was judged against, unchanged meanwhile, is accepted', async () => {
    const g = gatedVerifier();
    const r = vending(g.v);
    const challenge = new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]);
    r.openRequest({ amount: 100, currency: HKD, now: NOW, challenge });
    const pending = r.accept(signToken(wallet, { payee: r.readerId, amount: 100, counter: 2, time: NOW, challenge }), { now: NOW + 1 });
    await g.started;
    g.release();
    const v = await pending;
    expect(v.accepted).toBe(true);
  });
});

describe('the resume rule keeps the honest torn sale', () => {
  it('a torn sale resumes after the reader restarts on its SQLite file, and not once a second process opens the next request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offpay-request-changed-'));
    try {
      const open = (c: boolean) => {
        const store = c ? SqliteReaderStore.create(join(dir, 'r.db')) : SqliteReaderStore.open(join(dir, 'r.db'));
        return { store, r: new Reader({ ...vendId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW }) };
      };
      let { r, store } = open(true);
      r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes, NOW);
      const challenge = Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1);
      r.openRequest({ amount: 400, currency: HKD, now: NOW, challenge });
      const t = signToken(wallet, { payee: vendId.cert.readerId, amount: 400, counter: 1, time: NOW, challenge });
      const v0 = await r.accept(t, { now: NOW });
      expect(v0.status).toBe('accepted');
      store.close(); // the machine crashes before dispensing
      ({ r, store } = open(false));
      expect(r.openRequestInfo()?.paidBy).toBeDefined();
      expect((await r.accept(t, { now: NOW + 5 })).status).toBe('resumed');
      const b = open(false); // a second process on the file opens the next request
      b.r.openRequest({ amount: 400, currency: HKD, now: NOW + 6, challenge });
      expect(await r.accept(t, { now: NOW + 7 })).toMatchObject({ accepted: false, reason: 'already_accepted' });
      expect(r.void(v0.tokenHash, NOW + 8).ok).toBe(true); // still voidable by hash
      b.store.close();
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
