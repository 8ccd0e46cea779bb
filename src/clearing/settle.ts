/**
 * Settlement rules (spec/clearing.md §5), as a pure function over the held entries: what each distinct token
 * is charged, to which merchant, and what each wallet certificate spent in total.
 *
 * Input: every valid `accept`, `tap_in` and `tap_out` entry, ordered by (walletKey, counter) so that all the
 * entries of one token (same wallet, same counter) and all the tokens of one wallet come together; memory
 * stays bounded by one wallet's tokens. Per token (token hash):
 *   - sales = its accept/tap_in entries not voided by a void of the same journal; the token settles ONCE, from
 *     the earliest sale by (time, reader id, journal id, seq), to the operator of the certificate that
 *     carried that entry (money invariant M1);
 *   - a tap_in sale is a trip: charge = min(authorised maximum, highest non-zero tap-out fare recorded by any
 *     reader of the same operator); no such tap-out: the maximum, listed as an open trip; more than one
 *     tap-out of that operator: listed as multiple_tap_outs (M3). The trip is paid at the tap-out that sets
 *     its fare (the earliest counting one whose fare, capped at the maximum, is the charge) or at its tap-in,
 *     whichever is later (`paidAt`, the time a refund must not precede: spec/clearing.md §13 step 7, M8);
 *   - no sale but tap-outs: the token amount (the wallet-signed maximum fare), to the operator of the earliest
 *     tap-out, listed as tap_out_without_tap_in (M3);
 *   - a token that answered a request another token of it settles (`excluded`, requests.ts) settles not at all (M9);
 *   - a tap-out with fare 0 is never a charge and is listed as an anomaly (M3), unless its operator is one
 *     whose gates are configured to allow zero fares (profile allowZeroFare; told to clearing as
 *     `zeroFareOperators`, since a reader certificate names only the standard profile, which refuses them).
 * Per (wallet id, certificate): the charges are summed (bigint); above the certificate's offlineAllowance the
 * wallet is over_allowance, with every settled token as evidence, and the excess is the issuer's exposure
 * (M2). Merchants are paid in full either way: they accepted in good faith within their limits.
 */
import { equalBytes } from '../../base/bytes.js';
import { toHex } from '../../base/hex.js';
import { JournalKind, type JournalKindName } from '../reader/journal.js';
import { feeFor } from './fees.js';

/**
 * One held journal entry as input to {@link settle}: the entry, the re-verified token's fields, and the carrying
 * certificate's operator. Rows must come ordered by (walletKey, counter).
 */
export interface SettleRow {
  /** The reader whose journal holds the entry. */
  readerId: number;
  /** Journal id, hex. */
  journalId: string;
  /** The entry's journal seq. */
  seq: number;
  /** The entry kind as its number (`JournalKind`). */
  kind: number;
  /** The entry's reader time, unix seconds. */
  time: number;
  /** Entry value: the amount (accept, tap_in) or the fare (tap_out). */
  value: number;
  /** The token's amount (what the wallet signed). */
  amount: number;
  /** SHA-256 of the token bytes, 32 bytes. */
  tokenHash: Uint8Array;
  /** Operator named by the reader certificate of the batch that carried the entry. */
  operatorId: number;
  /** The first six bytes of the wallet id as an integer: the sort key that brings one wallet's tokens together. */
  walletKey: number;
  /** The wallet id, 16 bytes. */
  walletId: Uint8Array;
  /** The token's wallet counter. */
  counter: number;
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** First six bytes of the wallet certificate id, as an integer. */
  certKey: number;
  /** The wallet certificate's offline allowance, minor units. */
  allowance: number;
  /** A valid void entry of the same journal names this token. */
  voided: boolean;
}

/**
 * A reference to one journal entry (reader, journal id hex, seq) with its kind, reader time and value: where a
 * settled token or an anomaly comes from.
 */
export interface EntryRef {
  /** The reader whose journal holds the entry. */
  readerId: number;
  /** That journal's id, hex. */
  journalId: string;
  /** The entry's journal seq. */
  seq: number;
  /** The entry kind. */
  kind: JournalKindName;
  /** The entry's reader time, unix seconds. */
  time: number;
  /** The entry's value, minor units (amount or fare). */
  value: number;
}

/**
 * One distinct token as settled (spec/clearing.md §5): how it settled, to which operator, the charge in minor
 * units (bigint), the entry it settled from, and when it was paid.
 */
