/**
 * What `reader sync` makes of the clearing's answers (spec/clearing-api.md §8): pure functions of the status
 * and the body bytes, so a port checks its own against fixtures/sync/sync_answers.json.
 *
 *  - `statusClass`: retry (408, 429, 5xx), redirect (3xx other than 304: sync.bad_answer, never followed) or an
 *    answer to judge;
 *  - `retryDelayMs`: the wait before retry k (1, 2, ...): baseDelayMs x 2^(k-1), at most maxDelayMs;
 *  - `answerObject`: the body as a JSON object: UTF-8 (a leading byte order mark ignored), one JSON value, an
 *    object; a key given twice counts by its last value;
 *  - `heldFromAnswer` (step 1): the batch seq the clearing holds for this journal, the answer checked against
 *    §2.2's shape;
 *  - `heldWithin` (before step 2): `held` no more than the batches the reader exported before this sync;
 *  - `batchAnswer` (step 3): a batch delivered (200, ingested or duplicate, naming that very batch), refused
 *    (sync.batch_rejected with the server's reason) or an answer that makes no sense (sync.bad_answer);
 *  - `refundAnswer` (reader refund --url, §2.8): accepted or duplicate (a 200 about that very refund), rejected
 *    with the server's reason, or sync.bad_answer.
 * Browser-safe.
 */
import { OffpayError } from '../../base/errors.js';
import type { RefundRecord } from '../clearing/refunds.js';

/** How a status is handled before its body is judged. */
export type StatusClass = 'retry' | 'redirect' | 'answer';

/**
 * 408 (the server did not get the whole request in time), 429 and 500..599 are retried; 300..399 other than 304
 * is a redirect, never followed; any other status (600 and up too) is an answer to judge.
 */
export function statusClass(status: number): StatusClass {
  if ((status >= 500 && status <= 599) || status === 429 || status === 408) return 'retry';
  if (status >= 300 && status < 400 && status !== 304) return 'redirect';
  return 'answer';
}

/** The wait before retry `k` (k = 1 for the first retry): baseDelayMs x 2^(k-1) ms, at most maxDelayMs. */
export function retryDelayMs(k: number, baseDelayMs = 250, maxDelayMs = 8_000): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** (k - 1));
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** `v` as a JSON object (not null, not an array), else undefined. */
const asObject = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** The server's reason for a refusal: `reason` when a non-empty string, else `error.code` when one, else undefined. */
function serverReason(a: Record<string, unknown>): string | undefined {
  const code = asObject(a.error)?.code;
  return typeof a.reason === 'string' && a.reason !== '' ? a.reason : typeof code === 'string' && code !== '' ? code : undefined;
}

/** `error.message` when a string, else ''. */
const serverMessage = (a: Record<string, unknown>): string => {
  const m = asObject(a.error)?.message;
  return typeof m === 'string' ? m : '';
};

/** Deepest nesting of arrays and objects an answer may have (§2's answers nest 3 deep). */
export const MAX_ANSWER_DEPTH = 32;

