/**
 * From an attack review (2026-12-07) of b269e11 (b): PgWebhookOutbox.rows() maps a lost connection to clearing.store_unavailable. Held: every
 * reader through it (due, nextDue, dead, prune, counts, get, intents, intentHashes, intentCount) rejects typed;
 * another error passes through raw (its pg code kept); close() still swallows a lost connection and ends the pool;
 * the delivery worker logs the typed error and tries again, then delivers.
 */
import { describe, expect, it } from 'vitest';
import { PgWebhookOutbox } from '../../src/server/outbox-pg.js';
import { WebhookService } from '../../src/server/webhooks.js';

const lost = () => Object.assign(new Error('Connection terminated unexpectedly'), {});
const body = new TextEncoder().encode('{"id":"evt"}');
const row = { seq: 1, id: 'evt_' + 'd'.repeat(32), type: 'charge.complete', body: Buffer.from(body), created: 1, state: 'pending', attempts: 0, next_at: 0, last_error: null };

describe('PgWebhookOutbox reads on a lost connection', () => {
  it('typed store_unavailable on every read; other errors raw; close swallows', async () => {
    let ended = false;
    const pool = {
      async query(text: string) {
        if (text.includes('syntaxerr')) throw Object.assign(new Error('x'), { code: '42601' });
        throw lost();
      },
      async end() {
        ended = true;
      },
    };
    const o = new PgWebhookOutbox(pool as never, 'n', 60_000, 'postgres://fake/db');
    const calls: [string, () => Promise<unknown>][] = [
      ['due', () => o.due(0, 10)], ['nextDue', () => o.nextDue()], ['dead', () => o.dead(10)], ['prune', () => o.prune(0, 10)],
      ['counts', () => o.counts()], ['get', () => o.get('x')], ['intents', () => o.intents(0, 0, 10)], ['intentHashes', () => o.intentHashes('x')],
      ['intentCount', () => o.intentCount()],
    ];
    for (const [name, f] of calls) expect(await f().then(() => 'ok', (e: { code?: string }) => e.code), name).toBe('clearing.store_unavailable');
    const raw = await (o as unknown as { rows: (t: string) => Promise<unknown> }).rows('syntaxerr').catch((e: { code?: string }) => e.code);
    expect(raw).toBe('42601');
    await o.close();
    expect(ended).toBe(true);
  });

  it('the worker logs the typed error, tries again and delivers', async () => {
    let dueCalls = 0;
    let delivered = false;
    const pool = {
      async query(text: string) {
        if (text.includes('SET claimed_by')) {
          dueCalls++;
          if (dueCalls === 1) throw lost();
          return { rows: delivered ? [] : [row], rowCount: delivered ? 0 : 1 };
        }
        if (text.includes("SET state = 'delivered'")) {
          delivered = true;
          return { rows: [], rowCount: 1 };
        }
        if (text.includes('SET lease_until')) return { rows: [], rowCount: 1 };
        return { rows: [], rowCount: 0 };
      },
      async end() {},
    };
    const o = new PgWebhookOutbox(pool as never, 'n', 60_000, 'postgres://fake/db');
    const lines: string[] = [];
    const s = new WebhookService({
      url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 10, clock: () => 1_700_000_000,
      fetch: (async () => new Response('', { status: 200 })) as typeof fetch, log: (l) => lines.push(l),
    });
    s.start();
    for (let i = 0; i < 2000 && !delivered; i++) await new Promise((r) => setTimeout(r, 5));
    await s.stop();
    expect(delivered).toBe(true);
    expect(lines.some((l) => l.startsWith('webhook worker: the webhook outbox postgres://fake/db could not be read'))).toBe(true);
  });
});
