/**
 * The sync answer vectors (fixtures/sync/sync_answers.json, spec/clearing-api.md §8): the reference passes
 * every case, and the file catches the mistakes a port of the sync makes. The port below is written from §8,
 * each mistake a switch; with no mistake it passes every case, and with any one of them at least one fails.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { batchAnswer, heldFromAnswer, refundAnswer } from '../../src/reader/sync-answers.js';
import { fromHex } from '../../base/hex.js';
import { checkSyncVectorFile, parseSyncVectorFile, type SyncVectorFile } from '../../src/sync-vectors.js';

const NAME = 'fixtures/sync/sync_answers.json';
const file: SyncVectorFile = parseSyncVectorFile(readFileSync(NAME, 'utf8'), NAME);

type Mistake =
  | 'lenient-utf8' // replacement characters instead of refusing
  | 'refuses-bom' // a leading byte order mark makes it not JSON
  | 'retries-every-4xx'
  | 'retries-no-408'
  | 'follows-304' // 304 taken as a redirect
  | 'exponent-from-k' // base x 2^k instead of 2^(k-1)
  | 'no-cap'
  | 'any-2xx-readers' // any 2xx answer to GET /v1/readers is read
  | 'ignores-last-seq' // a held batch is taken whatever lastSeq says (another batch under the same number)
  | 'ignores-head' // a held batch is taken whatever its head says (another batch ending at the same entry)
  | 'checks-own-journal-only' // ignores the shape of the other journals
  | 'journals-may-repeat'
  | 'journal-id-any-case'
  | 'any-2xx-delivers' // a 201 naming the batch counts as delivered
  | 'ignores-batch-seq' // a 200 ingested for another batch counts
  | 'status-before-body' // a 4xx whose body is not JSON is batch_rejected
  | 'reason-any-type' // String(reason) of a non-string reason
  | 'error-before-reason'
  | 'accepts-rejected-200' // a 200 rejected is batch_rejected, not bad_answer
  | 'no-depth-limit'
  | 'unicode-white-space' // trims U+00A0 (and a second BOM) around the JSON
  | 'refuses-big-numbers' // a number past the double range anywhere is not JSON (a parser with exact integers and a size limit)
  | 'retries-600' // every status from 500 up is retried
  | 'refund-ignores-token' // a 200 accepted about any token counts
  | 'refund-trusts-fields' // the refund record's fields are not checked (amount as a number, '5.00')
  | 'refund-any-4xx-rejects' // a 400 or 415 is a refusal of the refund
  | 'refund-needs-no-reason'; // a 422 without reason or code is rejected with 'HTTP 422'

type Obj = Record<string, unknown>;
class Bad extends Error {}
class Rejected extends Error {}

function port(m?: Mistake) {
  const json = (b: Uint8Array): Obj => {
    let bytes = b;
    if (m === 'refuses-bom' && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) throw new Bad();
    if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) bytes = b.subarray(3);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: m !== 'lenient-utf8', ignoreBOM: true }).decode(bytes);
    } catch {
      throw new Bad();
    }
    if (m === 'unicode-white-space') text = text.replace(/^[\s\ufeff]+|[\s\ufeff]+$/g, '');
    if (m === 'refuses-big-numbers' && /[0-9]{309}/.test(text)) throw new Bad();
    if (m !== 'no-depth-limit') {
      let depth = 0;
      let deepest = 0;
      let inString = false;
      for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (inString) {
          if (ch === '\\') i++;
          else if (ch === '"') inString = false;
        } else if (ch === '"') inString = true;
        else if (ch === '[' || ch === '{') deepest = Math.max(deepest, ++depth);
        else if (ch === ']' || ch === '}') depth--;
      }
      if (deepest > 32) throw new Bad();
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new Bad();
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Bad();
    return v as Obj;
  };
  const statusClass = (s: number) => {
    if ((s >= 500 && (s <= 599 || m === 'retries-600')) || s === 429 || (s === 408 && m !== 'retries-no-408') || (m === 'retries-every-4xx' && s >= 400 && s < 500)) return 'retry';
    if (s >= 300 && s < 400 && (s !== 304 || m === 'follows-304')) return 'redirect';
    return 'answer';
  };
  const delay = (k: number, base: number, max: number) => (m === 'no-cap' ? base * 2 ** (k - 1) : Math.min(max, base * 2 ** (m === 'exponent-from-k' ? k : k - 1)));
  const held = (status: number, body: Uint8Array, readerId: number, journalId: string, exported: number, lasts?: number[], heads?: string[]): number => {
    if (m === 'any-2xx-readers' ? status < 200 || status > 299 : status !== 200) throw new Bad();
    const a = json(body);
    if (a.readerId !== readerId || !Array.isArray(a.journals)) throw new Bad();
    let h = 0;
    let last = 0;
    let head: string | undefined;
    const seen = new Set<string>();
    for (const j of a.journals as unknown[]) {
      if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Bad();
      const x = j as Obj;
      const mine = typeof x.journalId === 'string' && (m === 'journal-id-any-case' ? x.journalId.toLowerCase() === journalId : x.journalId === journalId);
      if (m === 'checks-own-journal-only' && !mine) continue;
      if (typeof x.journalId !== 'string' || !(m === 'journal-id-any-case' ? /^[0-9a-fA-F]{16}$/ : /^[0-9a-f]{16}$/).test(x.journalId)) throw new Bad();
      const ok = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
      if (!ok(x.batchSeq) || !ok(x.lastSeq)) throw new Bad();
      if (x.head !== undefined && (typeof x.head !== 'string' || !/^[0-9a-f]{64}$/.test(x.head))) throw new Bad();
      if (seen.has(x.journalId) && m !== 'journals-may-repeat') throw new Bad();
      seen.add(x.journalId);
      if (mine) {
        h = x.batchSeq as number;
        last = x.lastSeq as number;
        head = x.head as string | undefined;
      }
    }
    if (h > exported) throw new Bad();
    if (m !== 'ignores-last-seq' && lasts && h > 0 && lasts[h - 1] !== last) throw new Bad();
    if (m !== 'ignores-head' && heads && h > 0 && head !== undefined && heads[h - 1] !== head) throw new Bad();
    return h;
  };
  const batch = (status: number, body: Uint8Array, sent: { readerId: number; journalId: string; batchSeq: number }): string => {
    let a: Obj;
    try {
      a = json(body);
    } catch (e) {
      if (m === 'status-before-body' && status !== 200) throw new Rejected(`HTTP ${status}`);
      throw e;
    }
    const delivers = m === 'any-2xx-delivers' ? status >= 200 && status <= 299 : status === 200;
    if (delivers) {
      if (m === 'accepts-rejected-200' && a.outcome === 'rejected') throw new Rejected(String(a.reason));
      const same = a.readerId === sent.readerId && a.journalId === sent.journalId && (m === 'ignores-batch-seq' || a.batchSeq === sent.batchSeq);
      if ((a.outcome !== 'ingested' && a.outcome !== 'duplicate') || !same) throw new Bad();
      const n = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? v : 0);
      return `delivered ${a.outcome} entries ${n(a.entries)} doubleSpends ${n(a.doubleSpends)}`;
    }
    const err = a.error !== null && typeof a.error === 'object' && !Array.isArray(a.error) ? (a.error as Obj) : {};
    const code = typeof err.code === 'string' && err.code !== '' ? err.code : undefined;
    const reason = m === 'reason-any-type' && a.reason !== undefined ? String(a.reason) : typeof a.reason === 'string' && a.reason !== '' ? a.reason : undefined;
    throw new Rejected(m === 'error-before-reason' ? (code ?? reason ?? `HTTP ${status}`) : (reason ?? code ?? `HTTP ${status}`));
  };
  const refund = (status: number, body: Uint8Array, tokenHash: string): string => {
    const a = json(body);
    const o = (v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
    if (status === 200) {
      if (a.outcome !== 'accepted' && a.outcome !== 'duplicate') throw new Bad();
      const r = o(a.refund);
      if (!r) throw new Bad();
      if (m !== 'refund-ignores-token' && (a.tokenHash !== tokenHash || r.tokenHash !== tokenHash)) throw new Bad();
      if (m !== 'refund-trusts-fields') {
        const dec = (v: unknown) => typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v);
        const uint = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
        if (!(typeof r.walletId === 'string' && /^[0-9a-f]{32}$/.test(r.walletId)) || !dec(r.amount) || !dec(r.charge) || typeof r.partial !== 'boolean') throw new Bad();
        if (![r.currency, r.operatorId, r.readerId, r.time, r.acceptedAt].every(uint)) throw new Bad();
      }
      return a.outcome as string;
    }
    if (status === 409 || status === 422 || status === 413 || (m === 'refund-any-4xx-rejects' && status >= 400 && status < 500)) {
      const err = o(a.error) ?? {};
      const t = (v: unknown): v is string => typeof v === 'string' && v !== '';
      const reason = t(a.reason) ? a.reason : t(err.code) ? err.code : m === 'refund-needs-no-reason' ? `HTTP ${status}` : undefined;
      if (reason === undefined) throw new Bad();
      return `rejected ${reason} message ${JSON.stringify(typeof err.message === 'string' ? err.message : '')}`;
    }
    throw new Bad();
  };
  return { statusClass, delay, held, batch, refund };
}

function failing(m?: Mistake): string[] {
  const p = port(m);
  const out: string[] = [];
  const verdict = (f: () => string) => {
    try {
      return f();
    } catch (e) {
      if (e instanceof Rejected) return `batch_rejected ${e.message}`;
      if (e instanceof Bad) return 'bad_answer';
      throw e;
    }
  };
  for (const s of file.statuses) if (p.statusClass(s.status) !== s.class) out.push(`status ${s.status}`);
  for (const d of file.delays) if (p.delay(d.k, d.baseDelayMs, d.maxDelayMs) !== d.delayMs) out.push(`delay ${d.k}`);
  for (const t of file.readers) {
    const want = t.result === 'held' ? `held ${t.held}` : 'bad_answer';
    if (verdict(() => `held ${p.held(t.status, fromHex(t.body), t.readerId, t.journalId, t.exported, t.batchLastSeqs, t.batchHeads)}`) !== want) out.push(`tcId ${t.tcId}`);
  }
  for (const t of file.batches) {
    const want = t.result === 'delivered' ? `delivered ${t.outcome} entries ${t.entries} doubleSpends ${t.doubleSpends}` : t.result === 'batch_rejected' ? `batch_rejected ${t.reason}` : 'bad_answer';
    if (verdict(() => p.batch(t.status, fromHex(t.body), t.sent)) !== want) out.push(`tcId ${t.tcId}`);
  }
  for (const t of file.refunds) {
    const want = t.result === 'rejected' ? `rejected ${t.reason} message ${JSON.stringify(t.message)}` : t.result;
    if (verdict(() => p.refund(t.status, fromHex(t.body), t.tokenHash)) !== want) out.push(`tcId ${t.tcId}`);
  }
  return out;
}

describe('sync answer vectors', () => {
  it('the reference (src/reader/sync-answers.ts) passes every case; the counts are the ones spec §8 gives', () => {
    expect(checkSyncVectorFile(file, NAME)).toEqual([]);
    expect(file.readers.length + file.batches.length + file.refunds.length).toBe(file.numberOfTests);
    const flat = readFileSync('spec/clearing-api.md', 'utf8').replace(/\s+/g, ' ');
    for (const [k, n] of [['readers', file.readers.length], ['batches', file.batches.length], ['statuses', file.statuses.length], ['delays', file.delays.length], ['refunds', file.refunds.length]] as const) expect(flat.includes(`\`${k}\` (${n})`), `spec/clearing-api.md §8 gives \`${k}\` (${n})`).toBe(true);
    // Every verdict occurs, and every class.
    expect(new Set(file.readers.map((t) => t.result))).toEqual(new Set(['held', 'bad_answer']));
    expect(new Set(file.batches.map((t) => t.result))).toEqual(new Set(['delivered', 'batch_rejected', 'bad_answer']));
    expect(new Set(file.statuses.map((t) => t.class))).toEqual(new Set(['retry', 'redirect', 'answer']));
    expect(new Set(file.refunds.map((t) => t.result))).toEqual(new Set(['accepted', 'duplicate', 'rejected', 'bad_answer']));
  });

  it('a port written from §8 passes every case; each mistake a port makes fails at least one', () => {
    expect(failing()).toEqual([]);
    const mistakes: Mistake[] = [
      'lenient-utf8', 'refuses-bom', 'retries-every-4xx', 'retries-no-408', 'follows-304', 'exponent-from-k', 'no-cap', 'any-2xx-readers', 'ignores-last-seq', 'ignores-head', 'checks-own-journal-only',
      'journals-may-repeat', 'journal-id-any-case', 'any-2xx-delivers', 'ignores-batch-seq', 'status-before-body', 'reason-any-type', 'error-before-reason', 'accepts-rejected-200',
      'no-depth-limit', 'unicode-white-space', 'refuses-big-numbers', 'retries-600', 'refund-ignores-token', 'refund-trusts-fields', 'refund-any-4xx-rejects', 'refund-needs-no-reason',
    ];
    for (const m of mistakes) expect(failing(m), m).not.toEqual([]);
  });

  it('property: any status and body give a verdict or a sync.* error, never another exception; a delivery or acceptance names what was sent', () => {
    const H = 'ab'.repeat(32);
    const J = 'a1b2c3d4e5f60718';
    const record = { tokenHash: H, walletId: '00'.repeat(16), amount: '1', currency: 344, operatorId: 1, readerId: 2, time: 3, acceptedAt: 4, charge: '1', partial: false };
    const near = fc.oneof(
      fc.jsonValue(),
      fc.record({ outcome: fc.constantFrom('accepted', 'duplicate', 'ingested', 'rejected', 7), tokenHash: fc.constantFrom(H, 'cd'.repeat(32), 5), readerId: fc.constantFrom(1001, 1002, '1001'), journalId: fc.constantFrom(J, 'x'), batchSeq: fc.constantFrom(3, 4, 3.5), reason: fc.jsonValue(), error: fc.jsonValue(), journals: fc.jsonValue(), refund: fc.oneof(fc.constant(record), fc.jsonValue(), fc.dictionary(fc.constantFrom(...Object.keys(record)), fc.jsonValue()).map((d) => ({ ...record, ...d }))) }, { requiredKeys: [] }),
    );
    const bodies = fc.oneof(near.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'null')), fc.uint8Array({ maxLength: 64 }));
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 999 }), bodies, (status, body) => {
        const judge = (f: () => unknown) => {
          try {
            return f();
          } catch (e) {
            expect(e).toBeInstanceOf(OffpayError);
            expect((e as OffpayError).code).toMatch(/^sync\.(bad_answer|batch_rejected)$/);
            return undefined;
          }
        };
        const r = judge(() => refundAnswer(status, body, H)) as ReturnType<typeof refundAnswer> | undefined;
        if (r && r.outcome !== 'rejected') expect([status, r.refund.tokenHash]).toEqual([200, H]);
        if (r && r.outcome === 'rejected') expect(r.reason).not.toBe('');
        const b = judge(() => batchAnswer(status, body, { readerId: 1001, journalId: J, batchSeq: 3 }));
        if (b) expect(status).toBe(200);
        const h = judge(() => heldFromAnswer(status, body, 1001, J));
        if (h !== undefined) expect(Number.isSafeInteger(h)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('a tampered file is caught, and a malformed one is vectors.bad_file', () => {
    const copy = structuredClone(file);
    copy.readers[0]!.held = 99;
    copy.numberOfTests -= 1;
    expect(checkSyncVectorFile(copy, NAME).map((p) => p.at ?? 'file')).toEqual(['file', `tcId ${copy.readers[0]!.tcId}`]);
    const o = JSON.parse(readFileSync(NAME, 'utf8'));
    for (const v of ['{}', '[]', JSON.stringify({ ...o, statuses: [{ status: 200, class: 'ok' }] }), JSON.stringify({ ...o, delays: [{ k: 1 }] }), JSON.stringify({ ...o, batches: [{ ...o.batches[0], result: 'delivered', outcome: undefined }] })]) {
      expect(() => parseSyncVectorFile(v, 'f.json'), v.slice(0, 40)).toThrow(expect.objectContaining({ code: 'vectors.bad_file' }));
    }
  });
});
