/**
 * The reader configuration schema, as data, and the one function that validates against it.
 *
 * A deployment configures a reader with a policy (the CLI reads it from READER/policy.json; a library user
 * passes the same fields as ReaderOptions). Every field has a type and a unit; an unknown key, a value of
 * the wrong type ("24h" for a number of seconds), a value out of range or an enum spelled differently
 * ("Refuse") is refused with a message naming the field: a silently misread money rule is worse than a
 * reader that does not start (issue 11, finding 10). spec/reader.md §14 shows this table.
 */
import { parseAmount, parseCurrency } from '../currency.js';
import { OffpayError } from '../../base/errors.js';
import { nearestKey } from '../../base/options.js';
import type { ReaderProfileName } from '../messages.js';
import { READER_PROFILES, type CurrencyLimits, type ReaderProfileParams } from './profiles.js';

/** The two codes a policy check raises: `reader.bad_config` (ReaderOptions, library) and `reader.bad_policy` (the CLI's policy file). */
type PolicyErrorCode = 'reader.bad_config' | 'reader.bad_policy';

/** The type of one reader-configuration field in {@link PROFILE_SCHEMA} (spec/reader.md §14). */
export type FieldType =
  | {
      /** A whole number of seconds. */
      kind: 'seconds';
      /** Smallest value allowed, seconds. */
      min: number;
      /** Largest value allowed, seconds. */
      max: number;
    }
  | {
      /** A whole number of milliseconds. */
      kind: 'milliseconds';
      /** Smallest value allowed, milliseconds. */
      min: number;
      /** Largest value allowed, milliseconds. */
      max: number;
    }
  | {
      /** true or false. */
      kind: 'boolean';
    }
  | {
      /** One of `values`, spelled exactly. */
      kind: 'enum';
      /** The allowed values. */
      values: readonly string[];
    };

/** One profile field: its type and unit, the range allowed, and what it means. */
export interface FieldSpec {
  /** The field's type, unit and range. */
  type: FieldType;
  /** What the field means (spec/reader.md §14 shows it). */
  help: string;
}

const DAY = 86_400;

/** Every profile field a policy may override (the profile name comes from the reader certificate). */
export const PROFILE_SCHEMA: Record<Exclude<keyof ReaderProfileParams, 'name'>, FieldSpec> = {
  requireRequest: { type: { kind: 'boolean' }, help: 'every token must answer the open payment request of this reader' },
  maxAgeSeconds: { type: { kind: 'seconds', min: 1, max: DAY }, help: 'token/request age when answering a request' },
  oneWayMaxAgeSeconds: { type: { kind: 'seconds', min: 1, max: DAY }, help: 'age of a one-way token' },
  maxFutureSeconds: { type: { kind: 'seconds', min: 0, max: 3600 }, help: 'clock skew allowed for times in the future' },
  maxTripSeconds: { type: { kind: 'seconds', min: 0, max: 2 * DAY }, help: 'tap-in to tap-out' },
  blocklistMaxAgeSeconds: { type: { kind: 'seconds', min: 60, max: 30 * DAY }, help: 'blocklist freshness' },
  whenBlocklistStale: { type: { kind: 'enum', values: ['refuse', 'reduce'] }, help: 'with a stale blocklist: refuse, or accept up to staleMaxAmount' },
  voidWindowSeconds: { type: { kind: 'seconds', min: 0, max: DAY }, help: 'how long a pending sale may be voided' },
  decisionBudgetMs: { type: { kind: 'milliseconds', min: 1, max: 60_000 }, help: 'benchmark goal' },
  resumeWindowSeconds: { type: { kind: 'seconds', min: 0, max: 600 }, help: 'how long a pending sale may be resumed by the same token' },
  allowZeroFare: { type: { kind: 'boolean' }, help: 'accept a tap-out fare of 0' },
  tapOutWithoutTapIn: { type: { kind: 'enum', values: ['charge', 'refuse'] }, help: 'a tap-out with no tap-in at this gate: record it (clearing charges the maximum fare) or refuse' },
  requireExit: { type: { kind: 'boolean' }, help: 'take a tap-out only as an exit signed afresh by the wallet, never as the tap-in token shown again' },
  exitMaxAgeSeconds: { type: { kind: 'seconds', min: 1, max: 3600 }, help: 'oldest acceptable exit (its signed time before the reader clock)' },
};

