/**
 * Human forms for human output (never for --json, which keeps the machine forms: numeric currency, unix
 * seconds, minor units).
 *
 * - currency: ISO 4217 alpha code with the numeric in parentheses, 'HKD (344)';
 * - times (unix seconds): ISO 8601 UTC to the second, '2026-11-22T12:00:00Z';
 * - days (days since 1970-01-01, as in a wallet certificate's expiryDay): '2026-12-22 (day 20809)';
 * - amounts (minor units): 'HKD 12.50' in the message's currency;
 * - messages and certificates: one labelled line per field, nested structures indented beneath their label.
 */
import { currencyByNumeric, formatMoney } from '../currency.js';

export function isoTime(unixSeconds: number): string {
  if (!Number.isFinite(unixSeconds)) return String(unixSeconds);
  const d = new Date(unixSeconds * 1000);
  return Number.isNaN(d.getTime()) ? String(unixSeconds) : d.toISOString().replace('.000Z', 'Z');
}

export function dayDate(day: number): string {
  const d = new Date(day * 86400 * 1000);
  return Number.isNaN(d.getTime()) ? `day ${day}` : `${d.toISOString().slice(0, 10)} (day ${day})`;
}

export function currencyName(numeric: number): string {
  const c = currencyByNumeric(numeric);
  return c ? `${c.alpha} (${numeric})` : `unknown currency ${numeric}`;
}

export function money(minor: number, currency: number | undefined): string {
  if (currency === undefined || !currencyByNumeric(currency)) return `${minor} minor units${currency === undefined ? '' : ` of currency ${currency}`}`;
  return formatMoney(minor, currency);
}

const TIME_KEYS = new Set(['time', 'notBefore', 'notAfter', 'issuedAt', 'acceptedAt', 'createdAt']);
const DAY_KEYS = new Set(['expiryDay', 'day']);
const AMOUNT_KEYS = new Set(['amount', 'maxPerPayment', 'offlineAllowance', 'gross', 'fee', 'net', 'charged']);
/** Fields the human form leaves out because another line already says it in human form. */
const SKIP_KEYS = new Set(['amountText']);

/** 'walletPublicKey' -> 'wallet public key'. */
export function label(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

function scalar(key: string, v: unknown, currency: number | undefined): string {
  if (typeof v === 'number') {
    if (key === 'currency') return currencyName(v);
    if (TIME_KEYS.has(key)) return isoTime(v);
    if (DAY_KEYS.has(key)) return dayDate(v);
    if (AMOUNT_KEYS.has(key)) return money(v, currency);
  }
  return String(v);
}

/**
 * Lay out a decoded message (as the --json form has it) as labelled lines. Amounts take the currency of the
 * nearest enclosing object that has one (a token's certificate currency is passed in as `currency`).
 */
export function layout(obj: Record<string, unknown>, o: { currency?: number; indent?: number } = {}): string[] {
  const pad = ' '.repeat(o.indent ?? 0);
  const currency = typeof obj.currency === 'number' ? obj.currency : o.currency;
  const entries = Object.entries(obj).filter(([k, v]) => !SKIP_KEYS.has(k) && v !== undefined);
  const width = Math.max(16, ...entries.map(([k]) => label(k).length + 1));
  const lines: string[] = [];
  for (const [k, v] of entries) {
    if (Array.isArray(v)) {
      lines.push(`${pad}${label(k)}${v.length ? '' : ' (none)'}`);
      v.forEach((item, i) => {
        if (item && typeof item === 'object') {
          lines.push(`${pad}  [${i + 1}]`);
          lines.push(...layout(item as Record<string, unknown>, { ...(currency !== undefined ? { currency } : {}), indent: (o.indent ?? 0) + 4 }));
        } else lines.push(`${pad}  ${scalar(k, item, currency)}`);
      });
    } else if (v && typeof v === 'object') {
      lines.push(`${pad}${label(k)}`);
      lines.push(...layout(v as Record<string, unknown>, { ...(currency !== undefined ? { currency } : {}), indent: (o.indent ?? 0) + 2 }));
    } else {
      lines.push(`${pad}${label(k).padEnd(width)} ${scalar(k, v, currency)}`);
    }
  }
  return lines;
}
