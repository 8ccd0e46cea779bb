/**
 * The sync answer vector file (fixtures/sync/sync_answers.json, spec/clearing-api.md §8 and §2.8), as `offpay vectors
 * check` runs it: parsed with a typed error (`vectors.bad_file`), then every status class, retry delay and
 * answer verdict compared with the reference (src/reader/sync-answers.ts). Browser-safe.
 */
import { OffpayError } from '../base/errors.js';
import { hexField, isObj, need, parseVectorJson, stringField, uintField, type Obj } from './vector-file.js';
import { fromHex } from '../base/hex.js';
import { batchAnswer, heldOfAnswer, heldWithin, refundAnswer, retryDelayMs, statusClass, type SentBatch, type StatusClass } from './reader/sync-answers.js';

/** The file name `vectors check` looks for (in DIR, or in the sync/ folder of a fixtures tree). */
export const SYNC_VECTOR_FILE = 'sync_answers.json';
const ALGORITHM = 'offpay-sync-answers-v1';

export interface SyncVectorFile {
  kind: 'sync';
  algorithm: typeof ALGORITHM;
  numberOfTests: number;
  statuses: { status: number; class: StatusClass }[];
  delays: { baseDelayMs: number; maxDelayMs: number; k: number; delayMs: number }[];
  readers: { tcId: number; comment: string; readerId: number; journalId: string; exported: number; batchLastSeqs?: number[]; batchHeads?: string[]; status: number; body: string; result: 'held' | 'bad_answer'; held?: number }[];
  batches: {
    tcId: number;
    comment: string;
    sent: SentBatch;
    status: number;
    body: string;
    result: 'delivered' | 'batch_rejected' | 'bad_answer';
    outcome?: 'ingested' | 'duplicate';
    entries?: number;
    doubleSpends?: number;
    reason?: string;
  }[];
  refunds: { tcId: number; comment: string; tokenHash: string; status: number; body: string; result: 'accepted' | 'duplicate' | 'rejected' | 'bad_answer'; reason?: string; message?: string }[];
}

/** One failing check: the file, where (`tcId N`, `status N`, `delay k=N`), what disagreed. */
export interface SyncVectorProblem {
  file: string;
  at?: string;
  detail: string;
}

const int = uintField;
const arrayOf = (o: Obj, k: string, name: string, each: (x: Obj, where: string) => void): void => {
  need(Array.isArray(o[k]), name, k, 'not an array');
  (o[k] as unknown[]).forEach((x, i) => {
    need(isObj(x), name, `${k}[${i}]`, 'not an object');
    each(x as Obj, `${k}[${i}]`);
  });
};

/**
 * Step 1 of a sync as a readers case states it: the answer read (heldOfAnswer), then checked against what the reader
 * exported (heldWithin), with the lastSeq check when the reader's batch ends are given (`batchLastSeqs[k - 1]`: the
 * last entry of its batch k) and the head check when its chain hashes there are too (`batchHeads[k - 1]`).
 */
export function heldChecked(status: number, body: Uint8Array, readerId: number, journalId: string, exported: number, batchLastSeqs?: number[], batchHeads?: string[]): number {
  const a = heldOfAnswer(status, body, readerId, journalId);
  const mine = batchLastSeqs && a.held > 0 ? batchLastSeqs[a.held - 1] : undefined;
  const mineHead = batchHeads && a.held > 0 ? batchHeads[a.held - 1] : undefined;
  return heldWithin(a.held, exported, journalId, mine !== undefined ? { lastSeq: a.lastSeq, mine, ...(a.head !== undefined ? { head: a.head } : {}), ...(mineHead !== undefined ? { mineHead } : {}) } : undefined);
}