export interface SettledToken {
  /** SHA-256 of the token bytes, hex. */
  tokenHash: string;
  /** sale (accept), trip (tap-in with a tap-out), open_trip (tap-in, no tap-out), tap_out_without_tap_in. */
  as: 'sale' | 'trip' | 'open_trip' | 'tap_out_without_tap_in';
  /** The merchant (operator) paid. */
  operatorId: number;
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** What the token was charged, minor units. */
  charge: bigint;
  /** The entry the token settled from (for a trip, its tap-in). */
  entry: EntryRef;
  /**
   * The payment's time, reader clock, unix seconds (spec/clearing.md §13 step 7): for a trip the later of its
   * tap-in and the counting tap-out that sets its fare (the earliest whose fare, capped at the maximum, is the
   * charge), else `entry`'s time. A refund dated more than 60 s before it is `refund.before_payment` (M8).
   */
  paidAt: number;
  /** Full signed token bytes, hex: filled in by Clearing.report() for the evidence of over-allowance wallets. */
  token?: string;
}

/**
 * One settlement line: per merchant (operator) and currency, the distinct tokens settled, gross, fee (`feeBps`
 * basis points of gross) and net, minor units as bigint.
 */
export interface SettlementLine {
  /** The merchant (operator). */
  operatorId: number;
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** Distinct tokens settled. */
  count: number;
  /** Sum of the charges, minor units. */
  gross: bigint;
  /** Fee rate, basis points. */
  feeBps: number;
  /** The fee, minor units. */
  fee: bigint;
  /** gross - fee, minor units: what the merchant is paid. */
  net: bigint;
}

/**
 * A transit trip clearing could not settle plainly (open trip, several tap-outs, tap-out without tap-in;
 * money invariant M3): the entries involved and the charge applied, minor units.
 */
export interface TripAnomaly {
  /** SHA-256 of the token bytes, hex. */
  tokenHash: string;
  /** The wallet id, hex. */
  walletId: string;
  /** The tap-in (or, without one, the first tap-out) the trip settled from. */
  entry: EntryRef;
  /** The tap-outs recorded for it by readers of the operator. */
  tapOuts: EntryRef[];
  /** The charge applied, minor units. */
  charge: bigint;
}

/**
 * A trip whose token was taken as a tap-in at more than one reader (spec/clearing.md §5 step 3): a gate that heard
 * the phone meant for the next one, or one token shared by two travellers (a finding, and the wallet blocked,
 * only once the token also left by two gates: the one-way rule of §4 step 10). Charged once, as any trip.
 */
export interface TapInAnomaly extends TripAnomaly {
  /** Every valid, unvoided tap-in of the token, in settlement order (§5 step 1). */
  tapIns: EntryRef[];
}

/**
 * A wallet certificate whose settled total passed its offline allowance (money invariant M2): the totals, the
 * issuer's exposure (settled - allowance, minor units) and every settled token as evidence.
 */
export interface OverAllowance {
  /** The wallet id, hex. */
  walletId: string;
  /** First six bytes of the wallet certificate id, hex. */
  certKey: string;
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** The certificate's offline allowance, minor units. */
  allowance: bigint;
  /** What was settled under the certificate, minor units. */
  settled: bigint;
  /** settled - allowance: what the issuer pays merchants beyond what the certificate allowed. */
  exposure: bigint;
  /** Every token settled under the certificate: the evidence, as the report lists it (spec/clearing.md §7: without `paidAt`). */
  tokens: Omit<SettledToken, 'paidAt'>[];
}

/** The output of {@link settle}: settlement lines, anomalies, allowance overruns and the exposure per currency. */
export interface SettlementResult {
  /** Settlement lines per merchant and currency. */
  lines: SettlementLine[];
  /** Every distinct token settled (count). */
  settledTokens: number;
  /** Tap-ins with no tap-out (charged the maximum fare). */
  openTrips: TripAnomaly[];
  /** Trips with more than one tap-out. */
  multipleTapOuts: TripAnomaly[];
  /** Trips whose token was taken as a tap-in at more than one reader. */
  multipleTapIns: TapInAnomaly[];
  /** Tap-outs whose tap-in never arrived. */
  tapOutsWithoutTapIn: TripAnomaly[];
  /** Zero-fare tap-outs not allowed for their operator (never a charge). */
  zeroFareTapOuts: EntryRef[];
  /** Certificates whose settled total passed their allowance. */
  overAllowance: OverAllowance[];
  /** Per currency, the sum of the exposures. */
  exposure: {
    /** ISO 4217 numeric currency code. */
    currency: number;
    /** Settled beyond the allowances, minor units. */
    amount: bigint;
  }[];
}

const order = (a: SettleRow, b: SettleRow): number =>
  a.time - b.time || a.readerId - b.readerId || (a.journalId < b.journalId ? -1 : a.journalId > b.journalId ? 1 : 0) || a.seq - b.seq;

const KIND_NAMES = Object.keys(JournalKind) as JournalKindName[];
const ref = (r: SettleRow): EntryRef => ({ readerId: r.readerId, journalId: r.journalId, seq: r.seq, kind: KIND_NAMES[r.kind]!, time: r.time, value: r.value });

