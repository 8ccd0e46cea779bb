import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeToken, toHex, tokenHash } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader, decodeBatch, type ReaderStore } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'offpay-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Push `n` tokens from `wallets` wallets through accept, in a seeded interleaving; check nothing is lost. */
async function load(n: number, wallets: number, store: ReaderStore) {
  const issuer = makeIssuer('load');
  const gate = makeReader(issuer, 'load', 9001, 'transit', 300);
  const ws: TestWallet[] = Array.from({ length: wallets }, (_, i) => makeWallet(issuer, 'load', `w${i}`, { offlineAllowance: 2 ** 32 - 1 }));
  const tokens: Uint8Array[] = [];
  for (let i = 0; i < n; i++) tokens.push(signToken(ws[i % wallets]!, { payee: 300, amount: 100 + (i % 7), counter: Math.floor(i / wallets) + 1 }));
  const r = new Reader({ ...gate, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW, window: 256 });
  r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
  let gross = 0;
  for (const t of tokens) {
    const v = await r.accept(t, { fare: { amount: decodeAmount(t), currency: HKD }, complete: true });
    if (!v.accepted) throw new Error(`token refused under load: ${v.reason} ${v.message}`);
    gross += v.amount;
  }
  const head = r.head();
  expect(head.seq).toBe(n);
  const check = r.verifyJournal();
  expect(check).toMatchObject({ ok: true, count: n });
  // Every token is in the journal exactly once, and the export carries them all.
  const batch = decodeBatch(r.export(NOW).bytes);
  expect(batch.entries).toHaveLength(n);
  const inJournal = new Set(batch.entries.map((e) => toHex(tokenHash(e.data))));
  expect(inJournal.size).toBe(n);
  for (const t of tokens) expect(inJournal.has(toHex(tokenHash(t)))).toBe(true);
  expect(batch.entries.reduce((s, e) => s + e.value, 0)).toBe(gross);
  // Presenting everything again charges nothing.
  for (const t of tokens.slice(0, 1000)) expect((await r.accept(t, { fare: { amount: decodeAmount(t), currency: HKD } })).accepted).toBe(false);
  expect(r.head().seq).toBe(n);
  return r;
}

/** The fare the gate expects for a token: the amount it carries (fares vary 100..106 in this test). */
function decodeAmount(t: Uint8Array): number {
  return decodeToken(t).amount;
}

describe('reader load', () => {
  // The full 100,000 through the durable SQLite store is in bench/reader.bench.ts (`npm run bench:reader`).
  it('takes 20,000 tokens through accept (memory store) with nothing lost', async () => {
    await load(20_000, 100, new MemoryReaderStore());
  }, 300_000);

  it('takes 2,000 tokens through accept with the durable SQLite store (synchronous=FULL) with nothing lost', async () => {
    const path = join(tmp, 'load.db');
    const r = await load(2_000, 25, SqliteReaderStore.create(path));
    r.store.close();
    // Reopen: the same state is there.
    const again = SqliteReaderStore.open(path);
    expect(again.journal(1999).map((x) => x.seq)).toEqual([1999, 2000]);
    again.close();
  }, 300_000);
});
