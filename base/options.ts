/**
 * Options objects, validated in one place (issue 13, "API shapes that differ for no reason").
 *
 * Every public function or constructor that takes an options object describes it once as an
 * {@link OptionsSchema} (each field: its type, integer or number range, enum members, byte lengths, whether
 * it is required) and calls {@link validateOptions} before using it. A bad option is never a crash or a
 * silently ignored typo: it is an `OffpayError` with the caller's area code (`fsk.bad_input`,
 * `qr.bad_option`, `nfc.bad_option`, `reader.bad_config`, ...; a field may carry its own code, such as
 * `fsk.bad_rate`) whose message and `detail.option` name the option, e.g. `encode options.sampleRate`.
 *
 * Rules, in this order: the value is `undefined` (no options: every field absent) or a plain object (not
 * an array, not null); every key is in the schema (an unknown key is refused, with the nearest known key as a
 * hint); every required field is present; every present field (a field set to `undefined` counts as absent)
 * has its type and range. The object is returned unchanged, typed.
 *
 * Browser-safe, no dependencies but the error type.
 */
import { OffpayError } from './errors.js';
import type { ErrorCode } from './error-codes.js';

/** The type of one option, with its range (bounds inclusive unless said otherwise). */
export type OptionType =
  | { readonly type: 'boolean' }
  /** A safe integer in min..max. */
  | { readonly type: 'integer'; readonly min?: number; readonly max?: number; readonly unit?: string }
  /** A finite number in min..max (`exclusiveMin`: the lower bound is exclusive; `allowInfinity`: +Infinity too). */
  | { readonly type: 'number'; readonly min?: number; readonly max?: number; readonly exclusiveMin?: boolean; readonly allowInfinity?: boolean; readonly unit?: string }
  | { readonly type: 'string'; readonly maxLength?: number }
  /** One of `values`, exactly (case matters). */
  | { readonly type: 'enum'; readonly values: readonly string[] }
  /** A Uint8Array of minLength..maxLength bytes. */
  | { readonly type: 'bytes'; readonly minLength?: number; readonly maxLength?: number }
  | { readonly type: 'function' }
  /** An array of minLength..maxLength items, each of `items` (if given). */
  | { readonly type: 'array'; readonly items?: OptionType; readonly minLength?: number; readonly maxLength?: number }
  /**
   * A non-null object that is not an array or bytes (a store, a certificate, a callback holder), with these
   * methods (functions) and these fields (checked like options, except that other keys are allowed).
   */
  | { readonly type: 'object'; readonly methods?: readonly string[]; readonly fields?: OptionsSchema };

/** One field of an {@link OptionsSchema}: its type and range, whether it is required, and its own error code. */
export type OptionSpec = OptionType & {
  /** The field must be present (not undefined). Default false. */
  readonly required?: boolean;
  /** The error code for a bad value of this field (default: the code given to validateOptions). */
  readonly code?: ErrorCode;
};

/** The fields an options object may have, by name. */
export type OptionsSchema = Readonly<Record<string, OptionSpec>>;

