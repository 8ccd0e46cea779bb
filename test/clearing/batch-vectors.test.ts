/**
 * Settlement batch vectors (fixtures/batch/batch_clearing.json; spec/clearing.md §3-4, §8; spec/reader.md §9-10):
 * every case, replayed from its JSON alone into an empty SQLite clearing in memory, gives each batch's declared
 * outcome, code and counts and the declared state after it; each recorded signing input is the one formed from
 * the raw bytes and the one clearing verifies; the file covers every ingest code and the orderings the porters
 * asked about.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { fromHex, toHex } from '../../base/hex.js';
import { decodeIssuerKeySet, nobleEd25519 } from '../../src/index.js';
import { readBatchFrame } from '../../src/clearing/batch-bytes.js';

interface BatchStep {
  batch: string;
  signingInput: string | null;
  outcome: 'ingested' | 'duplicate' | 'rejected';
  code?: string;
  entries: number;
  alreadyHeld: number;
  invalidTokens: number;
  doubleSpends: number;
  readerFaults: number;
}
/** An entry of the evidence: where it is held. */
interface Place {
  readerId: number;
  journalId: string;
  seq: number;
}
interface Trip {
  tokenHash: string;
  entry: Place;
  tapOuts: Place[];
  charge: string;
}
interface Case {
  caseId: number;
  comment: string;
  flags: string[];
  limits: { maxBatchBytes: number; maxBatchEntries: number };
  batches: BatchStep[];
  after: {
    invalid: { readerId: number; journalId: string; seq: number; reason: string }[];
    blocked: number;
    blocklist: { walletId: string; reason: string }[];
    doubleSpends: { kind: string; walletId: string; counter: number; first: Place; second: Place }[];
    readerFaults: { kind: string; readerId: number; tokenHash: string; first: Place; second: Place }[];
    problems: { readerId: number; kind: string }[];
    settlement: { operatorId: number; currency: number; count: number; gross: string; feeBps: number; fee: string; net: string }[];
    trips: { openTrips: Trip[]; multipleTapOuts: Trip[]; multipleTapIns: (Trip & { tapIns: Place[] })[]; tapOutsWithoutTapIn: Trip[]; zeroFareTapOuts: Place[] };
    requestsPaidTwice: { readerId: number; requestTime: number; challenge: string; settled: { tokenHash: string; journalId: string; seq: number }; unsettled: { tokenHash: string; journalId: string; seq: number }[] }[];
  };
}
const file = JSON.parse(readFileSync('fixtures/batch/batch_clearing.json', 'utf8')) as {
  numberOfCases: number;
  issuerKeySet: string;
  now: number;
  defaultLimits: { maxBatchBytes: number; maxBatchEntries: number };
  cases: Case[];
};
const keys = decodeIssuerKeySet(fromHex(file.issuerKeySet));
const TAG = new TextEncoder().encode('OFFPAY-V2-BATCH');

