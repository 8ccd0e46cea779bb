/**
 * From an attack review (2026-12-07) of the payment lookups; the test failed before paymentFacts read again.
 * DEFECT: GET /v1/payments/{tokenHash} answers from several separate reads (Clearing.paymentFacts: the token's
 * entries, then the wallet's settlement rows, then the blocklist, then the refund), with no snapshot across them.
 * A batch that commits between the first two (another node on PostgreSQL; on SQLite any upload whose session
 * runs in the await gap) makes the answer contradict itself: `state: successful`, `operatorId` of the merchant the
 * settlement pays, but `evidence.entry` null and `evidence.entries` without the settling entry, i.e. evidence of a
 * sale at ANOTHER merchant. spec/clearing-api.md §2.6: `entry` is the entry the state comes from (null only for a
 * refunded token that no longer settles), `entries` every entry held naming the token.
 *
 * The race is forced deterministically: the store's tokenEntries read is wrapped so that the competing batch is
 * ingested (and committed) right after it returned, exactly what another node's commit at that instant does.
 */
import { randomBytes } from 'node:crypto';
import { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { toHex } from '../../base/hex.js';
import { tokenHash } from '../../src/messages.js';
import { createClearingServer } from '../../src/server/api.js';
import { NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

const issuer = makeIssuer('zz-pay-race');
const OP = 'ef'.repeat(32);

describe('payment state read in one view', () => {
  it('DEFECT: a batch committed during a lookup never yields `successful` with evidence.entry null / entries lacking the settling sale', async () => {
    const w = makeWallet(issuer, 'zz-pay-race', 'w');
    // Reader 801, first certified to merchant 90, later re-certified to merchant 91 (same key, new certificate).
    const as90 = makeReader(issuer, 'zz-pay-race', 801, 'vending', 90);
    const as91 = makeReader(issuer, 'zz-pay-race', 801, 'vending', 91);
    const t = signToken(w, { payee: 801, amount: 1250, counter: 1, time: NOW });
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600 });
    // Held: the token in a journal carried under the merchant-90 certificate, at NOW + 200.
    expect((await clearing.ingest(handBatch(as90, randomBytes(8), [{ kind: 'accept', time: NOW + 200, value: 1250, data: t }]))).outcome).toBe('ingested');
    // Committed by another node during the lookup: the same token in another journal, under the merchant-91
    // certificate, dated earlier (NOW + 10): from now on the token settles to merchant 91.
    const late = handBatch(as91, randomBytes(8), [{ kind: 'accept', time: NOW + 10, value: 1250, data: t }]);
    const store = clearing.store as unknown as { tokenEntries: (h: Uint8Array) => Promise<unknown[]> };
    const orig = store.tokenEntries.bind(store);
    let armed = true;
    store.tokenEntries = async (h: Uint8Array) => {
      const rows = await orig(h);
      if (armed) {
        armed = false;
        expect((await clearing.ingest(late)).outcome).toBe('ingested'); // another node commits now
      }
      return rows;
    };
    const server: Server = createClearingServer({ clearing, issuer, operatorToken: OP, clock: () => NOW + 3600 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await fetch(`${url}/v1/payments/${toHex(tokenHash(t))}`);
      const body = (await r.json()) as { state: string; operatorId: number; evidence: { entry: { time: number } | null; entries: { time: number; operatorId: number }[] } };
      expect(r.status).toBe(200);
      expect(body.state).toBe('successful');
      // Here: operatorId 91 (what settlement pays now), evidence only of the merchant-90 entry, entry null.
      // The entry the state comes from is named, and is among the entries listed.
      expect(body.evidence.entry).not.toBeNull();
      expect(body.evidence.entries.map((e) => e.time)).toContain(body.evidence.entry!.time);
    } finally {
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
      await clearing.close();
    }
  });
});
