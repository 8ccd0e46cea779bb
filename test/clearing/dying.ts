/**
 * A node that dies inside an ingest, for the webhook-intent tests (spec/clearing-api.md §9.2 step 1): `neverCommits`
 * wraps a clearing so that its ingest runs the `beforeCommit` hook as clearing would (for the batch's own identity:
 * the intent gets written) and then never returns, as a process killed before its commit; nothing of the clearing
 * is held by it (no store session stays open), so other ingests go on.
 */
import type { Clearing, IngestHooks, IngestResult } from '../../src/clearing/index.js';
import { sha256 } from '../../src/crypto.js';
import { decodeBatch } from '../../src/reader/batch.js';

export function neverCommits(c: Clearing, dead: { reached: boolean } = { reached: false }): Clearing {
  const ingest = async (bytes: Uint8Array, hooks?: IngestHooks): Promise<IngestResult> => {
    const b = decodeBatch(bytes);
    await hooks?.beforeCommit?.({ digest: sha256(bytes), readerId: b.readerCert.readerId, journalId: b.journalId, batchSeq: b.batchSeq, tokenHashes: c.batchTokenHashes(bytes)! });
    dead.reached = true;
    return new Promise(() => {});
  };
  return Object.create(c, { ingest: { value: ingest } }) as Clearing;
}
