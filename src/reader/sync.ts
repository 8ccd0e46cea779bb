/**
 * `offpay reader sync`: bring a reader and a clearing service in step over HTTP (spec/clearing-api.md §8).
 * Browser-safe (fetch only). The algorithm, resumable at every step because the server is idempotent:
 *
 *  1. GET /v1/readers/{id}: `held` = the highest batch seq the server holds contiguously for this journal
 *     (the answer checked against spec/clearing-api.md §2.2: its reader id, each journal's fields).
 *     `held` above the batches the reader had exported BEFORE this sync is refused (`heldWithin`), and so is a
 *     `lastSeq` other than the last entry of the reader's own batch `held` (two batches under one number): no honest
 *     clearing holds a batch the reader had not yet signed (a reader restored from an old copy, another
 *     clearing's database), and counting after the export would let a restored reader's new batch hide behind
 *     the clearing's old one of the same number.
 *  2. If the journal has entries after the last exported one, Reader.export() signs the next batch, or the
 *     next several when the backlog is past the batch limits (the reader's export records are its own; a crash
 *     after it only means those batches are sent next time). If the export fails (the reader's certificate has
 *     ended, a full disk), step 3 still uploads the batches exported before, then the sync stops with that error.
 *  3. For n = held + 1 .. exported: POST batch n (Reader.exportBatch(n) re-creates it byte for byte; a batch whose
 *     rows a prune deleted is reader.batch_pruned, a clearing that now holds fewer batches than it said before,
 *     which stops the uploads as a refusal does). A
 *     batch counts as delivered only when the server answers 200 ingested or duplicate for that batch (sent
 *     after its commit); a 4xx error answer stops the sync with `sync.batch_rejected` and the server's reason
 *     (resending cannot help), after steps 4 and 5 have still run (a reader whose batch is refused keeps its
 *     key set and blocklist fresh meanwhile); a 200 of another outcome or batch is `sync.bad_answer`. `held` is
 *     recorded (Reader.recordDelivered) right after step 1's check, and held + those delivered after the uploads:
 *     what a prune may delete the rows of. Only over an authenticated channel (an https URL, or a loopback host):
 *     over another plain http URL the answers are unsigned, and a man in the middle who dropped the uploads could
 *     say that clearing holds them; there a count is recorded only when it lowers the one held (a lower count
 *     makes a prune keep more, never less).
 *  4. GET /v1/keyset: a signed key set (message 9, src/keyset.ts), verified against the key set the reader
 *     trusts (`issuerKeys`): signed by a key of THAT set, not future-dated, not older than the signed set
 *     loaded last. Anything else stops the sync (`keyset.*`): a reader never takes keys that its trusted keys
 *     did not sign. A newer set is returned (`keyset.outcome = 'newer'`) and handed to `reopen`, which stores
 *     it and gives back the reader opened with it (the CLI does); the blocklist is then judged by the new set.
 *  5. GET /v1/blocklist: verified (issuer signature, key set held, not future-dated) by Reader.loadBlocklist
 *     and loaded when newer than the one held. The result reports the version the reader holds afterwards, the
 *     version served, and whether the held list is stale by the reader's profile (`stale`: the CLI then exits 2 with sync.blocklist_stale,
 *     since the reader is not in sync: the clearing has issued nothing fresher).
 * Every request is retried on a network error, a timeout, 408, 429 or 5xx, with exponential backoff
 * (baseDelayMs x 2^k, capped at maxDelayMs) for at most `attempts` tries and `deadlineMs` in total; then
 * `sync.unreachable`.
 */
import { toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import { decodeSignedKeySet, verifySignedKeySet } from '../keyset.js';
import type { IssuerKeySet } from '../messages.js';
import { decodeBlocklist } from './blocklist.js';
import { isLoopback } from '../loopback.js';
import { clearingCaller, type CallerOptions } from './transport.js';
import { batchAnswer, heldOfAnswer, heldWithin } from './sync-answers.js';
import type { Reader } from './reader.js';

/** Options of {@link syncReader}: the transport's (url, retries, deadline, fetch, log) and the key set rules. */
export interface SyncOptions extends CallerOptions {
  /** The clock, unix seconds: the time of the batch it exports (default: the reader's clock) and of the key set check (default: the system clock). */
  now?: number;
  /** The key set the reader trusts: the served key set must be signed by one of its keys (step 4). */
  issuerKeys: IssuerKeySet;
  /** The last signed key set loaded (its bytes): a served one must not be older (rollback). */
  heldKeySet?: Uint8Array;
  /**
   * Limits of the batches step 2 exports (default: clearing's defaults, 8 MiB and 65,536 entries, spec/reader.md
   * §10): for a clearing that accepts less. A backlog past them is cut into several batches, all uploaded.
   */
  exportLimits?: {
    /** Largest batch, bytes. */
    maxBatchBytes?: number;
    /** Most entries a batch. */
    maxBatchEntries?: number;
  };
  /** Called with a newer verified key set (and its signed bytes): store it and return the reader opened with it. */
  reopen?: (keys: IssuerKeySet, signed: Uint8Array) => Reader | Promise<Reader>;
}

/** What {@link syncReader} did (spec/clearing-api.md §8): what clearing held, what was sent, the blocklist and key set. */
export interface SyncResult {
  /** The reader's id (its certificate's). */
  readerId: number;
  /** The reader's journal id, hex. */
  journalId: string;
  /** Batches the server held (contiguously) before this sync. */
  heldBefore: number;
  /** Batches the server holds (contiguously) after it. */
  held: number;
  /** Batch numbers sent, with the server's outcome. */
  sent: {
    /** The batch number. */
    batchSeq: number;
    /** The server's outcome (a rejection ends the sync with an error instead). */
    outcome: 'ingested' | 'duplicate';
    /** Entries the server stored from it. */
    entries: number;
    /** Double spends the server found with it. */
    doubleSpends: number;
  }[];
  /** The last batch seq this sync exported (step 2; a long backlog may make several batches), if it exported. */
  exported?: number;
  /**
   * The blocklist after step 5: `version` the one the reader holds (0: none), `served` the version the clearing
   * served (as it says; verified only when loaded), `loaded` when this sync loaded it, `stale` when the held list
   * is older than the reader profile's blocklistMaxAgeSeconds at `now` (spec/reader.md §5).
   */
  blocklist: {
    /** The version the reader holds after the sync (0: none). */
    version: number;
    /** The version the clearing served, as it says (verified only when loaded). */
    served: number;
    /** This sync loaded it. */
    loaded: boolean;
    /** The held list is older than the profile's blocklistMaxAgeSeconds at `now`. */
    stale: boolean;
    /** Why it is stale, for people. */
    staleReason?: string;
  };
  /** The served key set: `unchanged` (it is the trusted one) or `newer` (verified; `loaded` when reopen took it). */
  keyset: {
    /** `unchanged` (the trusted one) or `newer` (verified). */
    outcome: 'newer' | 'unchanged';
    /** The served set's issued-at time, unix seconds. */
    issuedAt: number;
    /** The issuer key that signed it. */
    keyIndex: number;
    /** The reader was reopened with it (`reopen`). */
    loaded: boolean;
  };
  /** Requests retried after a network error or 5xx. */
  retries: number;
  /**
   * The count of delivered batches the reader holds after this sync (Reader.deliveredBatches: what a prune
   * deletes the rows of), and whether clearing's answers were taken for it: true over https or a loopback
   * host; false over another plain http URL, where only a lower count is taken (spec/clearing-api.md §8).
   */
  delivered: {
    /** Batches clearing holds, as the reader records it. */
    batches: number;
    /** Clearing's answers were taken for it (https or loopback), else only a lower count was. */
    authenticated: boolean;
  };
}

export { isTlsTrustFailure } from './transport.js';

/**
 * `offpay reader sync` as a library call (spec/clearing-api.md §8): upload every batch the clearing service lacks
 * (exporting what is new), then fetch, verify and load the newest signed key set and blocklist. Browser-safe (fetch
 * only). Throws `sync.*` errors (spec/clearing-api.md) when it cannot finish; the reader's own state stays valid.
 */
export async function syncReader(initialReader: Reader, o: SyncOptions): Promise<SyncResult> {
  let reader = initialReader;
  const { call, base, retries: retried } = clearingCaller(o);
  const authenticated = base.protocol === 'https:' || isLoopback(base.hostname);
  // What clearing says it holds is recorded for a prune over an authenticated channel; over plain http only a
  // lower count (spec/reader.md §9.3).
  const recordHeld = (n: number): void => {
    if (authenticated || n < reader.deliveredBatches()) reader.recordDelivered(n);
  };
  // 1. what the server holds
  const journalId = toHex(reader.journalId);
  const who = await call(`/v1/readers/${reader.readerId}`);
  const { held: heldBefore, lastSeq, head } = heldOfAnswer(who.status, who.body, reader.readerId, journalId);

  // The clearing cannot hold a batch this reader had not exported before this sync, and its batch `held` must end
  // where this reader's does (else the two are different batches under one number: a restored reader's).
  let exportedCount = reader.exportedBatches();
  let mine: { lastSeq: number; mine: number; head?: string; mineHead?: string } | undefined;
  if (heldBefore > 0 && heldBefore <= exportedCount) {
    const end = reader.exportedBatchRange(heldBefore).lastSeq;
    const h = reader.chainHashAt(end); // undefined once that row is pruned (then only where it ends is compared)
    mine = { lastSeq, mine: end, ...(head !== undefined ? { head } : {}), ...(h ? { mineHead: toHex(h) } : {}) };
  }
  heldWithin(heldBefore, exportedCount, journalId, mine);
  // What the clearing holds now is what a prune may delete the rows of (spec/reader.md §9.3): recorded at once, so
  // that a clearing that holds fewer batches than it said before (restored from an old backup) lowers it before
  // anything below can stop the sync, and a later prune keeps the rows it lacks.
  recordHeld(heldBefore);

  // 2. export what is new
  // (Read from the export records, not by making the last batch again: its rows may be pruned, spec/reader.md §9.3.)
  const lastExportedSeq = reader.exportedThrough();
  let exported: number | undefined;
  let exportError: unknown;
  if (reader.head().seq > lastExportedSeq) {
    // A long backlog is cut into several batches: every one of them is uploaded below.
    try {
      exported = reader.export(o.now, o.exportLimits).batches.at(-1)!.batch.batchSeq;
      exportedCount = exported;
    } catch (e) {
      // The batches signed before still go up (their certificate covered them when they were signed).
      exportError = e;
    }
  }

  // 3. upload what the server lacks, in order
  const sent: SyncResult['sent'] = [];
  // A batch clearing refuses (sync.batch_rejected) stops the uploads (the next ones follow it in the chain), but
  // not steps 4 and 5: the reader still takes a newer key set and blocklist, then the sync fails with the refusal.
  let rejected: unknown;
  try {
    for (let n = heldBefore + 1; n <= exportedCount; n++) {
      let bytes: Uint8Array;
      try {
        bytes = reader.exportBatch(n).bytes;
      } catch (e) {
        // Its rows were pruned once a clearing said it held it: this one does not. Sending cannot help (as a refusal),
        // and the key set and blocklist are still fetched; the sync then fails with reader.batch_pruned.
        if (!(e instanceof OffpayError && e.code === 'reader.batch_pruned')) throw e;
        o.log?.(`  batch ${n}: cannot be sent (${e.message}); the key set and blocklist are still fetched`);
        rejected = e;
        break;
      }
      const r = await call('/v1/batches', { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: bytes as Uint8Array<ArrayBuffer> });
      // Only an answer about this very batch counts as its delivery; any other final status refuses it.
      let d: ReturnType<typeof batchAnswer>;
      try {
        d = batchAnswer(r.status, r.body, { readerId: reader.readerId, journalId, batchSeq: n });
      } catch (e) {
        if (!(e instanceof OffpayError && e.code === 'sync.batch_rejected')) throw e;
        o.log?.(`  batch ${n}: rejected (${e.message}); the key set and blocklist are still fetched`);
        rejected = e;
        break;
      }
      sent.push({ batchSeq: n, ...d });
      o.log?.(`  batch ${n}: ${d.outcome}`);
    }
  } finally {
    // What the clearing holds after the uploads, by its answers (contiguous from batch 1), however step 3 ended (an
    // unreachable clearing, a bad answer; an export error is thrown below): those batches were delivered all the same.
    if (sent.length) recordHeld(heldBefore + sent.length);
  }
  if (exportError !== undefined) throw exportError;

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
  const after = reader.blocklistStatus(o.now);
  if (rejected !== undefined) throw rejected;
  return {
    readerId: reader.readerId, journalId, heldBefore, held: exportedCount, sent, ...(exported !== undefined ? { exported } : {}),
    blocklist: { version: after.loaded ? after.version : 0, served: version, loaded, stale: after.stale, ...(after.staleReason ? { staleReason: after.staleReason } : {}) },
    keyset: { outcome: kv.outcome, issuedAt: kv.signed.issuedAt, keyIndex: kv.signed.keyIndex, loaded: keysetLoaded }, retries: retried(),
    delivered: { batches: reader.deliveredBatches(), authenticated },
  };
}
