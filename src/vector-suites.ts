/**
 * The stateless vector files of the signed issuer key set (fixtures/keyset/keyset_verify.json, spec/protocol.md
 * §4.4) and of the refund (fixtures/refund/refund_verify.json, §4.5), as `offpay vectors check` runs them:
 * parsed with a typed error (`vectors.bad_file`) and checked case by case with any Ed25519 backend.
 *
 * A case passes when offpay's verifier gives its declared verdict (and code), and when the backend gives each
 * listed signature its declared answer: for a refund, every entry of `signatures` (`valid`); for a key set
 * that verifies (`newer` or `unchanged`), the message's signing input is `signedInput` byte for byte and the
 * signature verifies under `signerPublicKey`. refund_clearing.json is a clearing scenario (it needs a
 * clearing database) and is not a stateless file: it is run by the test suite, not here.
 *
 * An asynchronous backend (WebCrypto) answers through {@link withAsyncVerifier}: the synchronous verifier is
 * run against a table of the backend's answers, filled in rounds until it asks nothing new.
 */
import { OffpayError } from '../base/errors.js';
import { hexField, intField, isObj, need, parseVectorJson, type Obj } from './vector-file.js';
import { fromHex, toHex } from '../base/hex.js';
import type { AsyncVerifier, SyncVerifier } from './crypto.js';
import { decodeSignedKeySet, signedKeySetSigningInput, verifySignedKeySet } from './keyset.js';
import { decodeIssuerKeySet } from './messages.js';
import { REFUND_MAX_FUTURE_SECONDS, verifyRefund } from './refund.js';

/** File names `vectors check` looks for (in DIR, or in the keyset/ and refund/ folders of a fixtures tree). */
export const KEYSET_VECTOR_FILE = 'keyset_verify.json';
export const REFUND_VECTOR_FILE = 'refund_verify.json';
/** The refund clearing scenario: needs a clearing database, so `vectors check` leaves it out. */
export const REFUND_CLEARING_FILE = 'refund_clearing.json';

/** One failing check: the file, the case (absent for a file-level problem), the backend, what disagreed. */
export interface SuiteProblem {
  file: string;
  tcId?: number;
  backend: string;
  detail: string;
}

export interface KeySetVectorCase {
  tcId: number;
  comment: string;
  result: 'newer' | 'unchanged' | 'invalid';
  code?: string;
  message: string;
  context: { trustedKeySet: string; now: number; heldIssuedAt: number; maxFutureSeconds: number };
  signedInput?: string;
  signerPublicKey?: string;
}

export interface KeySetVectorFile {
  kind: 'keyset';
  algorithm: 'offpay-signed-keyset-v2';
  numberOfTests: number;
  tests: KeySetVectorCase[];
}

export interface RefundVectorSignature {
  role: string;
  publicKey: string;
  message: string;
  signature: string;
  valid: boolean;
}

export interface RefundVectorCase {
  tcId: number;
  comment: string;
  result: 'valid' | 'invalid';
  code?: string;
  message: string;
  context: { issuerKeySet: string; now: number; maxFutureSeconds: number };
  signatures: RefundVectorSignature[];
}

export interface RefundVectorFile {
  kind: 'refund';
  algorithm: 'offpay-refund-v2';
  numberOfTests: number;
  tests: RefundVectorCase[];
}

// ---------------------------------------------------------------------------------------------------------
// Parsing: every field a check reads is checked for its type here, so checking never meets a surprise.

function parseTop(text: string, name: string, algorithm: string): Obj {
  const o = parseVectorJson(text, name, algorithm);
  need(Number.isSafeInteger(o.numberOfTests), name, 'numberOfTests', 'not an integer');
  need(Array.isArray(o.tests), name, 'tests', 'not an array');
  return o;
}

function caseHead(t: unknown, i: number, name: string, results: readonly string[]): { o: Obj; where: string } {
  need(isObj(t), name, `tests[${i}]`, 'not an object');
  const o = t as Obj;
  const where = `tests[${i}]`;
  intField(o, 'tcId', name, where);
  need(typeof o.comment === 'string', name, where, 'comment is not a string');
  need(results.includes(o.result as string), name, where, `result is not one of ${results.join(', ')}`);
  need(o.code === undefined || typeof o.code === 'string', name, where, 'code is not a string');
  need((o.result === 'invalid') === (typeof o.code === 'string'), name, where, 'an invalid case needs a code, and only an invalid one');
  hexField(o, 'message', name, where);
  need(isObj(o.context), name, where, 'context is not an object');
  return { o, where: `tcId ${String(o.tcId)}` };
}