/** Levenshtein distance, case-insensitive (for "did you mean"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** The known key nearest to `key` (edit distance, or a prefix), if any is close enough to be a likely typo. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const prefix = known.find((k) => k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase()));
  const best = known.map((k) => [k, distance(key, k)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? best[0] : prefix;
}

/** A short, safe rendering of any value for an error message (never throws, never long). */
export function describeValue(v: unknown): string {
  let s: string;
  try {
    if (typeof v === 'string') s = JSON.stringify(v);
    else if (typeof v === 'bigint') s = `${v}n`;
    else if (typeof v === 'function') s = 'a function';
    else if (typeof v === 'symbol') s = 'a symbol';
    else if (v instanceof Uint8Array) s = `${v.length} bytes`;
    else if (Array.isArray(v)) s = `an array of ${v.length}`;
    else if (typeof v === 'object' && v !== null) s = 'an object';
    else s = String(v);
  } catch {
    s = 'an unprintable value';
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function expectation(t: OptionType): string {
  switch (t.type) {
    case 'boolean':
      return 'true or false';
    case 'integer':
      return `a whole number${t.unit ? ` of ${t.unit}` : ''}${range(t.min, t.max, false)}`;
    case 'number':
      return `a ${t.allowInfinity === true ? '' : 'finite '}number${t.unit ? ` of ${t.unit}` : ''}${range(t.min, t.max, t.exclusiveMin === true)}`;
    case 'string':
      return t.maxLength !== undefined ? `a string of at most ${t.maxLength} characters` : 'a string';
    case 'enum':
      return `exactly one of ${t.values.map((x) => JSON.stringify(x)).join(', ')}`;
    case 'bytes':
      return `a Uint8Array${t.minLength === t.maxLength && t.minLength !== undefined ? ` of ${t.minLength} bytes` : range(t.minLength, t.maxLength, false, ' bytes')}`;
    case 'function':
      return 'a function';
    case 'array':
      return `an array${range(t.minLength, t.maxLength, false, ' items')}${t.items ? ` of ${expectation(t.items)}` : ''}`;
    case 'object': {
      const parts = [
        ...(t.methods ?? []).map((m) => `${m}()`),
        ...Object.entries(t.fields ?? {}).map(([k, f]) => `${k}: ${expectation(f)}`),
      ];
      return parts.length ? `an object with ${parts.join(', ')}` : 'an object';
    }
  }
}

function range(min: number | undefined, max: number | undefined, exclusiveMin: boolean, unit = ''): string {
  if (min !== undefined && max !== undefined) return exclusiveMin ? ` in (${min}, ${max}]${unit}` : ` in ${min}..${max}${unit}`;
  if (min !== undefined) return exclusiveMin ? ` above ${min}${unit}` : ` of at least ${min}${unit}`;
  if (max !== undefined) return ` of at most ${max}${unit}`;
  return '';
}

function inRange(v: number, min: number | undefined, max: number | undefined, exclusiveMin = false): boolean {
  if (min !== undefined && (exclusiveMin ? !(v > min) : !(v >= min))) return false;
  return !(max !== undefined && !(v <= max));
}

/** True when `v` has type and range `t`. */
export function matchesOption(t: OptionType, v: unknown): boolean {
  switch (t.type) {
    case 'boolean':
      return typeof v === 'boolean';
    case 'integer':
      return typeof v === 'number' && Number.isSafeInteger(v) && inRange(v, t.min, t.max);
    case 'number':
      return typeof v === 'number' && (Number.isFinite(v) || (t.allowInfinity === true && v === Infinity)) && inRange(v, t.min, t.max, t.exclusiveMin === true);
    case 'string':
      return typeof v === 'string' && (t.maxLength === undefined || v.length <= t.maxLength);
    case 'enum':
      return typeof v === 'string' && t.values.includes(v);
    case 'bytes':
      return v instanceof Uint8Array && inRange(v.length, t.minLength, t.maxLength);
    case 'function':
      return typeof v === 'function';
    case 'array':
      return Array.isArray(v) && inRange(v.length, t.minLength, t.maxLength) && (t.items === undefined || v.every((x) => matchesOption(t.items!, x)));
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
      const o = v as Record<string, unknown>;
      if (!(t.methods ?? []).every((m) => typeof o[m] === 'function')) return false;
      return Object.entries(t.fields ?? {}).every(([k, f]) => (o[k] === undefined ? f.required !== true : matchesOption(f, o[k])));
    }
  }
}

/**
 * Check an options object against its schema (rules in the file comment); return it typed. `name` says whose
 * options they are (`encode options`, `ReaderOptions`) and prefixes every field in messages; `code` is the
 * area's error code for a bad option. Throws `OffpayError(code)` with `detail.option` = `name.field` (or
 * `name` itself when the whole value is not an object).
 */
export function validateOptions<T extends object>(name: string, value: unknown, schema: OptionsSchema, code: ErrorCode): T {
  if (value === undefined) value = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new OffpayError(code, `${name} must be an object, not ${describeValue(value)}`, { option: name });
  }
  const o = value as Record<string, unknown>;
  const known = Object.keys(schema);
  for (const key of Object.keys(o)) {
    if (!Object.prototype.hasOwnProperty.call(schema, key)) {
      const guess = nearestKey(key, known);
      throw new OffpayError(code, `${name}: unknown option "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; known: ${known.join(', ')}`, {
        option: `${name}.${key}`,
      });
    }
  }
  for (const [key, spec] of Object.entries(schema)) {
    const v = o[key];
    if (v === undefined) {
      if (spec.required === true) throw new OffpayError(spec.code ?? code, `${name}.${key} is required (${expectation(spec)})`, { option: `${name}.${key}` });
      continue;
    }
    if (!matchesOption(spec, v)) {
      throw new OffpayError(spec.code ?? code, `${name}.${key} must be ${expectation(spec)}, not ${describeValue(v)}`, { option: `${name}.${key}` });
    }
  }
  return o as T;
}

/**
 * The fields of `value` that `schema` knows, for an adapter whose one options object feeds several consumers
 * (each of which validates its part). Not a validation: call validateOptions on the result.
 */
export function pickOptions<T extends object>(value: T | undefined, schema: OptionsSchema): Partial<T> {
  const out: Record<string, unknown> = {};
  if (typeof value !== 'object' || value === null) return out as Partial<T>;
  for (const k of Object.keys(schema)) if ((value as Record<string, unknown>)[k] !== undefined) out[k] = (value as Record<string, unknown>)[k];
  return out as Partial<T>;
}
