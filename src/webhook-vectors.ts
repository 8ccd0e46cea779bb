/**
 * The webhook signature vector file (fixtures/webhook/webhook_signature.json, spec/clearing-api.md §9.4), as
 * `offpay vectors check` runs it: parsed with a typed error (`vectors.bad_file`), then checked with any HMAC
 * backend. A signature passes when its signed bytes, v1 and header are what the backend computes from its
 * secret, t and body; a test passes when the reference check (src/webhook-signature.ts) gives its declared
 * verdict: valid with the declared t, or invalid with the declared reason.
 */
import { hexField, isObj, need, parseVectorJson, stringField, uintField, type Obj } from './vector-file.js';
import { fromHex, toHex } from '../base/hex.js';
import { checkWebhookSignature, webhookSignedBytes, webhookSignature, WEBHOOK_SIGNATURE_MAX_LENGTH, WEBHOOK_TOLERANCE_SECONDS, type HmacSha256 } from './webhook-signature.js';

/** The file name `vectors check` looks for (in DIR, or in the webhook/ folder of a fixtures tree). */
export const WEBHOOK_VECTOR_FILE = 'webhook_signature.json';
const ALGORITHM = 'offpay-webhook-signature-v1';
const REASONS = ['malformed_header', 'too_old', 'too_new', 'bad_signature'] as const;

export interface WebhookVectorSignature {
  sigId: number;
  comment: string;
  secret: string;
  t: number;
  body: string;
  signedBytes: string;
  v1: string;
  header: string;
}

export interface WebhookVectorCase {
  tcId: number;
  comment: string;
  result: 'valid' | 'invalid';
  reason?: (typeof REASONS)[number];
  t?: number;
  /** null: the request had no Offpay-Signature header. */
  header: string | null;
  secret: string;
  now: number;
  body: string;
}

export interface WebhookVectorFile {
  kind: 'webhook';
  algorithm: typeof ALGORITHM;
  toleranceSeconds: number;
  maxHeaderLength: number;
  numberOfSignatures: number;
  numberOfTests: number;
  signatures: WebhookVectorSignature[];
  tests: WebhookVectorCase[];
}

/** One failing check: the file, the signature or case, the backend, what disagreed. */
export interface WebhookVectorProblem {
  file: string;
  /** `sigId N` or `tcId N`; absent for a file-level problem. */
  at?: string;
  backend: string;
  detail: string;
}

const str = stringField;
const int = uintField;

/** Parse fixtures/webhook/webhook_signature.json. @throws OffpayError `vectors.bad_file`. */
export function parseWebhookVectorFile(text: string, name: string): WebhookVectorFile {
  const o = parseVectorJson(text, name, ALGORITHM);
  for (const k of ['toleranceSeconds', 'maxHeaderLength', 'numberOfSignatures', 'numberOfTests']) int(o, k, name, k);
  need(Array.isArray(o.signatures), name, 'signatures', 'not an array');
  need(Array.isArray(o.tests), name, 'tests', 'not an array');
  (o.signatures as unknown[]).forEach((s, i) => {
    const where = `signatures[${i}]`;
    need(isObj(s), name, where, 'not an object');
    const so = s as Obj;
    int(so, 'sigId', name, where);
    for (const k of ['comment', 'secret', 'header']) str(so, k, name, where);
    int(so, 't', name, where);
    for (const k of ['body', 'signedBytes', 'v1']) hexField(so, k, name, where);
  });
  (o.tests as unknown[]).forEach((t, i) => {
    const where = `tests[${i}]`;
    need(isObj(t), name, where, 'not an object');
    const to = t as Obj;
    int(to, 'tcId', name, where);
    for (const k of ['comment', 'secret']) str(to, k, name, where);
    need(to.result === 'valid' || to.result === 'invalid', name, where, 'result is not valid or invalid');
    need(to.result === 'invalid' ? REASONS.includes(to.reason as (typeof REASONS)[number]) : to.reason === undefined, name, where, `an invalid case needs a reason (${REASONS.join(', ')}), and only an invalid one`);
    if (to.result === 'valid') int(to, 't', name, where);
    need(to.header === null || typeof to.header === 'string', name, where, 'header is not a string or null');
    int(to, 'now', name, where);
    hexField(to, 'body', name, where);
  });
  return {
    kind: 'webhook',
    algorithm: ALGORITHM,
    toleranceSeconds: o.toleranceSeconds as number,
    maxHeaderLength: o.maxHeaderLength as number,
    numberOfSignatures: o.numberOfSignatures as number,
    numberOfTests: o.numberOfTests as number,
    signatures: o.signatures as WebhookVectorSignature[],
    tests: o.tests as WebhookVectorCase[],
  };
}

/** Every problem of the file with one HMAC backend (none: it passes). */
export function checkWebhookVectorFile(file: WebhookVectorFile, name: string, backend: { name: string; mac: HmacSha256 }): WebhookVectorProblem[] {
  const out: WebhookVectorProblem[] = [];
  const problem = (at: string | undefined, detail: string) => out.push({ file: name, ...(at ? { at } : {}), backend: backend.name, detail });
  if (file.toleranceSeconds !== WEBHOOK_TOLERANCE_SECONDS) problem(undefined, `toleranceSeconds ${file.toleranceSeconds}, but the check fixes ${WEBHOOK_TOLERANCE_SECONDS}`);
  if (file.maxHeaderLength !== WEBHOOK_SIGNATURE_MAX_LENGTH) problem(undefined, `maxHeaderLength ${file.maxHeaderLength}, but the check fixes ${WEBHOOK_SIGNATURE_MAX_LENGTH}`);
  if (file.signatures.length !== file.numberOfSignatures) problem(undefined, `numberOfSignatures says ${file.numberOfSignatures}, found ${file.signatures.length}`);
  if (file.tests.length !== file.numberOfTests) problem(undefined, `numberOfTests says ${file.numberOfTests}, found ${file.tests.length}`);
  for (const s of file.signatures) {
    const at = `sigId ${s.sigId}`;
    const body = fromHex(s.body);
    if (toHex(webhookSignedBytes(s.t, body)) !== s.signedBytes.toLowerCase()) problem(at, `signedBytes is not ASCII(t) "." body (${s.comment})`);
    const v1 = webhookSignature(s.secret, s.t, body, backend.mac);
    if (v1 !== s.v1) problem(at, `v1 is ${v1}, declared ${s.v1} (${s.comment})`);
    if (s.header !== `t=${s.t},v1=${s.v1}`) problem(at, `header is not t=${s.t},v1=<v1> (${s.comment})`);
  }
  for (const t of file.tests) {
    const got = checkWebhookSignature(t.header, fromHex(t.body), t.secret, t.now, file.toleranceSeconds, backend.mac);
    const gotText = got.ok ? `valid t=${got.t}` : `invalid ${got.reason}`;
    const wantText = t.result === 'valid' ? `valid t=${t.t!}` : `invalid ${t.reason!}`;
    if (gotText !== wantText) problem(`tcId ${t.tcId}`, `expected ${wantText}, got ${gotText} (${t.comment})`);
  }
  return out;
}