describe('settlement batch vectors (fixtures/batch/batch_clearing.json)', () => {
  it('cover every ingest code, every outcome and the orderings asked about', () => {
    expect(file.cases).toHaveLength(file.numberOfCases);
    const steps = file.cases.flatMap((c) => c.batches);
    const codes = new Set(steps.map((s) => s.code ?? s.outcome));
    for (const c of [
      'ingested', 'duplicate', 'clearing.too_large', 'clearing.too_many_entries', 'clearing.bad_batch', 'clearing.unknown_issuer_key', 'clearing.bad_reader_cert',
      'clearing.bad_batch_signature', 'clearing.reader_cert_not_valid', 'clearing.bad_chain', 'clearing.fork',
    ]) {
      expect(codes, c).toContain(c);
    }
    const reasons = new Set(file.cases.flatMap((c) => c.after.invalid.map((i) => i.reason)));
    for (const r of ['reader_cert_not_valid', 'challenge_missing', 'challenge_mismatch', 'bad_token_signature', 'amount_mismatch']) expect(reasons, r).toContain(r);
    for (const f of ['Empty', 'Duplicate', 'Fork', 'Order', 'NonCanonical', 'RequestContext', 'Conflict', 'Limits', 'CertWindow', 'RequestPaidTwice']) {
      expect(file.cases.some((c) => c.flags.includes(f)), f).toBe(true);
    }
    // Both ends of the certificate window, both limits at and over their value.
    expect(file.cases.filter((c) => c.flags.includes('Boundary') && c.batches.every((b) => b.outcome === 'ingested')).length).toBeGreaterThanOrEqual(4);
    // A non-canonical entry under a good and under a bad signature.
    const nc = file.cases.filter((c) => c.flags.includes('NonCanonical') && c.flags.includes('Entry'));
    expect(new Set(nc.map((c) => c.batches.at(-1)!.code))).toEqual(new Set(['clearing.bad_batch', 'clearing.bad_batch_signature', 'clearing.reader_cert_not_valid']));
  });

  it('every recorded signing input is 0x0f "OFFPAY-V2-BATCH" 0x8a bytes[1 .. len - 66], the input clearing verifies', () => {
    let framed = 0;
    for (const c of file.cases) {
      for (const s of c.batches) {
        const bytes = fromHex(s.batch);
        if (s.signingInput === null) {
          expect(bytes.length >= 67 && bytes[bytes.length - 66] === 0x58 && bytes[bytes.length - 65] === 0x40, `case ${c.caseId}`).toBe(false);
          continue;
        }
        const want = toHex(new Uint8Array([TAG.length, ...TAG, 0x8a, ...bytes.subarray(1, bytes.length - 66)]));
        expect(s.signingInput, `case ${c.caseId}: ${c.comment}`).toBe(want);
        // Where the frame reads, the signature answer is the verdict's: bad_batch_signature iff it does not verify.
        let frame;
        try {
          frame = readBatchFrame(bytes, { maxBytes: c.limits.maxBatchBytes, maxEntries: c.limits.maxBatchEntries });
        } catch (e) {
          // Only a batch refused at the frame (steps 1-2) does not read.
          expect(['clearing.too_large', 'clearing.too_many_entries', 'clearing.bad_batch'], `case ${c.caseId}: ${(e as Error).message}`).toContain(s.code);
          continue;
        }
        framed++;
        expect(toHex(frame.signed)).toBe(s.signingInput);
        const verifies = nobleEd25519.verify(frame.signature, frame.signed, frame.readerCert.readerPublicKey);
        if (s.code === 'clearing.bad_batch_signature') expect(verifies, `case ${c.caseId}`).toBe(false);
        if (s.outcome !== 'rejected') expect(verifies, `case ${c.caseId}`).toBe(true);
      }
    }
    expect(framed).toBeGreaterThan(file.cases.length);
  });

  for (const c of file.cases) {
    it(`case ${c.caseId}: ${c.comment}`, async () => {
      const limits = { ...(c.limits.maxBatchBytes !== file.defaultLimits.maxBatchBytes ? { maxBatchBytes: c.limits.maxBatchBytes } : {}), ...(c.limits.maxBatchEntries !== file.defaultLimits.maxBatchEntries ? { maxBatchEntries: c.limits.maxBatchEntries } : {}) };
      const clearing = new Clearing({ issuerKeys: keys, clock: () => file.now, ...limits });
      try {
        for (const [k, s] of c.batches.entries()) {
          const r = await clearing.ingest(fromHex(s.batch));
          expect(
            { outcome: r.outcome, code: r.error?.code, entries: r.entries, alreadyHeld: r.alreadyHeld, invalidTokens: r.invalidTokens, doubleSpends: r.doubleSpends, readerFaults: r.readerFaults },
            `batch ${k + 1}`,
          ).toEqual({ outcome: s.outcome, code: s.code, entries: s.entries, alreadyHeld: s.alreadyHeld, invalidTokens: s.invalidTokens, doubleSpends: s.doubleSpends, readerFaults: s.readerFaults });
        }
        const rep = await clearing.report();
        expect(rep.invalidTokens.map((t) => ({ readerId: t.readerId, journalId: t.journalId, seq: t.seq, reason: t.reason }))).toEqual(c.after.invalid);
        expect(rep.blocklist.entries).toBe(c.after.blocked);
        expect((await clearing.blocklistEntries()).map((b) => ({ walletId: b.walletId, reason: b.reason }))).toEqual(c.after.blocklist);
        const at = (e: { readerId: number; journalId: string; seq: number }) => ({ readerId: e.readerId, journalId: e.journalId, seq: e.seq });
        expect(rep.doubleSpends.map((d) => ({ kind: d.kind, walletId: d.walletId, counter: d.counter, first: at(d.first), second: at(d.second) }))).toEqual(c.after.doubleSpends);
        expect(rep.readerFaults.map((f) => ({ kind: f.kind, readerId: f.readerId, tokenHash: f.tokenHash, first: at(f.first), second: at(f.second) }))).toEqual(c.after.readerFaults);
        expect(rep.problems.map((p) => ({ readerId: p.readerId, kind: p.kind }))).toEqual(c.after.problems);
        expect(
          rep.settlement.map((l) => ({ operatorId: l.operatorId, currency: l.currency, count: l.count, gross: String(l.gross), feeBps: l.feeBps, fee: String(l.fee), net: String(l.net) })),
        ).toEqual(c.after.settlement);
        const trip = (t: { tokenHash: string; entry: Place; tapOuts: Place[]; charge: bigint }) => ({ tokenHash: t.tokenHash, entry: at(t.entry), tapOuts: t.tapOuts.map(at), charge: String(t.charge) });
        expect({
          openTrips: rep.openTrips.map(trip),
          multipleTapOuts: rep.multipleTapOuts.map(trip),
          multipleTapIns: rep.multipleTapIns.map((t) => ({ ...trip(t), tapIns: t.tapIns.map(at) })),
          tapOutsWithoutTapIn: rep.tapOutsWithoutTapIn.map(trip),
          zeroFareTapOuts: rep.zeroFareTapOuts.map(at),
        }).toEqual(c.after.trips);
        expect(
          rep.requestsPaidTwice.map((f) => ({
            readerId: f.readerId, requestTime: f.requestTime, challenge: f.challenge, settled: { tokenHash: f.settled.tokenHash, journalId: f.settled.journalId, seq: f.settled.seq },
            unsettled: f.unsettled.map((u) => ({ tokenHash: u.tokenHash, journalId: u.journalId, seq: u.seq })),
          })),
        ).toEqual(c.after.requestsPaidTwice);
      } finally {
        await clearing.close();
      }
    });
  }
});
