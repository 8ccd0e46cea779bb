/**
 * Refunds in clearing (spec/clearing.md §13 and money invariant M8 are normative).
 *
 * The verdict on one refund (decideRefund, run by Clearing.refund), in this order, the first step that applies
 * deciding (the numbers of spec/clearing.md §13):
 *   1. the stateless checks of spec/protocol.md §4.5 (verifyRefund)            -> their code;
 *   2. a refund held for the token with the same bytes                         -> duplicate (idempotent);
 *   3. no entry names the token                                                -> refund.unknown_payment;
 *   4. the token does not settle, or settles as an open trip (its payment
 *      state, spec/clearing-api.md §2.6, is not successful)                     -> refund.not_settled;
 *   5. the certificate's operatorId is not the operator the token settles to   -> refund.wrong_merchant;
 *   6. the currency is not the token's                                          -> refund.wrong_currency;
 *   7. time + 60 < the reader time the token was paid (SettledToken.paidAt: the
 *      sale's entry, or for a trip the tap-out that sets its fare)              -> refund.before_payment;
 *   8. amount > the token's charge                                              -> refund.too_much;
 *   9. another refund held for the token                                        -> refund.already_refunded;
 *  10. store it, insert if absent under the unique key token hash: inserted -> accepted; else the row that won
 *      the race decides as in 2 and 9 (same bytes -> duplicate, other bytes -> refund.already_refunded).
 * Step 2 comes before 3-8 so that a resent refund stays a duplicate after its own acceptance made the payment
 * `refunded` and after a later batch moved the token's settlement (steps 4-8 would then judge it anew).
 * Step 7 ties a refund to a payment it came after: a certificate signs refunds only inside its own window
 * (spec/protocol.md §4.5), so it can refund only what was paid before it ended; the key of a retired till, or of
 * a reader re-certified to another merchant, cannot refund its old merchant's later sales. A trip is paid at its
 * tap-out, not its tap-in: a till retired during the trip cannot refund it.
 *
 * In the report (netRefunds) a refund stays with the merchant that signed it, at its amount, whatever later
 * batches do to the token's settlement: each line gets `refunds` (count) and `refunded` (sum) and
 * net = gross - fee - refunded (the fee is on gross and is not given back). A refund whose token no longer
 * settles to its merchant at a charge of at least its amount is listed as a `refund_unsettled` problem.
 */
import { equalBytes } from '../../base/bytes.js';
import { fromHex, toHex } from '../../base/hex.js';
import type { SyncVerifier } from '../crypto.js';
import type { IssuerKeySet } from '../messages.js';
import { verifyRefund } from '../refund.js';
import type { SettledToken, SettlementLine } from './settle.js';
import type { ClearingStore, RefundRow } from './store.js';

/**
 * Clock skew allowed between the till that signs a refund and the reader that recorded the payment (step 7),
 * seconds: the same 60 s a token or refund may be dated ahead of its verifier's clock (spec/protocol.md).
 */
export const REFUND_SKEW_SECONDS = 60;

