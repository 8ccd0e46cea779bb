import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeIssuerKeySet, decodeReaderCert, fromHex, toHex } from '../../src/index.js';
import { MemoryReaderStore, Reader, type AcceptContext } from '../../src/reader/index.js';
import { generate } from '../../scripts/fixtures/reader.js';
import { validate } from './json-schema.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = join(ROOT, 'fixtures', 'scenarios');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'index.json' && f !== 'schema.json');
const schema = JSON.parse(readFileSync(join(DIR, 'schema.json'), 'utf8')) as Record<string, unknown>;

interface StepJson {
  step: number;
  action: 'accept' | 'void' | 'complete' | 'load_blocklist' | 'tap_out' | 'open_request' | 'close_request' | 'export' | 'export_batch' | 'prune';
  batchSeq?: number;
  retainSeconds?: number;
  deliveredBatches?: number;
  now?: number;
  token?: string;
  tokenHash?: string;
  fare?: number;
  currency?: number;
  amount?: number;
  challenge?: string;
  code?: true;
  paymentCode?: string;
  request?: string;
  blocklist?: string;
  context?: { request?: { amount: number; currency: number; challenge: string; time: number }; fare?: { amount: number; currency: number }; tapIn?: { maxFare: number; currency: number }; complete?: boolean };
  expect?: Record<string, unknown>;
}