/** The deepest nesting of arrays and objects in JSON text, outside strings (a scan, before anything is parsed). */
function nesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * An answer's body as a JSON object, else `sync.bad_answer` naming `what`: bytes that are not UTF-8 (one leading
 * byte order mark is ignored), arrays and objects nested deeper than MAX_ANSWER_DEPTH, text that is not one
 * JSON value (JSON's white space around it: space, tab, LF, CR), or JSON that is not an object. A key given
 * twice counts by its last value; numbers are read as doubles (a literal past the double range is ±Infinity),
 * as JSON.parse reads them.
 */
export function answerObject(body: Uint8Array, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = utf8Strict.decode(body);
  } catch {
    throw new OffpayError('sync.bad_answer', `${what}: the clearing answered bytes that are not UTF-8`);
  }
  if (nesting(text) > MAX_ANSWER_DEPTH) throw new OffpayError('sync.bad_answer', `${what}: the clearing answered JSON nested deeper than ${MAX_ANSWER_DEPTH}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new OffpayError('sync.bad_answer', `${what}: the clearing answered something that is not JSON`);
  }
  const o = asObject(v);
  if (!o) throw new OffpayError('sync.bad_answer', `${what}: the clearing answered JSON that is not an object`);
  return o;
}

/**
 * Step 1: `held` from the final answer to GET /v1/readers/{readerId} (spec/clearing-api.md §2.2): the `batchSeq`
 * of the journal `journalId` (16 lower-case hex digits), 0 when it is not listed. sync.bad_answer unless the
 * status is 200 and the body a JSON object with `readerId` the reader asked about and `journals` an array of
 * objects, each with a `journalId` of 16 lower-case hex digits (no id twice) and `batchSeq`, `lastSeq` integers
 * >= 0 (JSON numbers compared by value: 3.0 is 3). Other fields are ignored.
 */
export function heldFromAnswer(status: number, body: Uint8Array, readerId: number, journalId: string): number {
  return heldOfAnswer(status, body, readerId, journalId).held;
}

/**
 * Step 1's answer, as {@link heldFromAnswer} reads it, with the `lastSeq` the clearing gives for the reader's journal
 * (0 when it holds none).
 */
export function heldOfAnswer(status: number, body: Uint8Array, readerId: number, journalId: string): { held: number; lastSeq: number; head?: string } {
  const what = `GET /v1/readers/${readerId}`;
  const bad = (why: string) => new OffpayError('sync.bad_answer', `${what}: ${why}`);
  if (status !== 200) throw bad(`HTTP ${status}`);
  const a = answerObject(body, what);
  if (a.readerId !== readerId) throw bad(`the answer is about reader ${JSON.stringify(a.readerId)?.slice(0, 40)}`);
  if (!Array.isArray(a.journals)) throw bad('no journals array');
  const seqOk = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  let held: { held: number; lastSeq: number; head?: string } | undefined;
  const seen = new Set<string>();
  for (const j of a.journals as unknown[]) {
    const x = asObject(j);
    if (!x) throw bad('a journal that is not an object');
    if (typeof x.journalId !== 'string' || !/^[0-9a-f]{16}$/.test(x.journalId)) throw bad('a journal id that is not 16 lower-case hex digits');
    if (!seqOk(x.batchSeq) || !seqOk(x.lastSeq)) throw bad(`journal ${x.journalId}: batchSeq and lastSeq must be integers >= 0`);
    if (x.head !== undefined && (typeof x.head !== 'string' || !/^[0-9a-f]{64}$/.test(x.head))) throw bad(`journal ${x.journalId}: head must be 64 lower-case hex digits`);
    if (seen.has(x.journalId)) throw bad(`journal ${x.journalId} listed twice`);
    seen.add(x.journalId);
    if (x.journalId === journalId) held = { held: x.batchSeq as number, lastSeq: x.lastSeq as number, ...(typeof x.head === 'string' ? { head: x.head } : {}) };
  }
  return held ?? { held: 0, lastSeq: 0 };
}

/**
 * Before step 2: the clearing cannot hold more batches of the journal than the reader exported before this sync
 * (`exported`, counted before step 2's export), and, given `last`, its batch `held` ends at the entry the reader's
 * own batch `held` ends at (`last.lastSeq` from the answer, `last.mine` from the reader) with the same chain hash
 * (`last.head` from the answer, `last.mineHead` the reader's h(mine), each compared only when given). `held` when both hold,
 * else sync.bad_answer (an answer that contradicts the reader: another clearing's database, or a reader restored
 * from an old copy).
 */
export function heldWithin(held: number, exported: number, journalId: string, last?: { lastSeq: number; mine: number; head?: string; mineHead?: string }): number {
  if (held > exported) throw new OffpayError('sync.bad_answer', `the clearing says it holds ${held} batches of journal ${journalId}, this reader had exported ${exported}: a reader restored from an old copy, or a clearing database that is not this reader's`);
  // Its batch `held` must be this reader's batch `held`: the same last entry (`mine`, from the reader's export records).
  if (last && held > 0 && last.lastSeq !== last.mine) {
    throw new OffpayError('sync.bad_answer', `the clearing's batch ${held} of journal ${journalId} ends at entry ${last.lastSeq}, this reader's at entry ${last.mine}: a reader restored from an old copy (its batch ${held} is not the one clearing holds, and would never be delivered), or a clearing database that is not this reader's`);
  }
  // ... and the same chain hash there, when the clearing gives one and the reader still holds its own.
  if (last && held > 0 && last.head !== undefined && last.mineHead !== undefined && last.head !== last.mineHead) {
    throw new OffpayError('sync.bad_answer', `the clearing's batch ${held} of journal ${journalId} ends at entry ${last.lastSeq} with chain hash ${last.head}, this reader's with ${last.mineHead}: another history under the same numbers (a reader restored from an old copy: its batch would never be delivered), or a clearing database that is not this reader's`);
  }
  return held;
}

/** The batch a POST /v1/batches sent. */
export interface SentBatch {
  readerId: number;
  /** 16 lower-case hex digits. */
  journalId: string;
  batchSeq: number;
}

/** A batch the clearing committed. */
export interface DeliveredBatch {
  outcome: 'ingested' | 'duplicate';
  /** The answer's `entries` when an integer >= 0 (at most 2^53 - 1), else 0 (informative). */
  entries: number;
  /** The answer's `doubleSpends` likewise (informative). */
  doubleSpends: number;
}

/**
 * Step 3: the final answer to POST /v1/batches of `sent`. The body must be a JSON object (else sync.bad_answer,
 * whatever the status). Status 200: delivered when `outcome` is `ingested` or `duplicate` and `readerId`,
 * `journalId` and `batchSeq` are those of `sent`, else sync.bad_answer. Any other status (a 4xx, a 2xx other
 * than 200, 304): sync.batch_rejected with the server's reason: `reason` when it is a non-empty string, else
 * `error.code` when that is one, else `HTTP <status>` (detail `{batchSeq, reason}`).
 */
export function batchAnswer(status: number, body: Uint8Array, sent: SentBatch): DeliveredBatch {
  const what = `POST /v1/batches (batch ${sent.batchSeq})`;
  const a = answerObject(body, what);
  if (status === 200) {
    if ((a.outcome !== 'ingested' && a.outcome !== 'duplicate') || a.readerId !== sent.readerId || a.journalId !== sent.journalId || a.batchSeq !== sent.batchSeq) {
      throw new OffpayError('sync.bad_answer', `${what}: a 200 answer that is not ingested or duplicate for reader ${sent.readerId}, journal ${sent.journalId}, batch ${sent.batchSeq}`);
    }
    const n = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);
    return { outcome: a.outcome, entries: n(a.entries), doubleSpends: n(a.doubleSpends) };
  }
  const reason = serverReason(a) ?? `HTTP ${status}`;
  const message = serverMessage(a);
  throw new OffpayError('sync.batch_rejected', `batch ${sent.batchSeq} of journal ${sent.journalId} refused by clearing: ${reason}${message ? `: ${message}` : ''}`, { batchSeq: sent.batchSeq, reason });
}

