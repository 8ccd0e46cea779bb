/**
 * `reader sync` over a plain http URL off this machine (spec/clearing-api.md §8 step 1, spec/reader.md §9.3): the
 * answers are unsigned, so the count of batches clearing holds (what a prune deletes the rows of) is taken only
 * when it lowers the one held. Before this, a man in the middle who dropped the uploads and answered with their
 * heads made the reader record them as delivered, and a standalone `offpay reader prune` then deleted sales that
 * clearing never received.
 *
 * The "remote" clearing is a real one on loopback reached through a fetch that rewrites the URL's host, so the
 * reader sees a plain http (or https) URL of another machine.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { syncReader } from '../../src/reader/sync.js';
import { completedSale, startClearingService } from './clearing-service.js';
import { NOW, makeIssuer, makeReader, makeWallet } from './helpers.js';

const issuer = makeIssuer('sync-plain-http');
const READER_ID = 4811;
const vendId = makeReader(issuer, 'sync-plain-http', READER_ID, 'vending');
const wallet = makeWallet(issuer, 'sync-plain-http', 'w');
const DAY = 86_400;

/** Run `f` with a clearing service on loopback and a vending reader, both on the clock `at` (set it to move time). */
async function withService(f: (svc: Awaited<ReturnType<typeof startClearingService>>, r: Reader, at: { now: number }) => Promise<void>): Promise<void> {
  const at = { now: NOW };
  const svc = await startClearingService(issuer, () => at.now);
  try {
    await f(svc, vendingReader(() => at.now), at);
  } finally {
    await svc.close();
  }
}

function vendingReader(clock: () => number): Reader {
  const r = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock });
  r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes, NOW);
  return r;
}

/**
 * A fetch that sends every request for `host` to the loopback clearing at `to`; `answer(path, method)` may answer
 * instead (a man in the middle). Records the requests it forwarded.
 */
function relay(to: string, answer?: (path: string, method: string) => Response | undefined) {
  const forwarded: string[] = [];
  const f: typeof fetch = async (input, init) => {
    const u = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = init?.method ?? 'GET';
    const mine = answer?.(u.pathname, method);
    if (mine) return mine;
    forwarded.push(`${method} ${u.pathname}`);
    return fetch(`${to}${u.pathname}${u.search}`, init);
  };
  return { fetch: f, forwarded };
}

/** An answer to GET /v1/readers/{id} saying clearing holds batches 1..batchSeq of `r`'s journal, ending at `lastSeq` with r's own chain hash there. */
const heldAnswer = (r: Reader, batchSeq: number, lastSeq: number) =>
  Response.json({ readerId: READER_ID, journals: [{ journalId: toHex(r.journalId), batchSeq, lastSeq, head: toHex(r.chainHashAt(lastSeq)!) }] });
const isHeldQuery = (path: string, method: string) => method === 'GET' && path.startsWith('/v1/readers/');