/** Parse fixtures/keyset/keyset_verify.json. @throws OffpayError `vectors.bad_file`. */
export function parseKeySetVectorFile(text: string, name: string): KeySetVectorFile {
  const top = parseTop(text, name, 'offpay-signed-keyset-v2');
  (top.tests as unknown[]).forEach((t, i) => {
    const { o, where } = caseHead(t, i, name, ['newer', 'unchanged', 'invalid']);
    const c = o.context as Obj;
    hexField(c, 'trustedKeySet', name, where);
    for (const k of ['now', 'heldIssuedAt', 'maxFutureSeconds']) intField(c, k, name, where);
    if (o.signedInput !== undefined) hexField(o, 'signedInput', name, where);
    if (o.signerPublicKey !== undefined) hexField(o, 'signerPublicKey', name, where);
  });
  return { kind: 'keyset', algorithm: 'offpay-signed-keyset-v2', numberOfTests: top.numberOfTests as number, tests: top.tests as KeySetVectorCase[] };
}

/** Parse fixtures/refund/refund_verify.json. @throws OffpayError `vectors.bad_file`. */
export function parseRefundVectorFile(text: string, name: string): RefundVectorFile {
  const top = parseTop(text, name, 'offpay-refund-v2');
  (top.tests as unknown[]).forEach((t, i) => {
    const { o, where } = caseHead(t, i, name, ['valid', 'invalid']);
    const c = o.context as Obj;
    hexField(c, 'issuerKeySet', name, where);
    for (const k of ['now', 'maxFutureSeconds']) intField(c, k, name, where);
    need(Array.isArray(o.signatures), name, where, 'signatures is not an array');
    (o.signatures as unknown[]).forEach((s, j) => {
      need(isObj(s), name, where, `signatures[${j}] is not an object`);
      const so = s as Obj;
      need(typeof so.role === 'string' && typeof so.valid === 'boolean', name, where, `signatures[${j}] needs a role and a boolean valid`);
      for (const k of ['publicKey', 'message', 'signature']) hexField(so, k, name, `${where} signatures[${j}]`);
    });
  });
  return { kind: 'refund', algorithm: 'offpay-refund-v2', numberOfTests: top.numberOfTests as number, tests: top.tests as RefundVectorCase[] };
}

// ---------------------------------------------------------------------------------------------------------
// Checking

const describeError = (e: unknown): string => (e instanceof OffpayError ? e.code : `a crash (${String((e as Error)?.message ?? e)})`);

/** The problems of one key-set case with one backend (none: it passes). */
function keySetCaseProblems(t: KeySetVectorCase, v: SyncVerifier): string[] {
  const out: string[] = [];
  let got: string;
  try {
    const trusted = decodeIssuerKeySet(fromHex(t.context.trustedKeySet));
    got = verifySignedKeySet(fromHex(t.message), { trusted, now: t.context.now, heldIssuedAt: t.context.heldIssuedAt, maxFutureSeconds: t.context.maxFutureSeconds, verifier: v }).outcome;
  } catch (e) {
    got = `invalid ${describeError(e)}`;
  }
  const want = t.result === 'invalid' ? `invalid ${t.code!}` : t.result;
  if (got !== want) out.push(`expected ${want}, got ${got}`);
  if (t.result !== 'invalid' && t.signedInput !== undefined) {
    try {
      const s = decodeSignedKeySet(fromHex(t.message));
      if (toHex(signedKeySetSigningInput(s)) !== t.signedInput.toLowerCase()) out.push('signedInput is not the signing input of the message');
      if (t.signerPublicKey === undefined) out.push('signerPublicKey missing');
      else if (!v.verify(s.signature, fromHex(t.signedInput), fromHex(t.signerPublicKey))) out.push('the key set signature does not verify under signerPublicKey');
    } catch (e) {
      out.push(`the message does not decode: ${describeError(e)}`);
    }
  }
  return out;
}

