/**
 * A node that dies inside an ingest, for the webhook-intent tests (spec/clearing-api.md §9.2 step 1): `neverCommits`
 * wraps a clearing so that its ingest runs the `beforeCommit` hook as clearing would (for the batch's own identity:
 * the intent gets written) and then never returns, as a process killed before its commit; nothing of the clearing
 * is held by it (no store session stays open), so other ingests go on. `intentOf(batchToCommit(c, bytes))` is the
 * intent such a node leaves, for a test that writes it by hand. `dying` wraps an outbox whose event writes
 * hang (the process died there) when `dies(event ids)` says so.
 */
import { toHex } from '../../base/hex.js';
import type { BatchToCommit, Clearing, IngestHooks, IngestResult } from '../../src/clearing/index.js';
import type { NewOutboxIntent, WebhookOutbox } from '../../src/server/outbox.js';
import { sha256 } from '../../src/crypto.js';
import { decodeBatch } from '../../src/reader/batch.js';

/** What clearing's beforeCommit hook would be given for `bytes` (a reader's batch that decodes within its limits). */
export function batchToCommit(c: Clearing, bytes: Uint8Array): BatchToCommit {
  const b = decodeBatch(bytes);
  return { digest: sha256(bytes), readerId: b.readerCert.readerId, journalId: b.journalId, batchSeq: b.batchSeq, tokenHashes: c.batchTokenHashes(bytes)! };
}

/** The outbox intent the webhook service writes for `b` (webhooks.ts ingestBatch): what a node that died leaves. */
export function intentOf(b: BatchToCommit): NewOutboxIntent {
  const hashes = new Uint8Array(32 * b.tokenHashes.length);
  b.tokenHashes.forEach((h, i) => hashes.set(h, 32 * i));
  return { id: toHex(b.digest), readerId: b.readerId, journalId: b.journalId, batchSeq: b.batchSeq, hashes };
}

export function neverCommits(c: Clearing, dead: { reached: boolean } = { reached: false }): Clearing {
  const ingest = async (bytes: Uint8Array, hooks?: IngestHooks): Promise<IngestResult> => {
    await hooks?.beforeCommit?.(batchToCommit(c, bytes));
    dead.reached = true;
    return new Promise(() => {});
  };
  return Object.create(c, { ingest: { value: ingest } }) as Clearing;
}

export function dying(inner: WebhookOutbox, dies: (ids: string[]) => boolean): WebhookOutbox {
  return new Proxy(inner, {
    get(target, p, recv) {
      if (p === 'add') return (e: { id: string }[], n: number, s?: readonly string[]) => (dies(e.map((x) => x.id)) ? new Promise<number>(() => {}) : target.add(e as never, n, s));
      const v = Reflect.get(target, p, recv) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
