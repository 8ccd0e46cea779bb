/**
 * Invariant I11 (spec/reader.md §9.3): pruning forgets only what no rule of the reader can use. A model-based
 * differential test: two readers of one identity and journal id (a vending machine and a transit gate each) take
 * the same random operations (payments, clones, replays after random delays, completes, voids, tap-ins, tokens
 * tapped in elsewhere, re-presented tap-ins, tap-outs, clock jumps of up to days forwards and two minutes back,
 * exports, re-exports); one of them is also pruned at random moments (with the shortest retention its profile
 * allows, or longer) after recording that clearing holds what it exported. After every step:
 *  - every operation has the same outcome at both: accepted or not, with the same status, charge, amount and
 *    journal entry; a refusal may differ only where the pruned reader no longer holds the token's record, and then
 *    it comes from a check made before any state (the token's age, its request), which records nothing;
 *  - a void has the same outcome (a refusal of a forgotten token: unknown_token for void_window_passed); a complete
 *    differs only for a sale forgotten while pending;
 *  - the pruned reader's journal is the other's from its oldest row kept, its chain verifies from there, and every
 *    batch both export is byte for byte the same; a re-export at the pruned reader is the same batch or
 *    `reader.batch_pruned`, and only for a batch clearing was said to hold.
 * A reader that never prunes is the model: model.test.ts checks the money invariants on it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffpayError, toHex, tokenHash } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, pruneRetainMinimum, Reader, type ReaderVerdict } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from './helpers.js';

const issuer = makeIssuer('prune-model');
const vendId = makeReader(issuer, 'prune-model', 4401, 'vending');
const gateId = makeReader(issuer, 'prune-model', 5401, 'transit', 300);
const wallets = [makeWallet(issuer, 'prune-model', 'a'), makeWallet(issuer, 'prune-model', 'b')];
const JOURNAL_V = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const JOURNAL_G = Uint8Array.from([8, 7, 6, 5, 4, 3, 2, 1]);

type Cmd =
  | { k: 'request'; amount: number }
  | { k: 'pay'; w: number; clone: boolean }
  | { k: 'replay'; i: number }
  | { k: 'complete'; i: number }
  | { k: 'void'; i: number }
  | { k: 'clock'; dt: number }
  | { k: 'tapIn'; w: number; elsewhere: boolean; ahead: number }
  | { k: 'edge'; i: number; trip: boolean; back: number }
  | { k: 'reTap'; i: number }
  | { k: 'tapOut'; i: number; fare: number }
  | { k: 'deliver'; all: boolean }
  | { k: 'prune'; extra: number }
  | { k: 'reexport'; n: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('request' as const), amount: fc.integer({ min: 1, max: 5000 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('pay' as const), w: fc.nat(1), clone: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('replay' as const), i: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('complete' as const), i: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('void' as const), i: fc.nat(40) }) },
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('clock' as const), dt: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -120, max: 600 }) }, { weight: 2, arbitrary: fc.integer({ min: 3600, max: 3 * 86_400 }) }) }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('tapIn' as const), w: fc.nat(1), elsewhere: fc.boolean(), ahead: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60 })) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('edge' as const), i: fc.nat(40), trip: fc.boolean(), back: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reTap' as const), i: fc.nat(40) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('tapOut' as const), i: fc.nat(40), fare: fc.integer({ min: 1, max: 2000 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('deliver' as const), all: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('prune' as const), extra: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 * 86_400 })) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reexport' as const), n: fc.nat(20) }) },
);

type Outcome = { ok: true; status: string; charged: boolean; amount: number; seq: number } | { ok: false; reason: string } | { error: string };

async function outcome(f: () => Promise<ReaderVerdict>): Promise<Outcome> {
  try {
    const v = await f();
    return v.accepted ? { ok: true, status: v.status, charged: v.charged, amount: v.amount, seq: v.seq } : { ok: false, reason: v.reason };
  } catch (e) {
    if (e instanceof OffpayError) return { error: e.code };
    throw e;
  }
}

/** Refusals a reader gives from a token's record (or tap-out record). */
const FROM_RECORD = new Set(['already_accepted', 'replayed', 'already_voided', 'already_tapped_out', 'not_a_trip']);

interface Pair {
  kept: Reader;
  pruned: Reader;
  /** Batches the pruned reader was told clearing holds, at its last prune. */
  deliveredAtPrune: number;
  /** Records older than this were forgotten by the pruned reader (its last prune's cutoff). */
  cutoff: number;
}