/** Top-level keys of the policy file, and the keys of one currency's limits (amounts as strings in major units). */
export const POLICY_KEYS = ['window', 'acceptUnlistedCurrencies', 'limits', 'profile'] as const;
/** The fields a per-currency entry of a reader policy may have (the keys of {@link CurrencyLimits}). */
export const LIMIT_KEYS = ['minAmount', 'maxAmount', 'dailyTotal', 'staleMaxAmount'] as const;
/** Anti-replay window W: a multiple of 8 in 8..4096 (spec/reader.md §3). */
export const WINDOW_RANGE = {
  /** Smallest window, counters. */
  min: 8,
  /** Largest window, counters. */
  max: 4096,
  /** The window is a multiple of this many counters (whole bytes of the bitmap). */
  multipleOf: 8,
} as const;

function unknownKey(code: PolicyErrorCode, where: string, key: string, known: readonly string[]): OffpayError {
  const guess = nearestKey(key, known);
  const hint = guess ? ` (did you mean "${guess}"?)` : '';
  return new OffpayError(code, `${where}: unknown key "${key}"${hint}; known keys: ${known.join(', ')}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkField(code: PolicyErrorCode, where: string, name: string, spec: FieldSpec, v: unknown): unknown {
  const t = spec.type;
  const at = `${where}.${name}`;
  switch (t.kind) {
    case 'boolean':
      if (typeof v !== 'boolean') throw new OffpayError(code, `${at} must be true or false, not ${JSON.stringify(v)}`);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !t.values.includes(v)) throw new OffpayError(code, `${at} must be exactly one of ${t.values.map((x) => `"${x}"`).join(', ')}, not ${JSON.stringify(v)}`);
      return v;
    case 'seconds':
    case 'milliseconds': {
      const unit = t.kind;
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
        throw new OffpayError(code, `${at} is a whole number of ${unit} (for example ${t.kind === 'seconds' ? '86400 for a day' : '300'}), not ${JSON.stringify(v)}`);
      }
      if (v < t.min || v > t.max) throw new OffpayError(code, `${at} = ${v} ${unit} is outside ${t.min}..${t.max} ${unit}`);
      return v;
    }
  }
}

/**
 * Validate profile overrides (from a policy file or ReaderOptions.profile): every key known, every value of
 * its type, unit and range. Throws OffpayError `code` naming the field.
 */
export function validateProfileOverrides(o: unknown, code: 'reader.bad_config' | 'reader.bad_policy' = 'reader.bad_config', where = 'profile'): Partial<Omit<ReaderProfileParams, 'name'>> {
  if (o === undefined) return {};
  if (!isObject(o)) throw new OffpayError(code, `${where} must be an object`);
  const known = Object.keys(PROFILE_SCHEMA);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    // Own keys only: "toString" or "constructor" would otherwise find Object.prototype's (a TypeError, not a typed error).
    const spec = Object.hasOwn(PROFILE_SCHEMA, k) ? (PROFILE_SCHEMA as Record<string, FieldSpec>)[k] : undefined;
    if (!spec) throw unknownKey(code, where, k, known);
    out[k] = checkField(code, where, k, spec, v);
  }
  return out as Partial<Omit<ReaderProfileParams, 'name'>>;
}

/** The profile fields clearing judges a reader's entries by (spec/clearing.md §4 step 9). */
export type ClearingBoundField = 'maxAgeSeconds' | 'oneWayMaxAgeSeconds' | 'maxFutureSeconds' | 'maxTripSeconds';

/**
 * The largest value of each time field clearing judges a profile's entries by: clearing checks every entry
 * against the standard row of the reader certificate's profile (a token's age against the larger of its two age
 * limits, a tap-out's against maxTripSeconds, a future time against maxFutureSeconds), so a reader may narrow
 * these and never widen them (spec/reader.md §8). Wider, a gate opens for tokens that clearing stores invalid
 * and charges nothing for, or a long trip is charged the maximum fare although its tap-out was recorded.
 */
export function clearingBounds(profile: ReaderProfileName): Record<ClearingBoundField, number> {
  const row = READER_PROFILES[profile];
  const age = Math.max(row.maxAgeSeconds, row.oneWayMaxAgeSeconds);
  return { maxAgeSeconds: age, oneWayMaxAgeSeconds: age, maxFutureSeconds: row.maxFutureSeconds, maxTripSeconds: row.maxTripSeconds };
}

/** Refuse profile overrides that widen a field clearing judges by ({@link clearingBounds}); `code` names the field. */
export function checkClearingBounds(profile: ReaderProfileName, overrides: Partial<Omit<ReaderProfileParams, 'name'>>, code: PolicyErrorCode, where: string): void {
  const bounds = clearingBounds(profile);
  for (const k of Object.keys(bounds) as ClearingBoundField[]) {
    const v = overrides[k];
    if (v !== undefined && v > bounds[k]) {
      throw new OffpayError(
        code,
        `${where}.${k} = ${v} seconds is above ${bounds[k]}, the most clearing allows a ${profile} reader (it judges every entry by the standard profile): tokens this reader took beyond it would not settle as they did here`,
      );
    }
  }
}

/**
 * Refuse an exit window shorter than the one-way token window (spec/reader.md §8): a wallet whose clock is behind
 * by up to `oneWayMaxAgeSeconds` taps in, and it dates its exit with the same clock, so a shorter
 * `exitMaxAgeSeconds` would let it in and leave it no gate out (its trip then charged the maximum fare; exit attack
 * review, 2026-12-07).
 */
export function checkExitWindow(profile: ReaderProfileName, overrides: Partial<Omit<ReaderProfileParams, 'name'>>, code: PolicyErrorCode, where: string): void {
  const row = READER_PROFILES[profile];
  const exit = effectiveExitMaxAge(profile, overrides);
  const oneWay = overrides.oneWayMaxAgeSeconds ?? row.oneWayMaxAgeSeconds;
  if (exit < oneWay) {
    throw new OffpayError(
      code,
      `${where}.exitMaxAgeSeconds = ${exit} seconds is below oneWayMaxAgeSeconds = ${oneWay}: a wallet whose clock is behind by up to ${oneWay} s can tap in, and it dates its exit with the same clock, so it could not leave`,
    );
  }
}

/**
 * The exit window a profile with these overrides has: the one given, else the row's, raised to the effective
 * `oneWayMaxAgeSeconds` when that is longer (a policy that widens the one-way window widens the exit window with it).
 */
export function effectiveExitMaxAge(profile: ReaderProfileName, overrides: Partial<Omit<ReaderProfileParams, 'name'>>): number {
  const row = READER_PROFILES[profile];
  return overrides.exitMaxAgeSeconds ?? Math.max(row.exitMaxAgeSeconds, overrides.oneWayMaxAgeSeconds ?? row.oneWayMaxAgeSeconds);
}

/** Validate an anti-replay window size. */
export function validateWindow(w: unknown, code: 'reader.bad_config' | 'reader.bad_policy' = 'reader.bad_config', where = 'window'): number {
  if (typeof w !== 'number' || !Number.isInteger(w) || w < WINDOW_RANGE.min || w > WINDOW_RANGE.max || w % WINDOW_RANGE.multipleOf !== 0) {
    throw new OffpayError(code, `${where} ${JSON.stringify(w)} must be a multiple of 8 in 8..4096 (counters)`);
  }
  return w;
}

/** Validate limits already in minor units (ReaderOptions.limits). */
export function validateLimits(o: unknown, code: 'reader.bad_config' | 'reader.bad_policy' = 'reader.bad_config', where = 'limits'): Record<number, CurrencyLimits> {
  if (o === undefined) return {};
  if (!isObject(o)) throw new OffpayError(code, `${where} must be an object keyed by ISO 4217 numeric currency`);
  const out: Record<number, CurrencyLimits> = {};
  for (const [cur, l] of Object.entries(o)) {
    const n = Number(cur);
    if (!Number.isInteger(n) || n < 1 || n > 999) throw new OffpayError(code, `${where}: "${cur}" is not an ISO 4217 numeric currency`);
    if (!isObject(l)) throw new OffpayError(code, `${where}.${cur} must be an object`);
    const lim: CurrencyLimits = {};
    for (const [k, v] of Object.entries(l)) {
      if (!(LIMIT_KEYS as readonly string[]).includes(k)) throw unknownKey(code, `${where}.${cur}`, k, LIMIT_KEYS);
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new OffpayError(code, `${where}.${cur}.${k} must be a non-negative integer of minor units, not ${JSON.stringify(v)}`);
      lim[k as keyof CurrencyLimits] = v;
    }
    out[n] = lim;
  }
  return out;
}

/**
 * A validated reader policy (READER/policy.json, spec/reader.md §14), as returned by {@link parsePolicy}: the
 * {@link ReaderOptions} fields a deployment configures.
 */
export interface ReaderPolicy {
  /** Anti-replay window size W, counters (multiple of 8, 8..4096). */
  window?: number;
  /** Accept currencies that have no entry in `limits`. */
  acceptUnlistedCurrencies?: boolean;
  /** Limits per ISO 4217 numeric currency code, minor units. */
  limits: Record<number, CurrencyLimits>;
  /** Overrides of the profile row named by the reader certificate. */
  profile?: Partial<Omit<ReaderProfileParams, 'name'>>;
}

/**
 * Validate a parsed policy file (spec/reader.md §14): amounts are strings in major units of their currency
 * ("12.50"), currencies by ISO 4217 code or number. Throws `reader.bad_policy` naming the field.
 */
export function parsePolicy(o: unknown, where = 'policy'): ReaderPolicy {
  const code: PolicyErrorCode = 'reader.bad_policy';
  if (!isObject(o)) throw new OffpayError(code, `${where}: not a JSON object`);
  for (const k of Object.keys(o)) if (!(POLICY_KEYS as readonly string[]).includes(k)) throw unknownKey(code, where, k, POLICY_KEYS);
  const out: ReaderPolicy = { limits: {} };
  if (o.window !== undefined) out.window = validateWindow(o.window, code, `${where}: window`);
  if (o.acceptUnlistedCurrencies !== undefined) {
    if (typeof o.acceptUnlistedCurrencies !== 'boolean') throw new OffpayError(code, `${where}.acceptUnlistedCurrencies must be true or false`);
    out.acceptUnlistedCurrencies = o.acceptUnlistedCurrencies;
  }
  if (o.limits !== undefined) {
    if (!isObject(o.limits)) throw new OffpayError(code, `${where}.limits must be an object keyed by currency code`);
    /** The key each currency was given under ("HKD", "344"): one currency twice would silently drop one setting. */
    const keyOf = new Map<number, string>();
    for (const [c, l] of Object.entries(o.limits)) {
      let cur;
      try {
        cur = parseCurrency(c);
      } catch (e) {
        throw new OffpayError(code, `${where}.limits: ${(e as Error).message}`);
      }
      if (!isObject(l)) throw new OffpayError(code, `${where}.limits.${c} must be an object`);
      const lim: CurrencyLimits = {};
      for (const [k, v] of Object.entries(l)) {
        if (!(LIMIT_KEYS as readonly string[]).includes(k)) throw unknownKey(code, `${where}.limits.${c}`, k, LIMIT_KEYS);
        if (typeof v !== 'string') throw new OffpayError(code, `${where}.limits.${c}.${k} is an amount in major units as a string, such as "12.50", not ${JSON.stringify(v)}`);
        try {
          lim[k as keyof CurrencyLimits] = parseAmount(v, cur);
        } catch (e) {
          throw new OffpayError(code, `${where}.limits.${c}.${k}: ${(e as Error).message}`);
        }
      }
      const other = keyOf.get(cur.numeric);
      if (other !== undefined) throw new OffpayError(code, `${where}.limits: "${other}" and "${c}" are the same currency (${cur.numeric}); give its limits once`);
      keyOf.set(cur.numeric, c);
      out.limits[cur.numeric] = lim;
    }
  }
  if (o.profile !== undefined) out.profile = validateProfileOverrides(o.profile, code, `${where}.profile`);
  return out;
}
