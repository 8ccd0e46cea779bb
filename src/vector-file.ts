/**
 * What the vector-file parsers share (src/vector-suites.ts, src/webhook-vectors.ts, src/sync-vectors.ts): the
 * JSON text read as an object of the expected `algorithm`, and field checks that each fail with
 * `vectors.bad_file` naming the file, the place and the field. Browser-safe.
 */
import { OffpayError } from '../base/errors.js';

/** A JSON object as parsed. */
export type Obj = Record<string, unknown>;
/** A JSON object (not null, not an array). */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** `vectors.bad_file` unless `cond`: "`name`: `where`: `what`". */
export function need(cond: boolean, name: string, where: string, what: string): void {
  if (!cond) throw new OffpayError('vectors.bad_file', `${name}: ${where}: ${what}`);
}

/** `o[k]` is a string. */
export const stringField = (o: Obj, k: string, name: string, where: string): void => need(typeof o[k] === 'string', name, where, `${k} is not a string`);
/** `o[k]` is a string of hex byte pairs. */
export const hexField = (o: Obj, k: string, name: string, where: string): void => need(typeof o[k] === 'string' && HEX.test(o[k]), name, where, `${k} is not a hex string`);
/** `o[k]` is a safe integer. */
export const intField = (o: Obj, k: string, name: string, where: string): void => need(Number.isSafeInteger(o[k]), name, where, `${k} is not an integer`);
/** `o[k]` is a safe integer >= 0. */
export const uintField = (o: Obj, k: string, name: string, where: string): void => need(Number.isSafeInteger(o[k]) && (o[k] as number) >= 0, name, where, `${k} is not a non-negative integer`);

/** The file's text as a JSON object whose `algorithm` is `algorithm`. @throws OffpayError `vectors.bad_file`. */
export function parseVectorJson(text: string, name: string, algorithm: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new OffpayError('vectors.bad_file', `${name}: ${(e as Error).message}`);
  }
  need(isObj(v), name, 'top level', 'not a JSON object');
  const o = v as Obj;
  need(o.algorithm === algorithm, name, 'algorithm', `expected ${algorithm}, found ${JSON.stringify(o.algorithm)}`);
  return o;
}
