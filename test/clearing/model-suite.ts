/**
 * Double-spend detection against a model. Random journals from three gates of one operator (accepts, tap-ins,
 * tap-outs, conflicts, voids, and sales whose charged value disagrees with the token), cut into batches,
 * re-exported with overlaps and sent twice, are ingested in a random order. The model judges each new entry
 * in ingest order against everything judged before it, which is what clearing must report: every pair once,
 * the earlier entry first, and each blocked wallet with the first reason found.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ClearingOptions } from '../../src/clearing/index.js';
import { toHex, walletIdOf, tokenHash } from '../../src/index.js';
import type { Clearing } from '../../src/clearing/index.js';
import { chainHash, createBatch, encodeEntry, genesisHash, JournalKind, type JournalEntry, type JournalKindName } from '../../src/reader/index.js';
import { NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

const issuer = makeIssuer('clearing-model');
const OPERATOR = 300;
const READERS = [501, 502, 503].map((id) => makeReader(issuer, 'model', id, 'transit', OPERATOR));
const JOURNALS = [1, 2, 3].map((i) => new Uint8Array(8).fill(i));
const wallets = [0, 1, 2].map((i) => makeWallet(issuer, 'model', `w${i}`));
/** 3 wallets x counters 1..2 x 3 variants (different amounts, so up to three token bytes for one counter). */
const TOKENS = wallets.flatMap((w, wi) =>
  [1, 2].flatMap((counter) =>
    [0, 1, 2].map((variant) => {
      const amount = 100 + 10 * counter + variant;
      const bytes = signToken(w, { payee: OPERATOR, amount, counter });
      return { bytes, hash: toHex(tokenHash(bytes)), wallet: toHex(walletIdOf(w.cert.walletPublicKey)), walletIndex: wi, counter, amount };
    }),
  ),
);
type Tok = (typeof TOKENS)[number];

interface Step {
  kind: 'accept' | 'tap_in' | 'tap_out' | 'conflict' | 'void' | 'bad_value';
  token: number;
}
const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom('accept', 'accept', 'tap_in', 'tap_out', 'conflict', 'void', 'bad_value'),
  token: fc.nat(TOKENS.length - 1),
});

function entryOf(seq: number, s: Step): JournalEntry {
  const t = TOKENS[s.token]!;
  const kind: JournalKindName = s.kind === 'bad_value' ? 'accept' : s.kind;
  const data = s.kind === 'void' ? tokenHash(t.bytes) : t.bytes;
  const value = s.kind === 'bad_value' ? t.amount + 1 : s.kind === 'conflict' ? 6 : t.amount;
  return { seq, kind, time: NOW, data, value };
}

interface Built {
  reader: number;
  /** First seq and number of entries. */
  from: number;
  count: number;
  bytes: Uint8Array;
}

/** Batches of one reader's journal: consecutive cuts, plus an overlapping re-export and an exact duplicate. */
function batches(readerIndex: number, steps: Step[], cuts: number[], overlap: boolean): Built[] {
  const r = READERS[readerIndex]!;
  const entries = steps.map((s, i) => entryOf(i + 1, s));
  const heads = [genesisHash(r.cert.readerId, JOURNALS[readerIndex]!)];
  for (const e of entries) heads.push(chainHash(heads[heads.length - 1]!, encodeEntry(e)));
  const bounds = [...new Set([0, ...cuts.map((c) => c % (entries.length + 1)), entries.length])].sort((a, b) => a - b);
  const out: Built[] = [];
  let seqNo = 1;
  const make = (a: number, b: number) => {
    const bytes = createBatch(r, {
      readerCert: r.cert, journalId: JOURNALS[readerIndex]!, batchSeq: seqNo++, firstSeq: a + 1, prevHead: heads[a]!, head: heads[b]!, entries: entries.slice(a, b), createdAt: NOW + 60,
    }).bytes;
    out.push({ reader: r.cert.readerId, from: a + 1, count: b - a, bytes });
  };
  for (let i = 0; i + 1 < bounds.length; i++) if (bounds[i]! < bounds[i + 1]!) make(bounds[i]!, bounds[i + 1]!);
  if (overlap && entries.length > 1) make(Math.floor(entries.length / 3), entries.length);
  if (out.length > 0) out.push({ ...out[0]! });
  return out;
}

