/**
 * A payment's state in the card gateway's terms (spec/clearing-api.md §5), from what clearing holds of one
 * token (Clearing.paymentFacts). Rules, in this order:
 *  1. no entry names the token                          -> none (HTTP 404 api.unknown_payment: the reader has
 *     not uploaded it yet, or it was never taken; clearing cannot tell the two apart, so it says neither);
 *  2. the token settles as an open trip (a tap-in, no tap-out held yet) -> pending: it is charged the maximum
 *     fare now and a tap-out still to arrive lowers the charge;
 *  3. the token settles otherwise                       -> successful, with the charge and the settling entry;
 *  4. a valid sale is held but every sale was voided    -> failed, reason voided;
 *  5. only a conflict record is held                    -> failed, reason conflict;
 *  6. every entry is invalid                            -> failed, the first entry's reason (by time, reader,
 *     journal, seq).
 * A failed payment carries the gateway failure code of its reason (failure-codes.ts).
 * Before all of these: a refund held for the token (spec/clearing.md §13) -> refunded, with the charge as rules
 * 2-3 give it (the charge at the refund's acceptance when the token no longer settles) and the refund.
 */
import type { PaymentFacts } from '../clearing/clearing.js';
import { failureCodeOf, type GatewayFailureCode } from './failure-codes.js';

export interface PaymentState {
  tokenHash: string;
  state: 'pending' | 'successful' | 'failed' | 'refunded';
  /** Charge so far (pending) or settled (successful), minor units as a decimal string. */
  amount?: string;
  currency?: number;
  /** The operator (merchant) paid. */
  operatorId?: number;
  /** sale, trip, open_trip, tap_out_without_tap_in. */
  settledAs?: string;
  failure?: { code: GatewayFailureCode; reason: string };
  /** The refund held (state refunded): amount given back (decimal string), currency, the merchant's signed time, and whether it is below the charge. */
  refund?: { amount: string; currency: number; time: number; partial: boolean; operatorId: number; acceptedAt: number };
  /** The wallet is on the clearing blocklist (a double spend or over its allowance); the merchant is still paid. */
  walletBlocked: boolean;
  /**
   * The entry the state comes from (null for a refunded token that no longer settles: its refund decides), and
   * every entry clearing holds naming the token.
   */
  evidence: { entry: PaymentFacts['entries'][number] | null; entries: PaymentFacts['entries'] };
}

export function paymentState(tokenHash: string, f: PaymentFacts): PaymentState {
  const base = { tokenHash, walletBlocked: f.blocked };
  if (f.refund) {
    const r = f.refund;
    const s = f.settled;
    const entry = (s ? f.entries.find((e) => e.readerId === s.entry.readerId && e.journalId === s.entry.journalId && e.seq === s.entry.seq) : undefined) ?? null;
    return {
      ...base,
      state: 'refunded',
      amount: (s ? s.charge : BigInt(r.charge)).toString(),
      currency: s ? s.currency : r.currency,
      operatorId: s ? s.operatorId : r.operatorId,
      ...(s ? { settledAs: s.as } : {}),
      refund: { amount: String(r.amount), currency: r.currency, time: r.time, partial: r.partial, operatorId: r.operatorId, acceptedAt: r.acceptedAt },
      evidence: { entry, entries: f.entries },
    };
  }
  if (f.settled) {
    const s = f.settled;
    const entry = f.entries.find((e) => e.readerId === s.entry.readerId && e.journalId === s.entry.journalId && e.seq === s.entry.seq) ?? null;
    return {
      ...base,
      state: s.as === 'open_trip' ? 'pending' : 'successful',
      amount: s.charge.toString(),
      currency: s.currency,
      operatorId: s.operatorId,
      settledAs: s.as,
      evidence: { entry, entries: f.entries },
    };
  }
  const twice = f.requestPaidTwice?.unsettled.find((u) => u.tokenHash === tokenHash);
  if (twice) {
    // M9: a valid, unvoided sale, but another token of its request settles (spec/clearing-api.md §2.6 rule 4).
    const entry = f.entries.find((e) => e.readerId === f.requestPaidTwice!.readerId && e.journalId === twice.journalId && e.seq === twice.seq) ?? null;
    return { ...base, state: 'failed', failure: { code: failureCodeOf('request_paid_twice'), reason: 'request_paid_twice' }, evidence: { entry, entries: f.entries } };
  }
  const validSale = f.entries.find((e) => e.valid && (e.kind === 'accept' || e.kind === 'tap_in'));
  const conflict = f.entries.find((e) => e.valid && e.kind === 'conflict');
  const invalid = f.entries.find((e) => !e.valid);
  const [reason, entry] = validSale ? ['voided', validSale] : conflict ? ['conflict', conflict] : [invalid?.reason ?? 'malformed', invalid ?? f.entries[0]];
  return { ...base, state: 'failed', failure: { code: failureCodeOf(reason), reason }, evidence: { entry: entry ?? null, entries: f.entries } };
}