describe('reader sync over plain http off this machine', () => {
  it('an honest clearing: the batches go up, but the count a prune uses is not taken from the unsigned answer', async () => {
    await withService(async (svc, r, at) => {
      for (let i = 1; i <= 3; i++) await completedSale(r, wallet, i, NOW + i);
      at.now = NOW + 100;
      const { fetch: f } = relay(svc.url);
      const res = await syncReader(r, { url: 'http://clearing.example.net:8080', fetch: f, issuerKeys: issuer.keySet(), now: at.now, attempts: 1 });
      expect(res.sent.map((s) => s.batchSeq)).toEqual([1]);
      expect(res.delivered).toEqual({ batches: 0, authenticated: false });
      expect(r.deliveredBatches()).toBe(0);
      expect((await svc.clearing.heldBatches(READER_ID)).map((j) => j.batchSeq)).toEqual([1]);
      // A prune after it forgets old records but keeps every journal row (nothing counted as delivered).
      at.now = NOW + 10 * DAY;
      r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 2, issuedAt: at.now, walletIds: [] }).bytes, at.now);
      const p = r.prune({ now: at.now });
      expect(p.deliveredBatches).toBe(0);
      expect(p.journal).toBe(0);
      expect(r.exportBatch(1).bytes.length).toBeGreaterThan(0);

      // The same clearing over https (the fetch still relays): the count is taken.
      const res2 = await syncReader(r, { url: 'https://clearing.example.net', fetch: relay(svc.url).fetch, issuerKeys: issuer.keySet(), now: at.now, attempts: 1 });
      expect(res2.delivered).toEqual({ batches: 1, authenticated: true });
      expect(r.deliveredBatches()).toBe(1);
      // And over a loopback http URL (the helper's own).
      const res3 = await syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now: at.now, attempts: 1 });
      expect(res3.delivered).toEqual({ batches: 1, authenticated: true });
    });
  });

  it('a man in the middle drops the upload and answers that clearing holds it: the reader does not count it, a prune keeps its rows', async () => {
    await withService(async (svc, r, at) => {
      for (let i = 1; i <= 3; i++) await completedSale(r, wallet, i, NOW + i);
      at.now = NOW + 100;
      const batch = r.export(at.now).batches.at(-1)!.batch; // exported before the sync (an earlier, failed run)
      const mitm = relay(svc.url, (path, method) => {
        if (isHeldQuery(path, method)) return heldAnswer(r, 1, batch.firstSeq + batch.entries.length - 1);
        if (method === 'POST') return new Response('dropped', { status: 503 });
        return undefined;
      });
      const res = await syncReader(r, { url: 'http://clearing.example.net', fetch: mitm.fetch, issuerKeys: issuer.keySet(), now: at.now, attempts: 1 });
      expect(res.sent).toEqual([]); // it believed clearing held batch 1: nothing to send
      expect(res.delivered).toEqual({ batches: 0, authenticated: false });
      expect(r.deliveredBatches()).toBe(0);
      expect(await svc.clearing.heldBatches(READER_ID)).toEqual([]); // clearing never got it
      at.now = NOW + 10 * DAY;
      r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 2, issuedAt: at.now, walletIds: [] }).bytes, at.now);
      expect(r.prune({ now: at.now }).journal).toBe(0);
      // The next sync over an honest channel sends it.
      const honest = await syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now: at.now, attempts: 1 });
      expect(honest.sent.map((s) => s.batchSeq)).toEqual([1]);
      expect(r.deliveredBatches()).toBe(1);

      // Over https the same lie would be taken (the channel is what is trusted): shown here so the rule is exact.
      const r2 = vendingReader(() => at.now);
      r2.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 2, issuedAt: at.now, walletIds: [] }).bytes, at.now);
      await completedSale(r2, wallet, 9, at.now);
      r2.export(at.now);
      const tls = relay(svc.url, (path, method) => (isHeldQuery(path, method) ? heldAnswer(r2, 1, 1) : undefined));
      expect((await syncReader(r2, { url: 'https://clearing.example.net', fetch: tls.fetch, issuerKeys: issuer.keySet(), now: at.now, attempts: 1 })).delivered).toEqual({ batches: 1, authenticated: true });
    });
  });

  it('a lower count is taken over plain http too (a clearing restored from a backup): a prune then keeps more', async () => {
    await withService(async (svc, r, at) => {
      await completedSale(r, wallet, 1, NOW + 1);
      at.now = NOW + 100;
      await syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now: at.now, attempts: 1 });
      await completedSale(r, wallet, 2, at.now + 1);
      await syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now: at.now + 2, attempts: 1 });
      expect(r.deliveredBatches()).toBe(2);
      // Clearing answers over plain http that it holds batch 1 only (true or not, fewer is safe to take).
      const low = relay(svc.url, (path, method) =>
        isHeldQuery(path, method) ? heldAnswer(r, 1, r.exportedBatchRange(1).lastSeq) : method === 'POST' ? new Response('down', { status: 503 }) : undefined,
      );
      const res = await syncReader(r, { url: 'http://clearing.example.net', fetch: low.fetch, issuerKeys: issuer.keySet(), now: at.now + 3, attempts: 1 }).catch((e: unknown) => e);
      expect((res as { code?: string }).code).toBe('sync.unreachable'); // batch 2's upload failed
      expect(r.deliveredBatches()).toBe(1);
    });
  });
});