/** Options of {@link settle}. */
export interface SettleOptions {
  /** Fee rate applied to each line's gross, basis points (150 = 1.50 %). */
  feeBps: number;
  /** Keep every settled token (for tests and audits); default false: only those of over-allowance wallets. */
  keepTokens?: boolean;
  /** Operators whose gates allow a fare of 0 (profile allowZeroFare): their zero-fare tap-outs are charges of 0. */
  zeroFareOperators?: ReadonlySet<number>;
  /** Also keep these settled tokens (hashes, hex) in `tokens`: the refunded ones, for the report (refunds.ts). */
  keep?: ReadonlySet<string>;
  /**
   * Tokens (hashes, hex) that do not settle: another token of the request they answered settles (spec/clearing.md
   * M9, requests.ts). They count nowhere: no line, no wallet total.
   */
  excluded?: ReadonlySet<string>;
}

/**
 * Settle the held entries (spec/clearing.md §5, normative; the rules are in this module's comment): each
 * distinct token once, to the operator of its earliest sale, trips at min(maximum, tap-out fare), and each
 * wallet certificate's total checked against its allowance. Pure: the same rows give the same result.
 */
export function settle(rows: Iterable<SettleRow>, o: SettleOptions): SettlementResult & {
  /** The settled tokens: every one with `keepTokens`, else those of over-allowance wallets. */
  tokens: SettledToken[];
} {
  const s = settler(o);
  for (const r of rows) s.push(r);
  return s.finish();
}

/**
 * {@link settle} one row at a time, for a store that delivers rows in pages (rows in the same order): `push`
 * each row, then `finish` once.
 */
