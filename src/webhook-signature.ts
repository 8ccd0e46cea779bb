/**
 * Webhook signatures (spec/clearing-api.md §9.4), Stripe-style, so a merchant can check them in any language:
 *
 *   header  Offpay-Signature: t=<unix seconds>,v1=<64 lower-case hex digits>
 *   v1      = HMAC-SHA256(key = the secret's ASCII bytes (64 hex digits, not decoded), message = t || "." || body)
 *
 * where t is the decimal ASCII of the delivery time (no leading zeros) and body the exact bytes of the request
 * body. The receiver recomputes v1 over the body it received (before parsing it), compares in constant time,
 * and refuses a t more than WEBHOOK_TOLERANCE_SECONDS away from its own clock (a replayed delivery). Every try
 * signs anew with its own t; the body (and so the event id) stays the same.
 *
 * Browser-safe (HMAC from @noble/hashes by default), so a merchant's Node server, edge worker or browser tool
 * checks deliveries with the same code; offpay/node's `nodeHmacSha256` is node:crypto's HMAC for the `mac`
 * argument. The vectors: fixtures/webhook/webhook_signature.json (src/webhook-vectors.ts runs them).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes } from '../base/bytes.js';
import { toHex, fromHex } from '../base/hex.js';
import { utf8 } from './crypto.js';

/** The tolerance a receiver allows between t and its clock, seconds (5 minutes). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;
/** The name of the signature header (HTTP header names are case-insensitive; Node gives them in lower case). */
export const WEBHOOK_SIGNATURE_HEADER = 'offpay-signature';
/** Longest Offpay-Signature value a receiver reads, characters (a longer one is `malformed_header`). */
export const WEBHOOK_SIGNATURE_MAX_LENGTH = 1024;

/** HMAC-SHA256 of `message` under `key` (32 bytes out). */
export type HmacSha256 = (key: Uint8Array, message: Uint8Array) => Uint8Array;

/** HMAC-SHA256 in pure JavaScript (@noble/hashes): the default everywhere. */
export const nobleHmacSha256: HmacSha256 = (key, message) => hmac(sha256, key, message);

/** The bytes a v1 signature covers: ASCII(t) in decimal without leading zeros, ".", then the body as received. */
export function webhookSignedBytes(t: number, body: Uint8Array): Uint8Array {
  return concatBytes([utf8(`${t}.`), body]);
}

/** The v1 signature: lower-case hex HMAC-SHA256 of `t.body` with the secret's ASCII bytes as key. */
export function webhookSignature(secret: string, t: number, body: Uint8Array, mac: HmacSha256 = nobleHmacSha256): string {
  return toHex(mac(utf8(secret), webhookSignedBytes(t, body)));
}

/** The Offpay-Signature header value for a delivery at time `t` (unix seconds). */
export function webhookSignatureHeader(secret: string, t: number, body: Uint8Array, mac: HmacSha256 = nobleHmacSha256): string {
  return `t=${t},v1=${webhookSignature(secret, t, body, mac)}`;
}

/** A delivery whose signature passed. */
export interface WebhookSignatureOk {
  /** The signature passed. */
  ok: true;
  /** The delivery time the header gives (unix seconds). */
  t: number;
}

/** A delivery refused: the reason of the first step of spec/clearing-api.md §9.4 that failed. */
export interface WebhookSignatureRefused {
  /** The delivery is refused: do not process it. */
  ok: false;
  /** malformed_header (steps 1 to 4), too_old or too_new (step 5), bad_signature (step 6). */
  reason: 'malformed_header' | 'too_old' | 'too_new' | 'bad_signature';
}

/** What the receiver's check says. */
export type WebhookSignatureCheck = WebhookSignatureOk | WebhookSignatureRefused;

/**
 * Remove the spaces and tabs around a key or value (HTTP's optional white space), nothing else: String.trim would
 * also remove U+00A0, which a header carries as the byte 0xA0, where the spec removes spaces and tabs only
 * (the vectors hold the case).
 */
const trimOws = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');

/**
 * The receiver's check (what a merchant implements), in the order of spec/clearing-api.md §9.4: parse `t=` and
 * every `v1=` (a header may carry several, e.g. during a secret rotation), refuse |now - t| > tolerance, and
 * accept when one v1 equals the HMAC over the raw body (every candidate compared, in constant time).
 */
export function checkWebhookSignature(
  header: string | undefined | null,
  body: Uint8Array,
  secret: string,
  now: number,
  toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
  mac: HmacSha256 = nobleHmacSha256,
): WebhookSignatureCheck {
  if (!header || header.length > WEBHOOK_SIGNATURE_MAX_LENGTH) return { ok: false, reason: 'malformed_header' };
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) return { ok: false, reason: 'malformed_header' };
    const k = trimOws(part.slice(0, i));
    const v = trimOws(part.slice(i + 1));
    if (k === 't') {
      if (!/^[0-9]{1,15}$/.test(v) || t !== undefined) return { ok: false, reason: 'malformed_header' };
      t = Number(v);
    } else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) v1.push(v);
  }
  if (t === undefined || v1.length === 0) return { ok: false, reason: 'malformed_header' };
  if (now - t > toleranceSeconds) return { ok: false, reason: 'too_old' };
  if (t - now > toleranceSeconds) return { ok: false, reason: 'too_new' };
  const want = mac(utf8(secret), webhookSignedBytes(t, body));
  let ok = false;
  for (const s of v1) ok = equalBytes(fromHex(s), want) || ok; // no early exit: constant time
  return ok ? { ok: true, t } : { ok: false, reason: 'bad_signature' };
}
