/**
 * From an attack review (2026-12-07) of the first version of webhook intents (507d1a3); the test failed on it.
 * Defect: ingestBatch decodes every entry and writes a durable intent BEFORE anything about the batch is checked
 * (reader certificate, reader signature, entry limit). An anonymous client's forged batch of tiny entries (8 MiB
 * body, ~600k entries, far past maxBatchEntries = 65,536, which decodeBatch does not enforce) makes the server
 * decode 600k entries, hash them, and fsync a ~19 MB intent into the outbox, then a second write to delete it,
 * all on the event loop (SQLite) — for a batch clearing rejects in microseconds at its signature. Before this
 * commit a rejected batch never touched the outbox.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { createBatch } from '../../src/reader/batch.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../src/server/outbox.js';
import { WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeReader } from '../reader/helpers.js';

const SEED = 'zz-garbage';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'zz-garbage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function forged(n: number): Uint8Array {
  const m = makeReader(issuer, SEED, 5, 'vending', 90);
  const entries = Array.from({ length: n }, (_, i) => ({ seq: i + 1, kind: 'accept' as const, time: 0, data: new Uint8Array([i >> 16, (i >> 8) & 255, i & 255]), value: 0 }));
  // Signed with a key that is not the certificate's: clearing rejects it at the signature.
  const wrongKey = new Uint8Array(32).fill(9);
  return createBatch({ secretKey: wrongKey }, { readerCert: m.cert, journalId: new Uint8Array(8), batchSeq: 1, firstSeq: 1, prevHead: new Uint8Array(32), head: new Uint8Array(32), entries, createdAt: NOW }).bytes;
}

describe('an anonymous forged batch', () => {
  it('costs no outbox write (no intent before the batch is known to be a reader\'s)', async () => {
    const bytes = forged(600_000);
    expect(bytes.length).toBeLessThanOrEqual(8 * 1024 * 1024); // within the default maxBatchBytes
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const inner = new SqliteWebhookOutbox(join(dir, 'g.webhooks'));
    const written: number[] = [];
    const outbox = new Proxy(inner, {
      get(t, p, r) {
        if (p === 'intend') return (i: { hashes: Uint8Array }, n: number) => (written.push(i.hashes.length), t.intend(i as never, n));
        const v = Reflect.get(t, p, r);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    }) as WebhookOutbox;
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK });
    try {
      const plain = await c.ingest(bytes);
      const r = await hooks.ingestBatch(c, bytes);
      expect(plain.outcome).toBe('rejected');
      expect(r.outcome).toBe('rejected');
      expect(written, 'durable intent bytes written for a forged batch').toEqual([]);
    } finally {
      await hooks.stop();
      await inner.close();
      await c.close();
    }
  }, 120_000);
});
