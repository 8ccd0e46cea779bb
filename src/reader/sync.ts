/**
 * `offpay reader sync`: bring a reader and a clearing service in step over HTTP (spec/clearing-api.md §8).
 * Browser-safe (fetch only). The algorithm, resumable at every step because the server is idempotent:
 *
 *  1. GET /v1/readers/{id}: `held` = the highest batch seq the server holds contiguously for this journal.
 *  2. If the journal has entries after the last exported one, Reader.export() signs the next batch (the
 *     reader's export records are its own; a crash after it only means that batch is sent next time).
 *  3. For n = held + 1 .. exported: POST batch n (Reader.exportBatch(n) re-creates it byte for byte). A
 *     batch counts as delivered only when the server answers ingested or duplicate (sent after its commit);
 *     rejected stops the sync with `sync.batch_rejected` and the server's reason: resending cannot help.
 *  4. GET /v1/keyset: a signed key set (message 9, src/keyset.ts), verified against the key set the reader
 *     trusts (`issuerKeys`): signed by a key of THAT set, not future-dated, not older than the signed set
 *     loaded last. Anything else stops the sync (`keyset.*`): a reader never takes keys that its trusted keys
 *     did not sign. A newer set is returned (`keyset.outcome = 'newer'`) and handed to `reopen`, which stores
 *     it and gives back the reader opened with it (the CLI does); the blocklist is then judged by the new set.
 *  5. GET /v1/blocklist: verified (issuer signature, key set held, not future-dated) by Reader.loadBlocklist
 *     and loaded when newer than the one held.
 * Every request is retried on a network error, a timeout, 429 or 5xx, with exponential backoff
 * (baseDelayMs x 2^k, capped at maxDelayMs) for at most `attempts` tries and `deadlineMs` in total; then
 * `sync.unreachable`.
 */
import { toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import { decodeSignedKeySet, verifySignedKeySet } from '../keyset.js';
import type { IssuerKeySet } from '../messages.js';
import { decodeBlocklist } from './blocklist.js';
import { answerObject, clearingCaller, type CallerOptions } from './transport.js';
import type { Reader } from './reader.js';

/** Options of {@link syncReader}: the transport's (url, retries, deadline, fetch, log: {@link CallerOptions}) and the key set rules. */
export interface SyncOptions extends CallerOptions {
  /** The clock, unix seconds: the time of the batch it exports (default: the reader's clock) and of the key set check (default: the system clock). */
  now?: number;
  /** The key set the reader trusts: the served key set must be signed by one of its keys (step 4). */
  issuerKeys: IssuerKeySet;
  /** The last signed key set loaded (its bytes): a served one must not be older (rollback). */
  heldKeySet?: Uint8Array;
  /** Called with a newer verified key set (and its signed bytes): store it and return the reader opened with it. */
  reopen?: (keys: IssuerKeySet, signed: Uint8Array) => Reader | Promise<Reader>;
}

export interface SyncResult {
  readerId: number;
  journalId: string;
  /** Batches the server held (contiguously) before, and after this sync. */
  heldBefore: number;
  held: number;
  /** Batch numbers sent, with the server's outcome. */
  sent: { batchSeq: number; outcome: 'ingested' | 'duplicate'; entries: number; doubleSpends: number }[];
  exported?: number;
  blocklist: { version: number; loaded: boolean };
  /** The served key set: `unchanged` (it is the trusted one) or `newer` (verified; `loaded` when reopen took it). */
  keyset: { outcome: 'newer' | 'unchanged'; issuedAt: number; keyIndex: number; loaded: boolean };
  /** Requests retried after a network error or 5xx. */
  retries: number;
}

export { isTlsTrustFailure } from './transport.js';

export async function syncReader(initialReader: Reader, o: SyncOptions): Promise<SyncResult> {
  let reader = initialReader;
  const { call, retries: retried } = clearingCaller(o);
  // 1. what the server holds
  const journalId = toHex(reader.journalId);
  const who = await call(`/v1/readers/${reader.readerId}`);
  if (who.status !== 200) throw new OffpayError('sync.bad_answer', `GET /v1/readers/${reader.readerId}: HTTP ${who.status}`);
  const journals = (answerObject(who.body, `GET /v1/readers/${reader.readerId}`).journals ?? []) as { journalId: string; batchSeq: number }[];
  const j = Array.isArray(journals) ? journals.find((x) => x && x.journalId === journalId) : undefined;
  const heldBefore = j && Number.isSafeInteger(j.batchSeq) && j.batchSeq >= 0 ? j.batchSeq : 0;

  // 2. export what is new
  let exportedCount = reader.exportedBatches();
  const lastExportedSeq = exportedCount ? (() => {
    const b = reader.exportBatch(exportedCount).batch;
    return b.firstSeq + b.entries.length - 1;
  })() : 0;
  let exported: number | undefined;
  if (reader.head().seq > lastExportedSeq) {
    exported = reader.export(o.now).batch.batchSeq;
    exportedCount = exported;
  }
  if (heldBefore > exportedCount) throw new OffpayError('sync.bad_answer', `the clearing says it holds ${heldBefore} batches of journal ${journalId}, this reader exported ${exportedCount}`);

  // 3. upload what the server lacks, in order
  const sent: SyncResult['sent'] = [];
  for (let n = heldBefore + 1; n <= exportedCount; n++) {
    const { bytes } = reader.exportBatch(n);
    const r = await call('/v1/batches', { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: bytes as Uint8Array<ArrayBuffer> });
    const a = answerObject(r.body, `POST /v1/batches (batch ${n})`);
    if (r.status === 200 && (a.outcome === 'ingested' || a.outcome === 'duplicate')) {
      sent.push({ batchSeq: n, outcome: a.outcome, entries: Number(a.entries) || 0, doubleSpends: Number(a.doubleSpends) || 0 });
      o.log?.(`  batch ${n}: ${a.outcome}`);
      continue;
    }
    const reason = String(a.reason ?? (a.error as { code?: string } | undefined)?.code ?? `HTTP ${r.status}`);
    throw new OffpayError('sync.batch_rejected', `batch ${n} of journal ${journalId} refused by clearing: ${reason}${(a.error as { message?: string } | undefined)?.message ? `: ${(a.error as { message: string }).message}` : ''}`, { batchSeq: n, reason });
  }

  // 4. key set: verified against the trusted one, never taken unsigned
  const ks = await call('/v1/keyset');
  if (ks.status !== 200) throw new OffpayError('sync.bad_answer', `GET /v1/keyset: HTTP ${ks.status}`);
  let heldIssuedAt = 0;
  if (o.heldKeySet) heldIssuedAt = decodeSignedKeySet(o.heldKeySet).issuedAt;
  const kv = verifySignedKeySet(ks.body, { trusted: o.issuerKeys, now: o.now ?? Math.floor(Date.now() / 1000), heldIssuedAt });
  let keysetLoaded = false;
  if (kv.outcome === 'newer') {
    o.log?.(`  key set issued at ${kv.signed.issuedAt} (signed by issuer key ${kv.signed.keyIndex}) is newer than the one held`);
    if (o.reopen) {
      reader = await o.reopen(kv.signed.keySet, ks.body);
      keysetLoaded = true;
    }
  }

  // 5. blocklist: verified by the reader, loaded when newer
  const bl = await call('/v1/blocklist');
  if (bl.status !== 200) throw new OffpayError('sync.bad_answer', `GET /v1/blocklist: HTTP ${bl.status}`);
  let version: number;
  try {
    version = decodeBlocklist(bl.body).version;
  } catch (e) {
    throw new OffpayError('sync.bad_answer', `the blocklist from clearing does not decode: ${(e as Error).message}`);
  }
  const current = reader.blocklistStatus(o.now);
  let loaded = false;
  if (!current.loaded || version > current.version) {
    reader.loadBlocklist(bl.body, o.now); // verifies the issuer signature; throws blocklist.* when it fails
    loaded = true;
  }
  return { readerId: reader.readerId, journalId, heldBefore, held: exportedCount, sent, ...(exported !== undefined ? { exported } : {}), blocklist: { version, loaded }, keyset: { outcome: kv.outcome, issuedAt: kv.signed.issuedAt, keyIndex: kv.signed.keyIndex, loaded: keysetLoaded }, retries: retried() };
}