/** Run `f`; a typed error becomes { error: code } (steps whose outcome is a refusal to act, exit 2 in the CLI). */
async function orError<T>(f: () => Promise<T> | T): Promise<T | { error: string }> {
  try {
    return await f();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code) throw e;
    return { error: code };
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'offpay-scen-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('reader scenario vectors', () => {
  it('there are scenarios for replay, window, limits, blocklist, stale limit, void/resume and transit', () => {
    expect(files.sort()).toEqual([
      'blocklist.json',
      'cert-expiry.json',
      'exit-allowance.json',
      'exit-blocklisted.json',
      'exit-required.json',
      'fare-evasion.json',
      'gate-once.json',
      'limits.json',
      'paycode.json',
      'price-shown.json',
      'prune.json',
      'replay.json',
      'stale-reduced-limit.json',
      'tap-out-refuse.json',
      'transit-order.json',
      'transit.json',
      'vend-once.json',
      'void-resume.json',
      'window.json',
    ]);
  });

  it.each(files)('%s follows fixtures/scenarios/schema.json', (file) => {
    expect(validate(schema, JSON.parse(readFileSync(join(DIR, file), 'utf8')))).toEqual([]);
  });

  it('the schema validator finds what it should (a test of the test)', () => {
    const s = JSON.parse(readFileSync(join(DIR, 'replay.json'), 'utf8')) as Record<string, unknown> & { steps: Record<string, unknown>[]; reader: Record<string, unknown> };
    expect(validate(schema, { ...s, extra: 1 })).toEqual(['$: unexpected key extra']);
    s.steps[0]!.action = 'pay';
    (s.reader as Record<string, unknown>).journalId = 'abc';
    const problems = validate(schema, s);
    expect(problems.some((p) => p.startsWith('$.steps[0]'))).toBe(true);
    expect(problems).toContain('$.reader.journalId: does not match ^[0-9a-f]{16}$');
  });

  it.each(files)('%s replays from its JSON alone', async (file) => {
    const s = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as {
      issuerKeySet: string;
      readerClock: number;
      reader: { cert: string; secretKey: string; journalId: string };
      config: { window: number; limits: Record<string, object>; acceptUnlistedCurrencies: boolean; profile: object };
      initialBlocklist: string | null;
      steps: StepJson[];
      journal: { entries: { seq: number; entry: string; hash: string }[]; head: { seq: number; hash: string } };
    };
    let now = s.readerClock;
    const { name: _n, ...profile } = s.config.profile as { name: string };
    const reader = new Reader({
      cert: decodeReaderCert(fromHex(s.reader.cert)),
      secretKey: fromHex(s.reader.secretKey),
      issuerKeys: decodeIssuerKeySet(fromHex(s.issuerKeySet)),
      store: new MemoryReaderStore(),
      window: s.config.window,
      limits: Object.fromEntries(Object.entries(s.config.limits).map(([k, v]) => [Number(k), v])),
      acceptUnlistedCurrencies: s.config.acceptUnlistedCurrencies,
      profile,
      clock: () => now,
      journalId: fromHex(s.reader.journalId),
    });
    if (s.initialBlocklist) reader.loadBlocklist(fromHex(s.initialBlocklist));
    for (const st of s.steps) {
      now = st.now ?? now;
      const where = `step ${st.step}`;
      if (st.action === 'open_request') {
        const r = reader.openRequest({ amount: st.amount!, currency: st.currency!, now: st.now!, challenge: fromHex(st.challenge!), ...(st.code ? { code: true } : {}) });
        expect(toHex(r.bytes), where).toBe(st.request);
        expect(r.paymentCode, where).toBe(st.paymentCode);
        continue;
      }
      if (st.action === 'close_request') {
        reader.closeRequest();
        continue;
      }
      if (st.action === 'export') {
        const r = await orError(() => reader.export(st.now!));
        const got = 'error' in r ? r : { batchSeq: r.batch.batchSeq, firstSeq: r.batch.firstSeq, entries: r.batch.entries.length, batch: toHex(r.bytes) };
        expect(got, where).toEqual(st.expect);
        continue;
      }
      if (st.action === 'export_batch') {
        const r = await orError(() => reader.exportBatch(st.batchSeq!));
        expect('error' in r ? r : { batch: toHex(r.bytes) }, where).toEqual(st.expect);
        continue;
      }
      if (st.action === 'prune') {
        const r = await orError(() => reader.prune({ now: st.now!, retainSeconds: st.retainSeconds!, deliveredBatches: st.deliveredBatches! }));
        const got = 'error' in r ? r : { journalBefore: r.journalBefore, journal: r.journal, tokens: r.tokens, totals: r.totals, tapOuts: r.tapOuts };
        expect(got, where).toEqual(st.expect);
        continue;
      }
      if (st.action === 'accept' || st.action === 'tap_out') {
        const c = st.context ?? {};
        const ctx: AcceptContext = { now: st.now! };
        if (c.request) ctx.request = { ...c.request, challenge: fromHex(c.request.challenge) };
        if (c.fare) ctx.fare = c.fare;
        if (c.tapIn) ctx.tapIn = c.tapIn;
        if (c.complete) ctx.complete = true;
        const v = await orError(() => (st.action === 'accept' ? reader.accept(fromHex(st.token!), ctx) : reader.tapOut(fromHex(st.token!), { fare: st.fare!, currency: st.currency!, now: st.now! })));
        if ('error' in v) {
          expect(v, where).toEqual(st.expect);
          continue;
        }
        expect(toHex(v.tokenHash), where).toBe(st.tokenHash);
        const got = v.accepted
          ? { accepted: true, status: v.status, code: 0, charged: v.charged, amount: v.amount, journalSeq: v.seq, ...(v.request ? { request: toHex(v.request.challenge) } : {}) }
          : { accepted: false, status: 'rejected', reason: v.reason, code: v.code, ...(v.seq !== undefined ? { journalSeq: v.seq } : {}) };
        expect(got, where).toEqual(st.expect);
      } else if (st.action === 'void') {
        const v = reader.void(fromHex(st.tokenHash!), st.now);
        expect(v.ok ? { ok: true, amount: v.amount, journalSeq: v.seq } : { ok: false, reason: v.reason, code: v.code }, where).toEqual(st.expect);
      } else if (st.action === 'complete') {
        expect({ ok: reader.complete(fromHex(st.tokenHash!)) }, where).toEqual(st.expect);
      } else {
        let got: Record<string, unknown> = { ok: true };
        try {
          reader.loadBlocklist(fromHex(st.blocklist!), st.now);
        } catch (e) {
          got = { ok: false, error: (e as { code: string }).code };
        }
        expect(got, where).toEqual(st.expect);
      }
    }
    expect(reader.store.journal(1).map((r) => ({ seq: r.seq, entry: toHex(r.bytes), hash: toHex(r.hash) }))).toEqual(s.journal.entries);
    const head = reader.head();
    expect({ seq: head.seq, hash: toHex(head.hash) }).toEqual(s.journal.head);
    expect(reader.verifyJournal().ok).toBe(true);
  });

  it('regenerates byte for byte', async () => {
    const paths = await generate(tmp);
    expect(paths.length).toBe(files.length + 1);
    for (const p of paths) {
      const name = p.split('/').pop()!;
      expect(readFileSync(p, 'utf8'), name).toBe(readFileSync(join(DIR, name), 'utf8'));
    }
  });
});