/** A refund as clearing holds it, for people and JSON (hex ids; money as decimal strings of minor units, spec/clearing.md §7). */
export interface RefundRecord {
  /** SHA-256 of the refunded token, hex. */
  tokenHash: string;
  /** The wallet to credit, hex (16 bytes). */
  walletId: string;
  /** Amount refunded, minor units, as a decimal string. */
  amount: string;
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** The merchant that refunds (the signing certificate's operatorId). */
  operatorId: number;
  /** The reader id of the signing certificate. */
  readerId: number;
  /** The refund's signed time (the merchant's clock), unix seconds. */
  time: number;
  /** Clearing time of acceptance, unix seconds. */
  acceptedAt: number;
  /** The token's charge when the refund was accepted, minor units, as a decimal string. */
  charge: string;
  /** True when the amount is below that charge. */
  partial: boolean;
}

/** What {@link Clearing.refund} decided (a value, never an exception for bad bytes). */
export interface RefundResult {
  /** `accepted` (stored now), `duplicate` (these bytes were held), `rejected` (nothing stored). */
  outcome: 'accepted' | 'duplicate' | 'rejected';
  /** The code when rejected (`cbor.*`, `message.*`, `refund.*`), else null. */
  reason: string | null;
  /** Why, for people (rejected only). */
  message?: string;
  /** SHA-256 of the refunded token, hex, once the refund decoded. */
  tokenHash?: string;
  /** The refund held for the token (accepted and duplicate). */
  refund?: RefundRecord;
}

/** The record of a held refund. */
export function refundRecord(r: RefundRow): RefundRecord {
  return {
    tokenHash: toHex(r.tokenHash), walletId: toHex(r.walletId), amount: String(r.amount), currency: r.currency, operatorId: r.operatorId, readerId: r.readerId,
    time: r.time, acceptedAt: r.acceptedAt, charge: String(r.charge), partial: r.amount < r.charge,
  };
}

/** What decideRefund reads of a token (a subset of Clearing.paymentFacts). */
export interface RefundFacts {
  /** How the token settles now; absent when it does not settle. */
  settled?: SettledToken;
  /** The wallet id (hex) of a valid entry naming the token. */
  walletId?: string;
}

/** What decideRefund needs of a Clearing. */
export interface RefundDeps {
  /** The clearing's store (refunds are read and stored there). */
  store: ClearingStore;
  /** The issuer key set the refund's reader certificate must chain to. */
  issuerKeys: IssuerKeySet;
  /** The Ed25519 backend (the rule of spec/protocol.md §8.1). */
  verifier: SyncVerifier;
  /** How the token settles now (Clearing.paymentFacts): undefined when no entry names it. */
  facts: (tokenHash: Uint8Array) => Promise<RefundFacts | undefined>;
}

/** The verdict on one refund (the steps of the module comment). */
export async function decideRefund(d: RefundDeps, bytes: Uint8Array, now: number): Promise<RefundResult> {
  const v = verifyRefund(bytes, d.issuerKeys, now, d.verifier);
  if (!v.ok) return { outcome: 'rejected', reason: v.code, message: v.message };
  const r = v.refund;
  const tokenHash = toHex(r.tokenHash);
  const no = (reason: string, message: string): RefundResult => ({ outcome: 'rejected', reason, message, tokenHash });
  const held = await d.store.refundOf(r.tokenHash);
  if (held && equalBytes(held.bytes, bytes)) return { outcome: 'duplicate', reason: null, tokenHash, refund: refundRecord(held) };
  const f = await d.facts(r.tokenHash);
  if (!f) return no('refund.unknown_payment', 'clearing holds no entry naming this token');
  const s = f.settled;
  if (!s || s.as === 'open_trip' || f.walletId === undefined) return no('refund.not_settled', s ? 'the token is an open trip (pending): its charge may still change' : 'the token does not settle (voided, a conflict record, or invalid)');
  const operatorId = r.readerCert.operatorId;
  if (operatorId !== s.operatorId) return no('refund.wrong_merchant', `the refund is signed for operator ${operatorId}; the token settles to operator ${s.operatorId}`);
  if (r.currency !== s.currency) return no('refund.wrong_currency', `the refund is in currency ${r.currency}; the payment is in ${s.currency}`);
  if (r.time + REFUND_SKEW_SECONDS < s.paidAt) return no('refund.before_payment', `the refund is dated ${r.time}, before the payment it refunds (reader time ${s.paidAt}${s.as === 'trip' ? ', the tap-out that set the fare' : ''}, ${REFUND_SKEW_SECONDS} s of clock skew allowed)`);
  if (BigInt(r.amount) > s.charge) return no('refund.too_much', `the refund of ${r.amount} is above the token's charge of ${s.charge}`);
  if (held) return no('refund.already_refunded', 'another refund of this token is held: a token is refunded at most once');
  const row: RefundRow = {
    tokenHash: r.tokenHash, bytes, operatorId, readerId: r.readerCert.readerId, walletId: fromHex(f.walletId), amount: r.amount, currency: r.currency,
    charge: Number(s.charge), time: r.time, acceptedAt: now,
  };
  if (await d.store.putRefund(row)) return { outcome: 'accepted', reason: null, tokenHash, refund: refundRecord(row) };
  // Another node (or a concurrent call) stored a refund of this token first: its row decides.
  const won = await d.store.refundOf(r.tokenHash);
  if (won && equalBytes(won.bytes, bytes)) return { outcome: 'duplicate', reason: null, tokenHash, refund: refundRecord(won) };
  return no('refund.already_refunded', 'another refund of this token is held: a token is refunded at most once');
}

/** A settlement line with its refunds netted (spec/clearing.md §5, §13). */
export interface RefundedLine extends SettlementLine {
  /** Refunds of this merchant in this currency (by the refund's signer, whatever the token settles to now). */
  refunds: number;
  /** Their sum, minor units. */
  refunded: bigint;
}

/** A refund whose token no longer settles to its merchant at a charge of at least its amount (M8). */
export interface RefundProblem {
  /** Always `refund_unsettled`. */
  kind: 'refund_unsettled';
  /** `moved`: the token now settles to another operator; `charge_below_refund`: its charge fell below the refund; `not_settled`: it no longer settles (or is an open trip). */
  why: 'moved' | 'charge_below_refund' | 'not_settled';
  /** The refund. */
  refund: RefundRecord;
  /** How the token settles now (absent when it does not). */
  now?: {
    /** The operator the token settles to now. */
    operatorId: number;
    /** Its charge now, minor units. */
    charge: bigint;
    /** How it settles (sale, trip, open_trip, tap_out_without_tap_in). */
    as: SettledToken['as'];
  };
}

/** The report's refund part. */
export interface RefundReport {
  /** Settlement lines with refunds netted: net = gross - fee - refunded. */
  lines: RefundedLine[];
  /** Every refund held, by (wallet id, token hash): what the issuer credits to each wallet. */
  refunds: RefundRecord[];
  /** Per currency: refunds held and their sum. */
  totals: {
    /** ISO 4217 numeric currency code. */
    currency: number;
    /** Refunds held. */
    count: number;
    /** Their sum, minor units. */
    amount: bigint;
  }[];
  /** Refunds whose token's settlement moved after acceptance. */
  problems: RefundProblem[];
}

/**
 * Net the refunds into the settlement lines (pure). `current` maps a refunded token's hash (hex) to how it settles
 * now (settle() with those tokens kept). A refund counts on the line of its own merchant and currency (a line
 * with no settled token is made for it: count 0, gross 0, a negative net); the fee stays as computed on gross.
 */
export function netRefunds(lines: SettlementLine[], rows: RefundRow[], current: ReadonlyMap<string, SettledToken>, feeBps: number): RefundReport {
  const out = new Map<string, RefundedLine>();
  for (const l of lines) out.set(`${l.operatorId}|${l.currency}`, { ...l, refunds: 0, refunded: 0n });
  const totals = new Map<number, { currency: number; count: number; amount: bigint }>();
  const problems: RefundProblem[] = [];
  const refunds = rows.map(refundRecord);
  for (const r of refunds) {
    const k = `${r.operatorId}|${r.currency}`;
    const line = out.get(k) ?? { operatorId: r.operatorId, currency: r.currency, count: 0, gross: 0n, feeBps, fee: 0n, net: 0n, refunds: 0, refunded: 0n };
    line.refunds++;
    line.refunded += BigInt(r.amount);
    out.set(k, line);
    const t = totals.get(r.currency) ?? { currency: r.currency, count: 0, amount: 0n };
    t.count++;
    t.amount += BigInt(r.amount);
    totals.set(r.currency, t);
    const s = current.get(r.tokenHash);
    const now = s ? { operatorId: s.operatorId, charge: s.charge, as: s.as } : undefined;
    const why = !s || s.as === 'open_trip' ? 'not_settled' : s.operatorId !== r.operatorId ? 'moved' : s.charge < BigInt(r.amount) ? 'charge_below_refund' : undefined;
    if (why) problems.push({ kind: 'refund_unsettled', why, refund: r, ...(now ? { now } : {}) });
  }
  for (const l of out.values()) l.net = l.gross - l.fee - l.refunded;
  return {
    lines: [...out.values()].sort((a, b) => a.operatorId - b.operatorId || a.currency - b.currency),
    refunds,
    totals: [...totals.values()].sort((a, b) => a.currency - b.currency),
    problems,
  };
}

/** Bounds of a page of the refund list (Clearing.refundPage, GET /v1/refunds): default and largest page size. */
export const REFUND_PAGE_DEFAULT = 100;
/** The largest page of the refund list. */
export const REFUND_PAGE_MAX = 1000;

/** One page of the refund list, in the order refunds were stored (Clearing.refundPage). */
export interface RefundPage {
  /** The page's refunds, oldest stored first. */
  refunds: RefundRecord[];
  /** The seq of the page's last refund when more refunds followed it when the page was read (pass it as `after`); undefined on the last page. */
  nextAfter: number | undefined;
  /** The seq of the page's last refund (undefined for an empty page): to list, later, the refunds stored after it. */
  lastSeq: number | undefined;
  /** The refund_unsettled problems among this page's refunds (M8). */
  problems: RefundProblem[];
  /** Per currency, every refund held when the page was read (not only this page's). */
  totals: {
    /** ISO 4217 numeric currency code. */
    currency: number;
    /** Refunds held. */
    count: number;
    /** Their sum, minor units. */
    amount: bigint;
  }[];
}