/** Parse fixtures/sync/sync_answers.json. @throws OffpayError `vectors.bad_file`. */
export function parseSyncVectorFile(text: string, name: string): SyncVectorFile {
  const o = parseVectorJson(text, name, ALGORITHM);
  int(o, 'numberOfTests', name, 'numberOfTests');
  arrayOf(o, 'statuses', name, (x, w) => {
    int(x, 'status', name, w);
    need(['retry', 'redirect', 'answer'].includes(x.class as string), name, w, 'class is not retry, redirect or answer');
  });
  arrayOf(o, 'delays', name, (x, w) => {
    for (const k of ['baseDelayMs', 'maxDelayMs', 'k', 'delayMs']) int(x, k, name, w);
  });
  const common = (x: Obj, w: string) => {
    int(x, 'tcId', name, w);
    stringField(x, 'comment', name, w);
    int(x, 'status', name, w);
    hexField(x, 'body', name, w);
  };
  arrayOf(o, 'readers', name, (x, w) => {
    common(x, w);
    int(x, 'readerId', name, w);
    int(x, 'exported', name, w);
    if (x.batchLastSeqs !== undefined) {
      need(Array.isArray(x.batchLastSeqs) && (x.batchLastSeqs as unknown[]).every((v) => Number.isSafeInteger(v) && (v as number) >= 0), name, w, 'batchLastSeqs is not an array of integers >= 0');
    }
    if (x.batchHeads !== undefined) {
      need(Array.isArray(x.batchHeads) && (x.batchHeads as unknown[]).every((v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)), name, w, 'batchHeads is not an array of 64-digit hex strings');
    }
    need(typeof x.journalId === 'string', name, w, 'journalId is not a string');
    need(x.result === 'held' || x.result === 'bad_answer', name, w, 'result is not held or bad_answer');
    if (x.result === 'held') int(x, 'held', name, w);
  });
  arrayOf(o, 'batches', name, (x, w) => {
    common(x, w);
    need(isObj(x.sent), name, w, 'sent is not an object');
    const s = x.sent as Obj;
    int(s, 'readerId', name, w);
    int(s, 'batchSeq', name, w);
    need(typeof s.journalId === 'string', name, w, 'sent.journalId is not a string');
    need(['delivered', 'batch_rejected', 'bad_answer'].includes(x.result as string), name, w, 'result is not delivered, batch_rejected or bad_answer');
    if (x.result === 'delivered') {
      need(x.outcome === 'ingested' || x.outcome === 'duplicate', name, w, 'a delivered case needs outcome ingested or duplicate');
      int(x, 'entries', name, w);
      int(x, 'doubleSpends', name, w);
    }
    if (x.result === 'batch_rejected') need(typeof x.reason === 'string', name, w, 'a batch_rejected case needs a reason');
  });
  arrayOf(o, 'refunds', name, (x, w) => {
    common(x, w);
    need(typeof x.tokenHash === 'string', name, w, 'tokenHash is not a string');
    need(['accepted', 'duplicate', 'rejected', 'bad_answer'].includes(x.result as string), name, w, 'result is not accepted, duplicate, rejected or bad_answer');
    if (x.result === 'rejected') need(typeof x.reason === 'string' && typeof x.message === 'string', name, w, 'a rejected case needs a reason and a message');
  });
  return { kind: 'sync', ...(o as Omit<SyncVectorFile, 'kind'>) };
}

const verdictOf = (f: () => string): string => {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof OffpayError)) return `a crash (${String((e as Error)?.message ?? e)})`;
    if (e.code === 'sync.batch_rejected') return `batch_rejected ${String((e.detail as { reason?: unknown } | undefined)?.reason)}`;
    return e.code === 'sync.bad_answer' ? 'bad_answer' : e.code;
  }
};

/** Every problem of the file (none: it passes). */
export function checkSyncVectorFile(file: SyncVectorFile, name: string): SyncVectorProblem[] {
  const out: SyncVectorProblem[] = [];
  const problem = (at: string | undefined, detail: string) => out.push({ file: name, ...(at ? { at } : {}), detail });
  const cases = file.readers.length + file.batches.length + file.refunds.length;
  if (cases !== file.numberOfTests) problem(undefined, `numberOfTests says ${file.numberOfTests}, found ${cases}`);
  for (const s of file.statuses) if (statusClass(s.status) !== s.class) problem(`status ${s.status}`, `class ${statusClass(s.status)}, declared ${s.class}`);
  for (const d of file.delays) {
    const got = retryDelayMs(d.k, d.baseDelayMs, d.maxDelayMs);
    if (got !== d.delayMs) problem(`delay k=${d.k}`, `${got} ms with base ${d.baseDelayMs} and cap ${d.maxDelayMs}, declared ${d.delayMs}`);
  }
  for (const t of file.readers) {
    const got = verdictOf(() => `held ${heldChecked(t.status, fromHex(t.body), t.readerId, t.journalId, t.exported, t.batchLastSeqs, t.batchHeads)}`);
    const want = t.result === 'held' ? `held ${t.held!}` : 'bad_answer';
    if (got !== want) problem(`tcId ${t.tcId}`, `expected ${want}, got ${got} (${t.comment})`);
  }
  for (const t of file.batches) {
    const got = verdictOf(() => {
      const d = batchAnswer(t.status, fromHex(t.body), t.sent);
      return `delivered ${d.outcome} entries ${d.entries} doubleSpends ${d.doubleSpends}`;
    });
    const want = t.result === 'delivered' ? `delivered ${t.outcome!} entries ${t.entries!} doubleSpends ${t.doubleSpends!}` : t.result === 'batch_rejected' ? `batch_rejected ${t.reason!}` : 'bad_answer';
    if (got !== want) problem(`tcId ${t.tcId}`, `expected ${want}, got ${got} (${t.comment})`);
  }
  for (const t of file.refunds) {
    const got = verdictOf(() => {
      const r = refundAnswer(t.status, fromHex(t.body), t.tokenHash);
      return r.outcome === 'rejected' ? `rejected ${r.reason} message ${JSON.stringify(r.message)}` : r.outcome;
    });
    const want = t.result === 'rejected' ? `rejected ${t.reason!} message ${JSON.stringify(t.message!)}` : t.result;
    if (got !== want) problem(`tcId ${t.tcId}`, `expected ${want}, got ${got} (${t.comment})`);
  }
  return out;
}
