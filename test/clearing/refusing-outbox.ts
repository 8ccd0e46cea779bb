/**
 * A webhook service over a SQLite outbox that refuses every write while `full.on`, as a full disk makes SQLite
 * refuse it (clearing.store_unavailable, SQLITE_FULL). Never started unless a test starts it: with `fetch`, what it
 * would deliver goes there. Shared by the refund, fix and webhook-deferral review tests.
 */
import { join } from 'node:path';
import { OffpayError } from '../../base/errors.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { WebhookService } from '../../src/server/webhooks.js';

export function refusingOutbox(dir: string, file: string, clock: () => number, fetch?: typeof globalThis.fetch) {
  const outbox = new SqliteWebhookOutbox(join(dir, file));
  const full = { on: false };
  const add = outbox.add.bind(outbox);
  Object.assign(outbox, {
    add: async (...a: Parameters<typeof outbox.add>) => {
      if (full.on) throw new OffpayError('clearing.store_unavailable', 'the webhook outbox refused the events (SQLITE_FULL)', { sqlite: 'SQLITE_FULL', write: true });
      return add(...a);
    },
  });
  const hooks = new WebhookService({ url: 'http://127.0.0.1:59999/hooks', secret: '5f'.repeat(32), outbox, pollMs: 10, clock, ...(fetch ? { fetch } : {}) });
  return { outbox, hooks, full };
}

/** Stop what a webhook test started, in order: the server (every connection), the service, the outbox, the clearing. */
export async function shutDown(p: { server?: import('node:http').Server; hooks: WebhookService; outbox: { close(): Promise<void> }; clearing: { close(): Promise<void> } }): Promise<void> {
  const server = p.server;
  if (server) {
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  }
  await p.hooks.stop();
  await p.outbox.close();
  await p.clearing.close();
}