export function settler(o: SettleOptions): {
  /** Take the next row (rows in the order of {@link settle}). */
  push: (r: SettleRow) => void;
  /** Settle what was pushed; call once, after the last row. */
  finish: () => SettlementResult & {
    /** The settled tokens: every one with `keepTokens`, else those of over-allowance wallets. */
    tokens: SettledToken[];
  };
} {
  const lines = new Map<string, { operatorId: number; currency: number; count: number; gross: bigint }>();
  const out: SettlementResult & { tokens: SettledToken[] } = {
    lines: [], settledTokens: 0, openTrips: [], multipleTapOuts: [], multipleTapIns: [], tapOutsWithoutTapIn: [], zeroFareTapOuts: [], overAllowance: [], exposure: [], tokens: [],
  };
  const exposure = new Map<number, bigint>();
  /** Per (wallet, certificate) of the current wallet-key run. */
  let wallets = new Map<string, { walletId: Uint8Array; certKey: number; currency: number; allowance: number; settled: bigint; tokens: Omit<SettledToken, 'paidAt'>[] }>();
  let runKey = -1;
  let lastWallet: Uint8Array | undefined;
  let lastWalletHex = '';
  let groupKey = '';
  let group: SettleRow[] = [];

  const settleToken = (rs: SettleRow[]) => {
    if (o.excluded && o.excluded.size > 0 && o.excluded.has(toHex(rs[0]!.tokenHash))) return; // M9: its request is paid by another token
    const only = rs.length === 1 ? rs[0]! : undefined;
    if (only && only.kind === JournalKind.accept && !only.voided) return book(only, only.value, 'sale'); // the common case
    const sales = rs.filter((r) => (r.kind === JournalKind.accept || r.kind === JournalKind.tap_in) && !r.voided).sort(order);
    const tapOuts = rs.filter((r) => r.kind === JournalKind.tap_out).sort(order);
    const fareCounts = (t: SettleRow) => t.value > 0 || o.zeroFareOperators?.has(t.operatorId) === true;
    for (const t of tapOuts) if (!fareCounts(t)) out.zeroFareTapOuts.push(ref(t));
    let from: SettleRow;
    let charge: number;
    let as: SettledToken['as'];
    let paidAt: number | undefined;
    if (sales.length > 0) {
      from = sales[0]!;
      if (from.kind === JournalKind.accept) {
        charge = from.value;
        as = 'sale';
      } else {
        const outs = tapOuts.filter((t) => t.operatorId === from.operatorId);
        const paid = outs.filter(fareCounts);
        const highest = paid.reduce((m, t) => Math.max(m, t.value), 0);
        charge = paid.length > 0 ? Math.min(from.value, highest) : from.value;
        as = paid.length > 0 ? 'trip' : 'open_trip';
        // Paid when the fare was set: the first counting tap-out (in `order`) at which it reached the charge, and
        // never before the tap-in (a gate whose clock is behind may date its tap-out earlier).
        if (paid.length > 0) paidAt = Math.max(from.time, paid.find((t) => Math.min(from.value, t.value) === charge)!.time);
        const anomaly = (): TripAnomaly => ({ tokenHash: toHex(from.tokenHash), walletId: toHex(from.walletId), entry: ref(from), tapOuts: outs.map(ref), charge: BigInt(charge) });
        if (outs.length > 1) out.multipleTapOuts.push(anomaly());
        const tapIns = sales.filter((r) => r.kind === JournalKind.tap_in);
        if (tapIns.some((r) => r.readerId !== from.readerId)) out.multipleTapIns.push({ ...anomaly(), tapIns: tapIns.map(ref) });
        if (paid.length === 0) out.openTrips.push(anomaly());
      }
    } else if (tapOuts.length > 0) {
      from = tapOuts[0]!;
      charge = from.amount;
      as = 'tap_out_without_tap_in';
      out.tapOutsWithoutTapIn.push({ tokenHash: toHex(from.tokenHash), walletId: toHex(from.walletId), entry: ref(from), tapOuts: tapOuts.map(ref), charge: BigInt(charge) });
    } else {
      return; // every sale of it was voided
    }
    book(from, charge, as, paidAt);
  };

  /** Settle token `from` at `charge`, paid at `paidAt` (default: `from`'s time): its line and its wallet's total. */
  const book = (from: SettleRow, charge: number, as: SettledToken['as'], paidAt = from.time) => {
    const token: Omit<SettledToken, 'paidAt'> = { tokenHash: toHex(from.tokenHash), as, operatorId: from.operatorId, currency: from.currency, charge: BigInt(charge), entry: ref(from) };
    out.settledTokens++;
    // The kept tokens (paymentFacts, refunds) carry paidAt; the wallet's evidence is the report's shape (§7).
    if (o.keepTokens || o.keep?.has(token.tokenHash)) out.tokens.push({ ...token, paidAt });
    const lk = `${from.operatorId}|${from.currency}`;
    const line = lines.get(lk) ?? { operatorId: from.operatorId, currency: from.currency, count: 0, gross: 0n };
    line.count++;
    line.gross += token.charge;
    lines.set(lk, line);
    if (lastWallet === undefined || !equalBytes(lastWallet, from.walletId)) {
      lastWallet = from.walletId;
      lastWalletHex = toHex(from.walletId);
    }
    const wk = `${lastWalletHex}|${from.certKey}`;
    const w = wallets.get(wk) ?? { walletId: from.walletId, certKey: from.certKey, currency: from.currency, allowance: from.allowance, settled: 0n, tokens: [] };
    w.settled += token.charge;
    w.tokens.push(token);
    wallets.set(wk, w);
  };

  const flushGroup = () => {
    if (group.length === 0) return;
    // Usually one token per (wallet, counter): settle it without a map (a clone's tokens share the counter).
    const first = group[0]!.tokenHash;
    if (group.every((r) => r.tokenHash === first || equalBytes(r.tokenHash, first))) {
      settleToken(group);
    } else {
      const byToken = new Map<string, SettleRow[]>();
      for (const r of group) {
        const k = toHex(r.tokenHash);
        const l = byToken.get(k);
        if (l) l.push(r);
        else byToken.set(k, [r]);
      }
      for (const k of [...byToken.keys()].sort()) settleToken(byToken.get(k)!);
    }
    group = [];
  };

  const flushRun = () => {
    flushGroup();
    for (const w of [...wallets.values()].sort((a, b) => (toHex(a.walletId) < toHex(b.walletId) ? -1 : 1) || a.certKey - b.certKey)) {
      const allowance = BigInt(w.allowance);
      if (w.settled <= allowance) continue;
      const excess = w.settled - allowance;
      out.overAllowance.push({ walletId: toHex(w.walletId), certKey: w.certKey.toString(16).padStart(12, '0'), currency: w.currency, allowance, settled: w.settled, exposure: excess, tokens: w.tokens });
      exposure.set(w.currency, (exposure.get(w.currency) ?? 0n) + excess);
    }
    wallets = new Map();
  };

  const push = (r: SettleRow) => {
    if (r.walletKey !== runKey) {
      flushRun();
      runKey = r.walletKey;
    }
    const gk = `${r.walletKey}|${r.counter}`;
    if (gk !== groupKey) {
      flushGroup();
      groupKey = gk;
    }
    group.push(r);
  };
  const finish = () => {
    flushRun();

    out.lines = [...lines.values()]
      .sort((a, b) => a.operatorId - b.operatorId || a.currency - b.currency)
      .map((l) => ({ operatorId: l.operatorId, currency: l.currency, count: l.count, gross: l.gross, feeBps: o.feeBps, ...feeFor(l.gross, o.feeBps) }));
    out.exposure = [...exposure.entries()].sort((a, b) => a[0] - b[0]).map(([currency, amount]) => ({ currency, amount }));
    out.overAllowance.sort((a, b) => (a.walletId < b.walletId ? -1 : a.walletId > b.walletId ? 1 : 0) || (a.certKey < b.certKey ? -1 : 1));
    return out;
  };
  return { push, finish };
}