/** The problems of one refund case with one backend (none: it passes). */
function refundCaseProblems(t: RefundVectorCase, v: SyncVerifier): string[] {
  const out: string[] = [];
  if (t.context.maxFutureSeconds !== REFUND_MAX_FUTURE_SECONDS) out.push(`context.maxFutureSeconds ${t.context.maxFutureSeconds}, but the refund rule fixes ${REFUND_MAX_FUTURE_SECONDS}`);
  let got: string;
  try {
    const r = verifyRefund(fromHex(t.message), decodeIssuerKeySet(fromHex(t.context.issuerKeySet)), t.context.now, v);
    got = r.ok ? 'valid' : `invalid ${r.code}`;
  } catch (e) {
    got = `invalid ${describeError(e)}`;
  }
  const want = t.result === 'invalid' ? `invalid ${t.code!}` : 'valid';
  if (got !== want) out.push(`expected ${want}, got ${got}`);
  for (const s of t.signatures) {
    if (v.verify(fromHex(s.signature), fromHex(s.message), fromHex(s.publicKey)) !== s.valid) out.push(`the ${s.role} signature is ${s.valid ? 'invalid' : 'valid'}, declared ${s.valid ? 'valid' : 'invalid'}`);
  }
  return out;
}

function caseProblems(file: KeySetVectorFile | RefundVectorFile, i: number, v: SyncVerifier): string[] {
  return file.kind === 'keyset' ? keySetCaseProblems(file.tests[i]!, v) : refundCaseProblems(file.tests[i]!, v);
}

function fileProblems(file: KeySetVectorFile | RefundVectorFile, name: string, backend: string, perCase: (i: number) => string[]): SuiteProblem[] {
  const out: SuiteProblem[] = [];
  if (file.tests.length !== file.numberOfTests) out.push({ file: name, backend, detail: `numberOfTests says ${file.numberOfTests}, found ${file.tests.length}` });
  file.tests.forEach((t, i) => {
    for (const detail of perCase(i)) out.push({ file: name, tcId: t.tcId, backend, detail: `${detail} (${t.comment})` });
  });
  return out;
}

/** Check every case of a key-set or refund vector file with a synchronous backend. */
export function checkSuiteFileSync(file: KeySetVectorFile | RefundVectorFile, name: string, v: SyncVerifier): SuiteProblem[] {
  return fileProblems(file, name, v.name, (i) => caseProblems(file, i, v));
}

/** Check every case of a key-set or refund vector file with an asynchronous backend (WebCrypto). */
export async function checkSuiteFileAsync(file: KeySetVectorFile | RefundVectorFile, name: string, v: AsyncVerifier): Promise<SuiteProblem[]> {
  const answers: string[][] = [];
  for (let i = 0; i < file.tests.length; i++) answers.push(await withAsyncVerifier(v, (sv) => caseProblems(file, i, sv)));
  return fileProblems(file, name, v.name, (i) => answers[i]!);
}

/**
 * Run `run` with a synchronous verifier whose answers are the asynchronous backend's. Each round answers the
 * questions already asked from a table and records the new ones (answering false meanwhile); the backend then
 * answers those, and the run is repeated until it asks nothing new. A run asks at most a few questions (a
 * refund: two signatures; a key set: one), each round adds at least one, so the rounds are bounded.
 */
export async function withAsyncVerifier<T>(v: AsyncVerifier, run: (sv: SyncVerifier) => T, maxRounds = 16): Promise<T> {
  const table = new Map<string, boolean>();
  for (let round = 0; round < maxRounds; round++) {
    const asked = new Map<string, [Uint8Array, Uint8Array, Uint8Array]>();
    const sv: SyncVerifier = {
      name: v.name,
      verify(signature, message, publicKey) {
        const k = `${toHex(signature)}.${toHex(message)}.${toHex(publicKey)}`;
        const a = table.get(k);
        if (a !== undefined) return a;
        asked.set(k, [signature, message, publicKey]);
        return false;
      },
    };
    const result = run(sv);
    if (!asked.size) return result;
    for (const [k, [s, m, p]] of asked) table.set(k, await v.verify(s, m, p));
  }
  throw new Error(`withAsyncVerifier: still new questions after ${maxRounds} rounds`);
}
