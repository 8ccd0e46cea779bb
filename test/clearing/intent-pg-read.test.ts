/**
 * From an attack review (2026-12-07) of a636bfc. New in a636bfc: a batch found held before its commit (a `duplicate`) now reads the outbox
 * (WebhookOutbox.intentHashes) inside the request. PgWebhookOutbox.intentHashes goes through `rows()`, which does
 * not type a lost connection (only `write()` does), so a resend met by a PostgreSQL restart/failover on the
 * outbox pool throws a raw pg error: the server answers 500 `api.internal` and logs "internal error" with a
 * stack, where spec/clearing-api.md §4 (store_unavailable: "the clearing database went away during the request
 * (a PostgreSQL restart, failover, terminated connection)") and §9.2 step 6 say 503 `clearing.store_unavailable`
 * with Retry-After. On PostgreSQL the outbox IS the clearing database (§9.2.1).
 * The pool is a stand-in that answers the outbox's statements and loses its connection on the intent read.
 * Suggested fix: route intentHashes (and intents/intentCount) through a reader that maps isConnectionLoss to
 * `clearing.store_unavailable`, as write() does.
 */
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { PgWebhookOutbox } from '../../src/server/outbox-pg.js';
import { WebhookService } from '../../src/server/webhooks.js';
import { CLOCK, post, stop, writeFaultKit } from './write-fault-helpers.js';

const kit = writeFaultKit('zz-r4-pgread');

function fakePool(): { query: (text: string, values?: unknown[]) => Promise<{ rows: unknown[]; rowCount: number }>; end: () => Promise<void> } {
  return {
    async query(text: string, values?: unknown[]) {
      if (text.includes('SELECT hashes FROM webhook_intents')) throw new Error('Connection terminated unexpectedly');
      if (text.includes('INSERT INTO webhook_intents')) return { rows: [], rowCount: 1 };
      if (text.includes('WITH settled')) return { rows: [], rowCount: (values?.[0] as unknown[]).length };
      return { rows: [], rowCount: 0 };
    },
    async end() {},
  };
}

describe('PostgreSQL outbox: a resend met by a lost outbox connection', () => {
  it('is answered 503 clearing.store_unavailable (retryable, the database went away), not 500 api.internal', async () => {
    const [bytes] = await kit.batches(1, 2);
    const c = new Clearing({ issuerKeys: kit.issuer.keySet(), clock: CLOCK });
    const outbox = new PgWebhookOutbox(fakePool() as never, 'node-a', 60_000, 'postgres://fake/db');
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK });
    const lines: string[] = [];
    const { server, url } = await kit.serve(c, hooks, (l) => lines.push(l));
    try {
      expect(await post(url, bytes!)).toEqual([200, 'ingested']);
      // The reader's answer was lost; it sends the batch again while the outbox's connection is gone.
      const again = await post(url, bytes!);
      expect(again, lines.filter((l) => l.startsWith('internal')).join('\n').slice(0, 300)).toEqual([503, 'clearing.store_unavailable']);
    } finally {
      await stop(server);
      await hooks.stop();
      await c.close();
    }
  });
});