interface Judged {
  reader: number;
  seq: number;
  kind: number;
  tok: Tok;
}

/** The model: judge new entries one by one in ingest order. */
function model(order: Built[], journals: Step[][]): { pairs: string[]; faults: string[]; blocked: Map<string, string> } {
  const held = new Set<string>();
  const seen = new Set<string>();
  const judged: Judged[] = [];
  const pairs: string[] = [];
  const faults: string[] = [];
  /** Finding keys held. */
  const keys = new Set<string>();
  const blocked = new Map<string, string>();
  const block = (w: string, why: string) => {
    if (!blocked.has(w)) blocked.set(w, why);
  };
  for (const b of order) {
    const key = toHex(b.bytes);
    if (seen.has(key)) continue;
    seen.add(key);
    for (const e of batchEntries(b, journals)) {
      const id = `${b.reader}:${e.seq}`;
      if (held.has(id)) continue;
      held.add(id);
      const s = e.step;
      if (s.kind === 'void' || s.kind === 'bad_value') continue; // no token, or an invalid one: not indexed
      const tok = TOKENS[s.token]!;
      const kind = JournalKind[s.kind];
      const x: Judged = { reader: b.reader, seq: e.seq, kind, tok };
      // Per pair of entries, in the order the old rule judged them; a finding is kept only for the first pair
      // of its key: counter_reuse and same_token_twice per (wallet, counter), token_listed_twice per (reader,
      // token). The partner of a new entry is the first one in (reader id, journal id, seq) order, as held.
      const reuse: string[] = [];
      const twice: string[] = [];
      const mates = [...judged].sort((p, q) => p.reader - q.reader || p.seq - q.seq);
      for (const o of mates) {
        if (o.tok.wallet !== tok.wallet || o.tok.counter !== tok.counter) continue;
        if (o.tok.hash !== tok.hash) {
          if (kind !== JournalKind.tap_out && o.kind !== JournalKind.tap_out) reuse.push(`counter_reuse|${o.reader}:${o.seq}|${x.reader}:${x.seq}`);
        } else if ((kind === JournalKind.accept || kind === JournalKind.tap_in) && (o.kind === JournalKind.accept || o.kind === JournalKind.tap_in)) {
          // One reader listing a token twice is the reader's fault (settled once, wallet not blocked).
          if (o.reader === x.reader) {
            const k = `${o.reader}|${tok.hash}`;
            if (!keys.has(k)) {
              keys.add(k);
              faults.push(`token_listed_twice|${o.reader}:${o.seq}|${x.reader}:${x.seq}`);
            }
          } else if (!(kind === JournalKind.tap_in && o.kind === JournalKind.tap_in)) twice.push(`same_token_twice|${o.reader}:${o.seq}|${x.reader}:${x.seq}`);
        }
      }
      // The one-way rule: two tap-ins alone are not the customer's; with tap-outs at two readers they are, the pair
      // being the first tap-in and the first at another reader (spec/clearing.md §4 step 10).
      if (twice.length === 0 && (kind === JournalKind.tap_in || kind === JournalKind.tap_out)) {
        const same = [...judged, x].filter((o) => o.tok.wallet === tok.wallet && o.tok.counter === tok.counter && o.tok.hash === tok.hash);
        const outs = new Set(same.filter((o) => o.kind === JournalKind.tap_out).map((o) => o.reader));
        const ins = same.filter((o) => o.kind === JournalKind.tap_in).sort((p, q) => p.reader - q.reader || p.seq - q.seq);
        const second = ins.find((o) => o.reader !== ins[0]!.reader);
        if (outs.size >= 2 && second) twice.push(`same_token_twice|${ins[0]!.reader}:${ins[0]!.seq}|${second.reader}:${second.seq}`);
      }
      for (const [list, what] of [[reuse, 'counter_reuse'], [twice, 'same_token_twice']] as const) {
        const k = `${what}|${tok.wallet}|${tok.counter}`;
        if (list.length === 0 || keys.has(k)) continue;
        keys.add(k);
        pairs.push(list[0]!);
        block(tok.wallet, what);
      }
      judged.push(x);
    }
  }
  return { pairs: pairs.sort(), faults: faults.sort(), blocked };
}

