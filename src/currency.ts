/**
 * ISO 4217 currencies: numeric code (what goes on the wire), alphabetic code and minor-unit exponent.
 * Amounts are always integers in minor units (HKD 12.50 = 1250, JPY 500 = 500); never floats.
 */
import { OffpayError } from '../base/errors.js';

/**
 * An ISO 4217 currency: alphabetic code (`HKD`), numeric code (344, what goes on the wire) and minor-unit
 * exponent (2: amounts are in cents).
 */
export interface Currency {
  /** Alphabetic code, upper case (`HKD`). */
  alpha: string;
  /** Numeric code, 1..999 (344). */
  numeric: number;
  /** Decimal places of the minor unit (0 for JPY, 2 for HKD, 3 for KWD). */
  exponent: number;
}

// Source: ISO 4217 list one (numeric code, minor unit), as published by SIX Group.
const TABLE: Currency[] = [
  { alpha: 'AUD', numeric: 36, exponent: 2 },
  { alpha: 'BHD', numeric: 48, exponent: 3 },
  { alpha: 'CAD', numeric: 124, exponent: 2 },
  { alpha: 'CNY', numeric: 156, exponent: 2 },
  { alpha: 'HKD', numeric: 344, exponent: 2 },
  { alpha: 'INR', numeric: 356, exponent: 2 },
  { alpha: 'JPY', numeric: 392, exponent: 0 },
  { alpha: 'KRW', numeric: 410, exponent: 0 },
  { alpha: 'KWD', numeric: 414, exponent: 3 },
  { alpha: 'MOP', numeric: 446, exponent: 2 },
  { alpha: 'SGD', numeric: 702, exponent: 2 },
  { alpha: 'CHF', numeric: 756, exponent: 2 },
  { alpha: 'GBP', numeric: 826, exponent: 2 },
  { alpha: 'USD', numeric: 840, exponent: 2 },
  { alpha: 'TWD', numeric: 901, exponent: 2 },
  { alpha: 'EUR', numeric: 978, exponent: 2 },
];

/** Largest amount {@link parseAmount} returns, minor units: 2^53 - 1 (exact in a double). */
export const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;

/**
 * The currency with this alphabetic code (any case).
 * @throws OffpayError `currency.unknown` for a code not in offpay's table.
 */
export function currencyByAlpha(alpha: string): Currency {
  const c = TABLE.find((x) => x.alpha === alpha.toUpperCase());
  if (!c) throw new OffpayError('currency.unknown', `unknown currency '${alpha}' (known: ${TABLE.map((x) => x.alpha).join(', ')})`);
  return c;
}

/** The currency with this ISO 4217 numeric code, or undefined if offpay's table does not list it. */
export function currencyByNumeric(numeric: number): Currency | undefined {
  return TABLE.find((x) => x.numeric === numeric);
}

/** Accepts 'HKD' or '344'. */
export function parseCurrency(s: string): Currency {
  if (/^\d{1,3}$/.test(s)) {
    const c = currencyByNumeric(Number(s));
    if (!c) throw new OffpayError('currency.unknown', `unknown ISO 4217 numeric code ${s}`);
    return c;
  }
  return currencyByAlpha(s);
}

/** '12.50' in HKD -> 1250. Rejects signs, exponents, more decimals than the currency has, and overflow. */
export function parseAmount(s: string, currency: Currency): number {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) throw new OffpayError('amount.invalid', `'${s}' is not an amount (use digits with an optional decimal point, e.g. 12.50)`);
  const whole = m[1]!;
  const frac = m[2] ?? '';
  if (frac.length > currency.exponent) {
    throw new OffpayError('amount.invalid', `${currency.alpha} has ${currency.exponent} decimal places; '${s}' has ${frac.length}`);
  }
  const minor = BigInt(whole) * 10n ** BigInt(currency.exponent) + BigInt(frac.padEnd(currency.exponent, '0') || '0');
  if (minor > BigInt(MAX_AMOUNT)) throw new OffpayError('amount.invalid', `amount '${s}' is too large`);
  return Number(minor);
}

/** 1250 HKD -> '12.50'. Takes a bigint too (settlement totals can pass 2^53). */
export function formatAmount(minor: number | bigint, currency: Currency | number): string {
  const c = typeof currency === 'number' ? currencyByNumeric(currency) : currency;
  const exp = c?.exponent ?? 0;
  const s = String(minor).padStart(exp + 1, '0');
  return exp ? `${s.slice(0, -exp)}.${s.slice(-exp)}` : s;
}

/**
 * Format an amount in minor units with its currency's alphabetic code: `formatMoney(1250, 344)` is `HKD 12.50`
 * (an unknown code prints as `#<code>`).
 */
export function formatMoney(minor: number | bigint, currency: number): string {
  const c = currencyByNumeric(currency);
  return `${c?.alpha ?? `#${currency}`} ${formatAmount(minor, currency)}`;
}
