/**
 * What the write-fault tests share (write-fault.test.ts, write-fault-sqlite.test.ts, write-fault-pg.test.ts): an
 * issuer, batches of one vending reader, a clearing server on loopback with the health verdict read every call,
 * and the two requests they make of it.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect } from 'vitest';
import type { Clearing } from '../../src/clearing/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { createClearingServer } from '../../src/server/api.js';
import type { WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

/** The health check's message for a database (or webhook outbox) that refuses writes (spec/clearing-api.md §2.10). */
export const REFUSES = 'the clearing database refuses writes (read-only, full or failing)';
/** The clearing's clock: an hour after the sales. */
export const CLOCK = (): number => NOW + 3600;

/** A kit of one issuer (seeded by `seed`). */
export function writeFaultKit(seed: string) {
  const issuer = makeIssuer(seed);
  /** `n` batches of one vending reader (`readerId`), `per` sales each, completed. */
  async function batches(n = 3, per = 2, readerId = 4711): Promise<Uint8Array[]> {
    const m = makeReader(issuer, seed, readerId, 'vending', 90);
    const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
    const w = makeWallet(issuer, seed, `w${readerId}`);
    const out: Uint8Array[] = [];
    let counter = 0;
    for (let b = 0; b < n; b++) {
      for (let s = 0; s < per; s++) {
        counter++;
        const challenge = Uint8Array.from([0, 0, 0, 0, (counter >> 16) & 255, (counter >> 8) & 255, counter & 255, 1]);
        r.openRequest({ amount: 100 + counter, currency: HKD, now: NOW, challenge });
        expect((await r.accept(signToken(w, { payee: readerId, amount: 100 + counter, counter, challenge }), { complete: true })).accepted).toBe(true);
      }
      out.push(r.export(NOW + 60).bytes);
    }
    return out;
  }
  /** A clearing server on 127.0.0.1 whose health check reads the database at every call (healthReuseMs 0). */
  async function serve(clearing: Clearing, webhooks?: WebhookService, log?: (line: string) => void): Promise<{ server: Server; url: string }> {
    const server = createClearingServer({
      clearing, issuer, operatorToken: 'ab'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0, healthReuseMs: 0, settingsCheckMs: 0,
      ...(webhooks ? { webhooks } : {}), ...(log ? { log } : {}),
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  }
  return { issuer, batches, serve };
}

export const stop = (s: Server): Promise<void> =>
  new Promise<void>((res) => {
    s.close(() => res());
    s.closeAllConnections();
  });

/** POST a batch: [status, outcome or error code]. */
export async function post(url: string, bytes: Uint8Array): Promise<[number, string]> {
  const r = await fetch(`${url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: bytes as Uint8Array<ArrayBuffer> });
  const b = (await r.json()) as { outcome?: string; error?: { code: string } };
  return [r.status, b.outcome ?? b.error!.code];
}

/** GET /v1/health: [status, 'ok' or the error message]. */
export async function health(url: string): Promise<[number, string]> {
  const r = await fetch(`${url}/v1/health`);
  const b = (await r.json()) as { status?: string; error?: { message: string } };
  return [r.status, b.status ?? b.error!.message];
}
