/**
 * Refunds (message 10, spec/protocol.md §4.5; spec/clearing.md §13): the vectors of fixtures/refund/ give their
 * declared verdicts with two Ed25519 backends (noble, node:crypto), every signature's declared answer and exact
 * signed bytes; the clearing scenario gives each declared outcome and the declared lines and credit list; no
 * one-byte change of a valid refund verifies (fast-check); encode/decode round trip and the size bound;
 * createRefund refuses bad fields; verifyRefund never throws on any bytes.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { fromHex, toHex } from '../../base/hex.js';
import { decodeIssuerKeySet, decodeRefund, encodeRefund, createRefund, MAX_REFUND_BYTES, nobleEd25519, refundSigningInput, verifyRefund, type SyncVerifier } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { makeIssuer, makeReader, NOW, HKD } from '../reader/helpers.js';

interface Sig {
  role: string;
  publicKey: string;
  message: string;
  signature: string;
  valid: boolean;
}
interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid';
  code?: string;
  message: string;
  context: { issuerKeySet: string; now: number; maxFutureSeconds: number };
  signatures: Sig[];
}
const file = JSON.parse(readFileSync('fixtures/refund/refund_verify.json', 'utf8')) as { numberOfTests: number; tests: Vector[] };
const scenario = JSON.parse(readFileSync('fixtures/refund/refund_clearing.json', 'utf8')) as {
  issuerKeySet: string;
  now: number;
  feeBps: number;
  batches: string[];
  steps: { step: number; comment: string; refund: string; outcome: string; code?: string }[];
  settlement: { operatorId: number; currency: number; count: number; gross: string; fee: string; refunds: number; refunded: string; net: string }[];
  refunds: { walletId: string; tokenHash: string; amount: number; currency: number; operatorId: number; readerId: number; time: number; acceptedAt: number }[];
};
const backends: [string, SyncVerifier][] = [['noble', nobleEd25519], ['node:crypto', nodeEd25519()]];

describe('refund vectors (fixtures/refund/refund_verify.json)', () => {
  it('cover every stateless code, both ends of each window, and the widest refund', () => {
    expect(file.tests).toHaveLength(file.numberOfTests);
    const codes = new Set(file.tests.map((t) => t.code).filter(Boolean));
    for (const c of ['refund.bad_cert', 'refund.cert_not_valid', 'refund.bad_signature', 'refund.future', 'message.wrong_type', 'message.unsupported_version', 'message.bad_structure', 'cbor.malformed', 'cbor.non_canonical', 'cbor.too_large']) {
      expect(codes, c).toContain(c);
    }
    expect(file.tests.filter((t) => t.flags.includes('Boundary') && t.result === 'valid').length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...file.tests.filter((t) => t.result === 'valid').map((t) => t.message.length / 2))).toBe(258);
  });

  for (const [name, v] of backends) {
    it(`every vector gives its declared verdict and signature answers (${name})`, () => {
      for (const t of file.tests) {
        const got = verifyRefund(fromHex(t.message), decodeIssuerKeySet(fromHex(t.context.issuerKeySet)), t.context.now, v);
        expect(got.ok ? 'valid' : `invalid ${got.code}`, `tcId ${t.tcId}: ${t.comment}`).toBe(t.result === 'valid' ? 'valid' : `invalid ${t.code}`);
        for (const s of t.signatures) expect(v.verify(fromHex(s.signature), fromHex(s.message), fromHex(s.publicKey)), `tcId ${t.tcId} ${s.role}`).toBe(s.valid);
        if (got.ok) {
          // The reader's signed bytes are the refund's own body: 0x10 "OFFPAY-V2-REFUND", then the array minus its signature.
          const bytes = fromHex(t.message);
          const body = new Uint8Array([bytes[0]! - 1, ...bytes.subarray(1, bytes.length - 66)]);
          expect(toHex(got.signingInput)).toBe('10' + toHex(new TextEncoder().encode('OFFPAY-V2-REFUND')) + toHex(body));
          expect(t.signatures.find((s) => s.role === 'reader')!.message).toBe(toHex(got.signingInput));
        }
      }
    });
  }

  it('no one-byte change of a valid refund verifies (property)', () => {
    const good = file.tests.filter((t) => t.result === 'valid');
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, pos, x) => {
        const t = good[which % good.length]!;
        const bytes = fromHex(t.message);
        bytes[pos % bytes.length]! ^= x;
        expect(verifyRefund(bytes, decodeIssuerKeySet(fromHex(t.context.issuerKeySet)), t.context.now).ok).toBe(false);
      }),
      { numRuns: 2000, seed: 1610 },
    );
  });

  it('verifyRefund never throws, whatever the bytes', () => {
    const keys = decodeIssuerKeySet(fromHex(file.tests[0]!.context.issuerKeySet));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const r = verifyRefund(b, keys, NOW);
        expect(r.ok).toBe(false);
      }),
      { numRuns: 500, seed: 7 },
    );
    expect(verifyRefund(new Uint8Array(MAX_REFUND_BYTES + 1), keys, NOW)).toMatchObject({ ok: false, code: 'cbor.too_large' });
  });

  it('round-trips, signs what it verifies, and refuses bad fields at creation (refund.bad_input)', () => {
    const issuer = makeIssuer('refund-unit');
    const m = makeReader(issuer, 'refund-unit', 42, 'vending', 90);
    const hash = new Uint8Array(32).fill(7);
    const { refund, bytes } = createRefund({ readerCert: m.cert, secretKey: m.secretKey }, { tokenHash: hash, amount: 1, currency: HKD, time: NOW });
    expect(decodeRefund(bytes)).toEqual(refund);
    expect(encodeRefund(decodeRefund(bytes))).toEqual(bytes);
    expect(verifyRefund(bytes, issuer.keySet(), NOW)).toMatchObject({ ok: true, signingInput: refundSigningInput(refund) });
    const signer = { readerCert: m.cert, secretKey: m.secretKey };
    for (const bad of [{ tokenHash: hash.subarray(1) }, { amount: 0 }, { amount: 2 ** 53 }, { amount: 1.5 }, { currency: 0 }, { currency: 1000 }, { time: -1 }]) {
      expect(() => createRefund(signer, { tokenHash: hash, amount: 1, currency: HKD, time: NOW, ...bad }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'refund.bad_input' }));
    }
  });
});

describe('refund clearing vectors (fixtures/refund/refund_clearing.json)', () => {
  it('each step gives its declared outcome; the lines and the credit list are the declared ones', async () => {
    const c = new Clearing({ issuerKeys: decodeIssuerKeySet(fromHex(scenario.issuerKeySet)), feeBps: scenario.feeBps, clock: () => scenario.now });
    try {
      for (const b of scenario.batches) expect((await c.ingest(fromHex(b))).outcome).toBe('ingested');
      for (const s of scenario.steps) {
        const r = await c.refund(fromHex(s.refund), scenario.now);
        expect([r.outcome, r.reason ?? undefined], `step ${s.step}: ${s.comment}`).toEqual([s.outcome, s.code]);
      }
      const rep = await c.report();
      expect(rep.settlement.map((l) => ({ operatorId: l.operatorId, currency: l.currency, count: l.count, gross: String(l.gross), fee: String(l.fee), refunds: l.refunds, refunded: String(l.refunded), net: String(l.net) }))).toEqual(scenario.settlement);
      expect(rep.refunds.map((r) => ({ walletId: r.walletId, tokenHash: r.tokenHash, amount: r.amount, currency: r.currency, operatorId: r.operatorId, readerId: r.readerId, time: r.time, acceptedAt: r.acceptedAt }))).toEqual(scenario.refunds);
      // Every clearing code of §13 appears in the scenario.
      expect(new Set(scenario.steps.map((s) => s.code ?? s.outcome))).toEqual(
        new Set(['accepted', 'duplicate', 'refund.already_refunded', 'refund.before_payment', 'refund.too_much', 'refund.wrong_merchant', 'refund.wrong_currency', 'refund.not_settled', 'refund.unknown_payment']),
      );
    } finally {
      await c.close();
    }
  });
});
