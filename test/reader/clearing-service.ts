/**
 * Test helpers for readers that sync: a real clearing service on loopback (an in-memory Clearing, or one on a
 * database file) and one completed sale at a vending reader.
 */
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import type { Issuer } from '../../src/issuer.js';
import type { Reader } from '../../src/reader/index.js';
import { createClearingServer } from '../../src/server/api.js';
import { HKD, signToken, type TestWallet } from './helpers.js';

/** A clearing service for `issuer` at `clock` on a free loopback port; `close` stops the server, then the clearing. */
export async function startClearingService(issuer: Issuer, clock: () => number, o: { path?: string } = {}): Promise<{ url: string; clearing: Clearing; close(): Promise<void> }> {
  const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock, ...(o.path ? { path: o.path } : {}) });
  const server = createClearingServer({ clearing, issuer, operatorToken: 'b3'.repeat(32), clock, blocklistCheckSeconds: 0 });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    await new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
    await clearing.close();
  };
  return { url, clearing, close };
}

/** One sale at vending reader `r` at `now`: a request (challenge from the counter), `w`'s token, accepted, completed. */
export async function completedSale(r: Reader, w: TestWallet, counter: number, now: number, amount = 250): Promise<void> {
  const challenge = new Uint8Array(8);
  new DataView(challenge.buffer).setUint32(4, counter);
  r.openRequest({ amount, currency: HKD, now, challenge });
  const v = await r.accept(signToken(w, { payee: r.readerId, amount, counter, time: now, challenge }), { now });
  expect(v.accepted).toBe(true);
  r.complete(v.tokenHash);
}