describe('reader prune (I11): a pruned reader judges as one that never pruned', () => {
  it('the same outcomes, journal and batches after every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 70, size: 'max' }), async (cmds) => {
        let now = NOW;
        const list = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
        const open = (m: typeof vendId, journalId: Uint8Array) => {
          const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => now, journalId, limits: { [HKD]: { staleMaxAmount: 1_000_000 } } });
          r.loadBlocklist(list, NOW);
          return r;
        };
        const vend: Pair = { kept: open(vendId, JOURNAL_V), pruned: open(vendId, JOURNAL_V), deliveredAtPrune: 0, cutoff: -Infinity };
        const gate: Pair = { kept: open(gateId, JOURNAL_G), pruned: open(gateId, JOURNAL_G), deliveredAtPrune: 0, cutoff: -Infinity };
        const counters = [0, 0];
        let nChallenge = 0;
        let req: { challenge: Uint8Array; amount: number; time: number } | undefined;
        /** Every token shown: at which pair, and when each reader first recorded it (acceptedAt). */
        const sales: { bytes: Uint8Array; recordedAt?: number }[] = [];
        const trips: { bytes: Uint8Array; recordedAt?: number }[] = [];

        const same = async (p: Pair, f: (r: Reader) => Promise<ReaderVerdict>, rec: { recordedAt?: number }, what: string) => {
          const a = await outcome(() => f(p.kept));
          const b = await outcome(() => f(p.pruned));
          if ('ok' in a && 'ok' in b && !a.ok && !b.ok && a.reason !== b.reason) {
            // Only a forgotten record may change a refusal, one given from that record: into one of the checks before
            // any state (its age, or its request: a v2 token bound to a request no longer open fails its signature),
            // or the tap-out record's, which may outlive the token's. The journals are compared after every step:
            // the pruned reader wrote nothing for it either.
            expect(rec.recordedAt !== undefined && rec.recordedAt < p.cutoff, `${what}: ${a.reason} became ${b.reason} for a token not forgotten`).toBe(true);
            expect(FROM_RECORD.has(a.reason), `${what}: ${a.reason} became ${b.reason}`).toBe(true);
          } else {
            expect(b, what).toEqual(a);
          }
          // A token recorded at the reader (accepted, tapped in or out, or conflict evidence) has a record from now.
          if (('ok' in a && a.ok) || ('ok' in a && !a.ok && a.reason === 'replayed')) rec.recordedAt ??= now;
        };

        for (const c of cmds) {
          switch (c.k) {
            case 'request': {
              const challenge = new Uint8Array(8);
              new DataView(challenge.buffer).setUint32(4, ++nChallenge);
              for (const r of [vend.kept, vend.pruned]) r.openRequest({ amount: c.amount, currency: HKD, now, challenge });
              req = { challenge, amount: c.amount, time: now };
              break;
            }
            case 'pay': {
              if (!req) break;
              const counter = c.clone && counters[c.w]! > 0 ? counters[c.w]! : ++counters[c.w]!;
              const bytes = signToken(wallets[c.w] as TestWallet, { payee: vendId.cert.readerId, amount: req.amount, counter, time: req.time, challenge: req.challenge });
              const known = sales.find((s) => toHex(s.bytes) === toHex(bytes));
              const s = known ?? { bytes };
              if (!known) sales.push(s);
              await same(vend, (r) => r.accept(bytes, { now }), s, 'pay');
              break;
            }
            case 'replay': {
              const s = sales[c.i % Math.max(1, sales.length)];
              if (s) await same(vend, (r) => r.accept(s.bytes, { now }), s, 'replay');
              break;
            }
            case 'complete': {
              const s = sales[c.i % Math.max(1, sales.length)];
              if (!s) break;
              const a = vend.kept.complete(tokenHash(s.bytes));
              const b = vend.pruned.complete(tokenHash(s.bytes));
              if (a !== b) expect(a === true && b === false && s.recordedAt! < vend.cutoff, 'complete differs for a sale not forgotten').toBe(true);
              break;
            }
            case 'void': {
              const s = sales[c.i % Math.max(1, sales.length)];
              if (!s) break;
              const a = vend.kept.void(tokenHash(s.bytes), now);
              const b = vend.pruned.void(tokenHash(s.bytes), now);
              expect(b.ok, 'void').toBe(a.ok);
              if (a.ok && b.ok) expect(b).toEqual(a);
              else if (!a.ok && !b.ok && a.reason !== b.reason) expect(s.recordedAt! < vend.cutoff && b.reason === 'unknown_token', `void: ${a.reason} became ${b.reason}`).toBe(true);
              break;
            }
            case 'clock':
              now += c.dt;
              break;
            case 'tapIn': {
              const counter = ++counters[c.w]!;
              // A token up to maxFutureSeconds ahead of the gate's clock is taken too (a phone's clock runs fast).
              const bytes = signToken(wallets[c.w] as TestWallet, { payee: 300, amount: 2000, counter, time: now + c.ahead });
              const t: { bytes: Uint8Array; recordedAt?: number } = { bytes };
              trips.push(t);
              if (!c.elsewhere) await same(gate, (r) => r.accept(bytes, { tapIn: { maxFare: 2000, currency: HKD }, now }), t, 'tap-in');
              break;
            }
            case 'reTap': {
              const t = trips[c.i % Math.max(1, trips.length)];
              if (t) await same(gate, (r) => r.accept(t.bytes, { tapIn: { maxFare: 2000, currency: HKD }, now }), t, 're-tap');
              break;
            }
            case 'tapOut': {
              const t = trips[c.i % Math.max(1, trips.length)];
              if (t) await same(gate, (r) => r.tapOut(t.bytes, { fare: c.fare, currency: HKD, now }), t, 'tap-out');
              break;
            }
            case 'deliver': {
              for (const p of [vend, gate]) {
                const a = attempt(() => p.kept.export(now).batches.map((x) => toHex(x.bytes)));
                const b = attempt(() => p.pruned.export(now).batches.map((x) => toHex(x.bytes)));
                expect(b, 'export').toEqual(a);
                // Clearing holds all of them, or all but the newest (a later sync delivers it).
                const n = p.pruned.exportedBatches();
                p.pruned.recordDelivered(c.all ? n : Math.max(0, n - 1));
              }
              break;
            }
            case 'prune': {
              for (const p of [vend, gate]) {
                const retain = pruneRetainMinimum(p.pruned.profile) + c.extra;
                const r = p.pruned.prune({ now, retainSeconds: retain });
                expect(r.cutoff).toBe(now - retain);
                p.cutoff = Math.max(p.cutoff, r.cutoff);
                p.deliveredAtPrune = Math.max(p.deliveredAtPrune, r.deliveredBatches);
              }
              break;
            }
            case 'edge': {
              // The worst moment: prune just as a record ages out (the shortest retention), then the clock steps back
              // (up to 5 minutes) and the token is shown again in every way it can be.
              const p = c.trip ? gate : vend;
              const list = c.trip ? trips : sales;
              const t = list[c.i % Math.max(1, list.length)];
              if (t?.recordedAt === undefined) break;
              const retain = pruneRetainMinimum(p.pruned.profile);
              now = Math.max(now, t.recordedAt + retain + 1);
              const r = p.pruned.prune({ now, retainSeconds: retain });
              p.cutoff = Math.max(p.cutoff, r.cutoff);
              p.deliveredAtPrune = Math.max(p.deliveredAtPrune, r.deliveredBatches);
              now -= c.back;
              if (c.trip) {
                await same(gate, (x) => x.tapOut(t.bytes, { fare: 1, currency: HKD, now }), t, 'edge tap-out');
                await same(gate, (x) => x.accept(t.bytes, { tapIn: { maxFare: 2000, currency: HKD }, now }), t, 'edge re-tap');
              } else {
                await same(vend, (x) => x.accept(t.bytes, { now }), t, 'edge replay');
              }
              break;
            }
            case 'reexport': {
              for (const p of [vend, gate]) {
                const k = 1 + (c.n % Math.max(1, p.kept.exportedBatches()));
                if (p.kept.exportedBatches() === 0) break;
                const a = toHex(p.kept.exportBatch(k).bytes);
                const b = attempt(() => toHex(p.pruned.exportBatch(k).bytes));
                if (typeof b === 'object') expect(b.error === 'reader.batch_pruned' && k <= p.deliveredAtPrune, `re-export of batch ${k}: ${b.error}`).toBe(true);
                else expect(b).toBe(a);
              }
              break;
            }
          }
          for (const p of [vend, gate]) {
            // The pruned journal is the other's from its oldest row kept, and its chain verifies from there.
            const held = p.pruned.entries();
            expect(held.length, 'the pruned journal keeps at least the head').toBeGreaterThanOrEqual(p.kept.head().seq > 0 ? 1 : 0);
            if (held.length) expect(held).toEqual(p.kept.entries(held[0]!.seq));
            expect(p.pruned.head()).toEqual(p.kept.head());
            expect(p.pruned.verifyJournal().ok).toBe(true);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

function attempt<T>(f: () => T): T | { error: string } {
  try {
    return f();
  } catch (e) {
    if (e instanceof OffpayError) return { error: e.code };
    throw e;
  }
}
