/**
 * A vending reader and a completed sale, for the clearing service tests (webhooks, refunds, both engines): a
 * Reader of `issuer` in memory at the test clock NOW, holding an empty version-1 blocklist, and `sell`, which
 * opens its request, signs the wallet's token for it and has the reader accept and complete it.
 */
import { expect } from 'vitest';
import type { Issuer } from '../../src/issuer.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { HKD, NOW, makeReader, signToken, type TestWallet } from '../reader/helpers.js';

/** A vending reader `id` of operator `operatorId`, its key seeded by `seed`, with the issuer's empty blocklist loaded. */
export function vendingReader(issuer: Issuer, seed: string, id: number, operatorId = 90): Reader {
  const m = makeReader(issuer, seed, id, 'vending', operatorId);
  const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
  r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
  return r;
}

/** A completed sale of `amount` HKD minor units at `r` by wallet `w` with `counter`; returns the token bytes. */
export async function sell(r: Reader, w: TestWallet, counter: number, amount: number): Promise<Uint8Array> {
  const { request } = r.openRequest({ amount, currency: HKD, now: NOW });
  const t = signToken(w, { payee: r.readerId, amount, counter, challenge: request.challenge });
  expect((await r.accept(t, { complete: true })).accepted).toBe(true);
  return t;
}