/** The entries a built batch covers, with the steps they came from. */
function batchEntries(b: Built, journals: Step[][]): { seq: number; step: Step }[] {
  const steps = journals[READERS.findIndex((r) => r.cert.readerId === b.reader)]!;
  return Array.from({ length: b.count }, (_, i) => ({ seq: b.from + i, step: steps[b.from + i - 1]! }));
}

/** Opens a clearing on an empty database of the engine under test (store-suite.ts). */
export type OpenFresh = (o: ClearingOptions) => Promise<Clearing>;

/** The model test over one engine: `fresh` opens a clearing on a new, empty database each time. */
export function modelSuite(fresh: OpenFresh, numRuns = Number(process.env.OFFPAY_MODEL_RUNS ?? 60)): void {
  describe('clearing double-spend detection agrees with the sequential model', () => {
    it('for random journals, batch cuts, overlaps, duplicates and ingest orders', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(step, { minLength: 1, maxLength: 7 }), { minLength: 3, maxLength: 3 }),
          fc.array(fc.array(fc.nat(8), { maxLength: 2 }), { minLength: 3, maxLength: 3 }),
          fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
          fc.nat(),
          async (journals, cuts, overlaps, seed) => {
            const all = journals.flatMap((steps, i) => batches(i, steps, cuts[i]!, overlaps[i]!));
            // A seeded shuffle of the ingest order.
            let s = seed >>> 0;
            const order = [...all];
            for (let i = order.length - 1; i > 0; i--) {
              s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
              const j = s % (i + 1);
              [order[i], order[j]] = [order[j]!, order[i]!];
            }
            const c = await fresh({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600 });
            let reported = 0;
            for (const b of order) {
              const r = await c.ingest(b.bytes);
              expect(r.outcome).not.toBe('rejected');
              reported += r.doubleSpends;
            }
            const want = model(order, journals);
            const got = (await c.doubleSpends()).map((d) => `${d.kind}|${d.first.readerId}:${d.first.seq}|${d.second.readerId}:${d.second.seq}`).sort();
            expect(got).toEqual(want.pairs);
            expect(reported).toBe(want.pairs.length);
            const blocked = new Map((await c.blocklistEntries()).map((r) => [r.walletId, r.reason]));
            expect(blocked).toEqual(want.blocked);
            const faults = (await c.readerFaults()).map((f) => `${f.kind}|${f.first.readerId}:${f.first.seq}|${f.second.readerId}:${f.second.seq}`).sort();
            expect(faults).toEqual(want.faults);
            // Each distinct token settles once: a token with a valid sale not voided at that reader, or (no such
            // sale) with a tap-out. Listing it twice, at one reader or at several, does not pay twice.
            const voided = new Set<string>();
            journals.forEach((steps, ri) => steps.forEach((st) => st.kind === 'void' && voided.add(`${READERS[ri]!.cert.readerId}|${TOKENS[st.token]!.hash}`)));
            const settled = new Set<string>();
            journals.forEach((steps, ri) =>
              steps.forEach((st) => {
                const t = TOKENS[st.token]!;
                if ((st.kind === 'accept' || st.kind === 'tap_in') && !voided.has(`${READERS[ri]!.cert.readerId}|${t.hash}`)) settled.add(t.hash);
                if (st.kind === 'tap_out') settled.add(t.hash);
              }),
            );
            const held = await c.settle(true);
            expect(held.tokens.map((t) => t.tokenHash).sort()).toEqual([...settled].sort());
            expect((await c.settlement()).reduce((n, l) => n + l.count, 0)).toBe(settled.size);
            await c.close();
          },
        ),
        { numRuns, seed: 4242 },
      );
    });
  });
}

