/**
 * Webhook signatures (spec/clearing-api.md §9.4), Stripe-style, so a merchant can check them in any language:
 *
 *   header  Offpay-Signature: t=<unix seconds>,v1=<64 lower-case hex digits>
 *   v1      = HMAC-SHA256(key = the secret's ASCII bytes (64 hex digits, not decoded), message = t || "." || body)
 *
 * where t is the decimal ASCII of the delivery time and body the exact bytes of the request body. The receiver
 * recomputes v1 over the body it received (before parsing it), compares in constant time, and refuses a t
 * more than WEBHOOK_TOLERANCE_SECONDS away from its own clock (a replayed delivery). Every try signs anew
 * with its own t; the body (and so the event id) stays the same.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The tolerance a receiver allows between t and its clock, seconds (5 minutes). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;
/** The name of the signature header. */
export const SIGNATURE_HEADER = 'offpay-signature';

/** The v1 signature: lower-case hex HMAC-SHA256 of `t.body` with the secret's ASCII bytes as key. */
export function webhookSignature(secret: string, t: number, body: Uint8Array): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${t}.`, 'utf8').update(body).digest('hex');
}

/** The Offpay-Signature header value for a delivery at time `t` (unix seconds). */
export function signatureHeader(secret: string, t: number, body: Uint8Array): string {
  return `t=${t},v1=${webhookSignature(secret, t, body)}`;
}

/** Why a signature check failed (or ok). */
export type SignatureCheck = { ok: true; t: number } | { ok: false; reason: 'malformed_header' | 'too_old' | 'too_new' | 'bad_signature' };

/**
 * The receiver's check (what a merchant implements): parse `t=` and every `v1=` (a header may carry several,
 * e.g. during a secret rotation), refuse |now - t| > tolerance, and accept when one v1 equals the HMAC over the
 * raw body (constant time).
 */
export function checkWebhookSignature(header: string | undefined, body: Uint8Array, secret: string, now: number, toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS): SignatureCheck {
  if (!header || header.length > 1024) return { ok: false, reason: 'malformed_header' };
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) return { ok: false, reason: 'malformed_header' };
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 't') {
      if (!/^\d{1,15}$/.test(v) || t !== undefined) return { ok: false, reason: 'malformed_header' };
      t = Number(v);
    } else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) v1.push(v);
  }
  if (t === undefined || v1.length === 0) return { ok: false, reason: 'malformed_header' };
  if (now - t > toleranceSeconds) return { ok: false, reason: 'too_old' };
  if (t - now > toleranceSeconds) return { ok: false, reason: 'too_new' };
  const want = Buffer.from(webhookSignature(secret, t, body), 'hex');
  let ok = false;
  for (const s of v1) ok = timingSafeEqual(Buffer.from(s, 'hex'), want) || ok;
  return ok ? { ok: true, t } : { ok: false, reason: 'bad_signature' };
}
