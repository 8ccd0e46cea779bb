/**
 * Paging of `GET /v1/refunds` (spec/clearing-api.md §2.9): the query (`limit`, `after`) and the opaque cursor.
 *
 * Keyset paging on the store's refund number (`seq`, ascending in commit order, ClearingStore.refundsAfter): a
 * page is the refunds numbered above the cursor's, so refunds stored while a client pages appear on a later
 * page, none is listed twice and none is skipped. The cursor is `next` of the previous page, 12 base64url
 * characters: the bytes 0x01 (the cursor's version) and the seq of that page's last refund as a big-endian
 * unsigned 64-bit integer. Clients treat it as opaque; the server refuses any string that is not exactly the
 * encoding of a seq in 1 .. 2^53 - 1 (`api.bad_cursor`).
 */
import { REFUND_PAGE_DEFAULT, REFUND_PAGE_MAX } from '../clearing/refunds.js';
import { HttpError } from './body.js';

/** Length of a cursor, characters (base64url of 9 bytes). */
export const REFUND_CURSOR_CHARS = 12;
const CURSOR_VERSION = 1;

/** The cursor of the page that ends with the refund numbered `seq` (a safe integer >= 1). */
export function encodeRefundCursor(seq: number): string {
  const b = Buffer.alloc(9);
  b[0] = CURSOR_VERSION;
  b.writeBigUInt64BE(BigInt(seq), 1);
  return b.toString('base64url');
}

/** The seq a cursor names; throws HttpError 400 `api.bad_cursor` for anything but a cursor this server makes. */
export function decodeRefundCursor(s: string): number {
  const bad = (why: string) => new HttpError(400, 'api.bad_cursor', `after: not a cursor of this list (${why}); pass the \`next\` of the previous page as it is`);
  if (s.length !== REFUND_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(s)) throw bad(`${REFUND_CURSOR_CHARS} base64url characters expected`);
  const b = Buffer.from(s, 'base64url');
  if (b.length !== 9 || b.toString('base64url') !== s) throw bad('not canonical');
  if (b[0] !== CURSOR_VERSION) throw bad(`version ${b[0]}`);
  const seq = b.readBigUInt64BE(1);
  if (seq < 1n || seq > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('out of range');
  return Number(seq);
}

/** The page a `GET /v1/refunds` asks for: `after` is the seq to list after (0: from the first). */
export interface RefundQuery {
  /** Refunds per page, 1 .. REFUND_PAGE_MAX (default REFUND_PAGE_DEFAULT). */
  limit: number;
  /** List the refunds numbered above this (0 without a cursor). */
  after: number;
}

/**
 * Parse the query string of `GET /v1/refunds` (without the `?`). `limit` is a decimal integer 1 .. 1000
 * without sign or leading zeros, given at most once (else 400 `api.bad_limit`); `after` a cursor, at most once
 * (else 400 `api.bad_cursor`). Other parameters are ignored.
 */
export function parseRefundQuery(query: string): RefundQuery {
  const p = new URLSearchParams(query);
  const limits = p.getAll('limit');
  const afters = p.getAll('after');
  let limit = REFUND_PAGE_DEFAULT;
  if (limits.length > 1) throw new HttpError(400, 'api.bad_limit', 'limit: given more than once');
  if (limits.length === 1) {
    const v = limits[0]!;
    if (!/^[1-9][0-9]{0,3}$/.test(v) || Number(v) > REFUND_PAGE_MAX) throw new HttpError(400, 'api.bad_limit', `limit: '${v.slice(0, 20)}' is not an integer in 1..${REFUND_PAGE_MAX}`);
    limit = Number(v);
  }
  if (afters.length > 1) throw new HttpError(400, 'api.bad_cursor', 'after: given more than once');
  const after = afters.length === 1 ? decodeRefundCursor(afters[0]!) : 0;
  return { limit, after };
}