/** What a merchant's till makes of the final answer to POST /v1/refunds. */
export type RefundAnswer = { outcome: 'accepted' | 'duplicate'; refund: RefundRecord } | { outcome: 'rejected'; reason: string; message: string };

/**
 * The final answer to POST /v1/refunds of a refund of `tokenHash` (64 lower-case hex digits; spec/clearing-api.md
 * §2.8, "Reading the answer"). The body must be a JSON object (answerObject, whatever the status). Status 200:
 * `outcome` `accepted` or `duplicate`, `tokenHash` the one sent, and `refund` an object of the documented
 * fields and types whose `tokenHash` is the one sent; status 409, 422 or 413: rejected, with `reason` when it is
 * a non-empty string, else `error.code` when that is one (neither: sync.bad_answer); any other status, or a 200
 * that is not all of the above: sync.bad_answer.
 */
export function refundAnswer(status: number, body: Uint8Array, tokenHash: string): RefundAnswer {
  const what = `POST /v1/refunds: HTTP ${status}`;
  const bad = (why: string) => new OffpayError('sync.bad_answer', `${what}: ${why}`);
  const a = answerObject(body, what);
  if (status === 200) {
    if (a.outcome !== 'accepted' && a.outcome !== 'duplicate') throw bad('a 200 answer that is not accepted or duplicate');
    if (a.tokenHash !== tokenHash) throw bad(`an answer about another token than ${tokenHash}`);
    const r = asObject(a.refund);
    if (!r) throw bad('no refund object');
    const uint = (k: string) => Number.isSafeInteger(r[k]) && (r[k] as number) >= 0;
    const decimal = (k: string) => typeof r[k] === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(r[k]);
    const fieldsOk =
      r.tokenHash === tokenHash &&
      typeof r.walletId === 'string' && /^[0-9a-f]{32}$/.test(r.walletId) &&
      decimal('amount') && decimal('charge') &&
      ['currency', 'operatorId', 'readerId', 'time', 'acceptedAt'].every(uint) &&
      typeof r.partial === 'boolean';
    if (!fieldsOk) throw bad('a refund object not of the documented fields and types, or about another token');
    return { outcome: a.outcome, refund: { tokenHash, walletId: r.walletId as string, amount: r.amount as string, currency: r.currency as number, operatorId: r.operatorId as number, readerId: r.readerId as number, time: r.time as number, acceptedAt: r.acceptedAt as number, charge: r.charge as string, partial: r.partial as boolean } };
  }
  if (status === 409 || status === 422 || status === 413) {
    const reason = serverReason(a);
    if (reason === undefined) throw bad('a refusal without a reason or an error code');
    return { outcome: 'rejected', reason, message: serverMessage(a) };
  }
  throw bad(serverReason(a) ?? 'an unexpected status');
}
