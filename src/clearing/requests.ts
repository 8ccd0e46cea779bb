/**
 * One request, one settlement (spec/clearing.md M9 and §5 step 0): of the tokens that answered one payment request
 * of one reader (reader id, request time, challenge), only one settles.
 *
 * A request is (reader id, request time, challenge), whatever certificate carried its sales: keyed by operator too,
 * two certificates of one reader id (a re-certification, M4) made two requests of one, and a reader holding both
 * had both tokens settled (attack review, 2026-12-07).
 *
 * An honest reader takes one token a request: it refuses a second as `request_already_paid` (spec/reader.md §2
 * step 4) and closes the request when its sale completes or is voided. Two tokens for one request therefore mean a
 * reader that took them anyway: a hostile or broken reader, with a wallet that signed a request twice (one without
 * the memory of spec/protocol.md §9.1, or two wallets answering one screen). Without this rule both settle and the
 * customer pays twice for one purchase.
 *
 * The decision is a function of the request's sales held, not of arrival: per request, the valid `accept` entries
 * not voided by a valid void of their journal (a voided sale settles nothing anyway); for each token its earliest
 * such entry by (dated before its request, time, journal id bytewise, seq); the token whose earliest entry comes first settles, and every
 * other token of the request settles not at all (`excluded`), reported as `requestsPaidTwice`. A request with one
 * token left after voids is not a finding.
 */
import { toHex } from '../../base/hex.js';
import type { RequestSaleRow } from './store.js';

/** A request sale as the report names it. */
export interface RequestSaleRef {
  /** SHA-256 of the token, hex. */
  tokenHash: string;
  /** The journal holding the entry, hex. */
  journalId: string;
  /** The entry's seq. */
  seq: number;
  /** The entry's reader time, unix seconds. */
  time: number;
}

/** A request that more than one token paid (spec/clearing.md §7 `requestsPaidTwice`): one settles, the others not. */
export interface RequestPaidTwice {
  /** The reader that issued the request and took the tokens. */
  readerId: number;
  /** The request's time, unix seconds. */
  requestTime: number;
  /** The request's challenge, hex (8 bytes). */
  challenge: string;
  /** The token that settles: the earliest entry of the first token. */
  settled: RequestSaleRef;
  /** The other tokens (each by its earliest entry), by token hash: they settle not at all. */
  unsettled: RequestSaleRef[];
}

/**
 * A sale dated before the request it answers: no honest reader makes one (it opens the request, then takes the
 * token, on one clock), but the key of a till whose certificate ended just before the request's can date one so
 * (a token's time may be up to maxFutureSeconds after its entry): such sales come after every other.
 */
const early = (r: RequestSaleRow): number => (r.time < r.reqTime ? 1 : 0);
/** (dated before its request, time, journal id bytewise, seq): equal-length hex strings compare as their bytes. */
const earlier = (a: RequestSaleRow, b: RequestSaleRow, aj: string, bj: string): number =>
  early(a) - early(b) || a.time - b.time || (aj < bj ? -1 : aj > bj ? 1 : 0) || a.seq - b.seq;

/** What {@link decideRequests} decides. */
export interface RequestDecision {
  /** The requests more than one token paid, by (reader id, request time, challenge). */
  findings: RequestPaidTwice[];
  /** The token hashes (hex) that do not settle: every token of a finding but the one that settles. */
  excluded: Set<string>;
}

/**
 * Decide over the sales of any number of requests (rows in any order): the findings and the token hashes that do
 * not settle. A request is (reader id, request time, challenge).
 */
export function decideRequests(rows: readonly RequestSaleRow[]): RequestDecision {
  const byRequest = new Map<string, RequestSaleRow[]>();
  for (const r of rows) {
    if (r.voided) continue;
    const k = `${r.readerId}|${r.reqTime}|${toHex(r.reqChallenge)}`;
    const l = byRequest.get(k);
    if (l) l.push(r);
    else byRequest.set(k, [r]);
  }
  const findings: RequestPaidTwice[] = [];
  const excluded = new Set<string>();
  for (const sales of byRequest.values()) {
    const first = new Map<string, { row: RequestSaleRow; journalId: string }>();
    for (const row of sales) {
      const h = toHex(row.tokenHash);
      const journalId = toHex(row.journalId);
      const held = first.get(h);
      if (!held || earlier(row, held.row, journalId, held.journalId) < 0) first.set(h, { row, journalId });
    }
    if (first.size < 2) continue;
    const tokens = [...first.entries()].sort(([, a], [, b]) => earlier(a.row, b.row, a.journalId, b.journalId));
    const ref = ([h, { row, journalId }]: (typeof tokens)[number]): RequestSaleRef => ({ tokenHash: h, journalId, seq: row.seq, time: row.time });
    const r0 = tokens[0]![1].row;
    const unsettled = tokens.slice(1).map(ref).sort((a, b) => (a.tokenHash < b.tokenHash ? -1 : 1));
    for (const u of unsettled) excluded.add(u.tokenHash);
    findings.push({ readerId: r0.readerId, requestTime: r0.reqTime, challenge: toHex(r0.reqChallenge), settled: ref(tokens[0]!), unsettled });
  }
  findings.sort((a, b) => a.readerId - b.readerId || a.requestTime - b.requestTime || (a.challenge < b.challenge ? -1 : a.challenge > b.challenge ? 1 : 0));
  return { findings, excluded };
}
