/**
 * The webhook signature vectors (fixtures/webhook/webhook_signature.json, spec/clearing-api.md §9.4): the
 * reference check passes every case with both HMACs, and the file catches the mistakes a merchant's port makes.
 * The port below is written from the spec's six steps, each mistake a switch; with no mistake it passes every
 * case, and with any one of them at least one case fails.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkWebhookSignature, nobleHmacSha256, webhookSignature, webhookSignatureHeader, WEBHOOK_TOLERANCE_SECONDS } from '../../src/webhook-signature.js';
import { nodeHmacSha256 } from '../../src/node/crypto.js';
import { checkWebhookVectorFile, parseWebhookVectorFile, type WebhookVectorFile } from '../../src/webhook-vectors.js';
import { fromHex } from '../../base/hex.js';

const NAME = 'fixtures/webhook/webhook_signature.json';
const file: WebhookVectorFile = parseWebhookVectorFile(readFileSync(NAME, 'utf8'), NAME);

type Mistake =
  | 'trims-all-white-space' // String.trim: removes U+00A0 too
  | 'signs-t-as-written' // the header's digits, leading zeros kept
  | 'takes-the-last-t' // a repeated t overwrites instead of refusing
  | 'lenient-number' // Number(v) for t: '', '+1', '1e9', '1.0' pass
  | 'strict-tolerance' // refuses at exactly 300 s
  | 'decodes-the-secret' // the key is the 32 bytes the hex encodes
  | 'keeps-the-line-end' // the key is the file's 65 bytes
  | 'any-case-v1' // upper-case v1 taken as a candidate
  | 'first-v1-only' // compares the first candidate alone
  | 'reserialises-the-body' // JSON.parse then JSON.stringify
  | 'signature-before-age' // checks the HMAC before the clock
  | 'no-length-bound' // reads a header of any length
  | 'splits-at-last-equals' // key/value split at the last '='
  | 'skips-parts-without-equals' // ignores a part with no '=' instead of refusing
  | 'no-t-digit-limit' // reads t of any number of digits
  | 'unicode-digits' // \d with the u flag, or a parseInt of any digits: Arabic-Indic digits pass
  | 'lenient-integer-parse'; // strips white space and underscores before reading t (Python's int())

type Verdict = { ok: true; t: number } | { ok: false; reason: string };

/** A merchant's check written from spec/clearing-api.md §9.4, with `mistake` made. */
function port(header: string | null, body: Uint8Array, secret: string, now: number, mistake?: Mistake): Verdict {
  const bad = (reason: string): Verdict => ({ ok: false, reason });
  if (header === null || header === '' || (mistake !== 'no-length-bound' && header.length > 1024)) return bad('malformed_header');
  let tText: string | undefined;
  const cands: string[] = [];
  const strip = (x: string) => (mistake === 'trims-all-white-space' ? x.trim() : x.replace(/^[ \t]+|[ \t]+$/g, ''));
  for (const part of header.split(',')) {
    const i = mistake === 'splits-at-last-equals' ? part.lastIndexOf('=') : part.indexOf('=');
    if (i < 0) {
      if (mistake === 'skips-parts-without-equals') continue;
      return bad('malformed_header');
    }
    const k = strip(part.slice(0, i));
    const v = strip(part.slice(i + 1));
    if (k === 't') {
      const w = mistake === 'lenient-integer-parse' ? v.replace(/[\s_]/g, '') : mistake === 'unicode-digits' ? v.replace(/\p{Nd}/gu, (d) => String(d.codePointAt(0)! - (d.codePointAt(0)! >= 0x660 ? 0x660 : 0x30))) : v;
      const digits = mistake === 'lenient-number' ? !Number.isNaN(Number(w)) : mistake === 'no-t-digit-limit' ? /^[0-9]+$/.test(w) : /^[0-9]{1,15}$/.test(w);
      if (!digits) return bad('malformed_header');
      if (tText !== undefined && mistake !== 'takes-the-last-t') return bad('malformed_header');
      tText = w;
    } else if (k === 'v1' && (mistake === 'any-case-v1' ? /^[0-9a-fA-F]{64}$/ : /^[0-9a-f]{64}$/).test(v)) cands.push(v.toLowerCase());
  }
  if (tText === undefined || cands.length === 0) return bad('malformed_header');
  const t = Number(tText);
  let data = Buffer.from(body);
  if (mistake === 'reserialises-the-body') {
    try {
      data = Buffer.from(JSON.stringify(JSON.parse(data.toString('utf8'))));
    } catch {
      // not JSON: as received
    }
  }
  const key = mistake === 'decodes-the-secret' ? Buffer.from(secret, 'hex') : mistake === 'keeps-the-line-end' ? Buffer.from(`${secret}\n`) : Buffer.from(secret);
  const mac = createHmac('sha256', key).update(mistake === 'signs-t-as-written' ? `${tText}.` : `${t}.`).update(data).digest('hex');
  const sigOk = (mistake === 'first-v1-only' ? cands.slice(0, 1) : cands).includes(mac);
  if (mistake === 'signature-before-age' && !sigOk) return bad('bad_signature');
  const limit = mistake === 'strict-tolerance' ? WEBHOOK_TOLERANCE_SECONDS - 1 : WEBHOOK_TOLERANCE_SECONDS;
  if (now - t > limit) return bad('too_old');
  if (t - now > limit) return bad('too_new');
  return sigOk ? { ok: true, t } : bad('bad_signature');
}

const declared = (c: WebhookVectorFile['tests'][number]): Verdict => (c.result === 'valid' ? { ok: true, t: c.t! } : { ok: false, reason: c.reason! });
const failingCases = (mistake?: Mistake) => file.tests.filter((c) => JSON.stringify(port(c.header, fromHex(c.body), c.secret, c.now, mistake)) !== JSON.stringify(declared(c))).map((c) => c.tcId);

describe('webhook signature vectors', () => {
  it('the reference check and signer pass every case and signature, with the noble and node:crypto HMACs', () => {
    expect(file.tests.length).toBe(file.numberOfTests);
    expect(file.signatures.length).toBe(file.numberOfSignatures);
    for (const mac of [nobleHmacSha256, nodeHmacSha256]) expect(checkWebhookVectorFile(file, NAME, { name: 'x', mac })).toEqual([]);
    // Every reason of §9.4 is declared by some case, and both verdicts occur.
    expect(new Set(file.tests.map((c) => c.reason ?? 'valid'))).toEqual(new Set(['valid', 'malformed_header', 'too_old', 'too_new', 'bad_signature']));
    // The worked example of the spec is signature 1, character for character.
    const spec = readFileSync('spec/clearing-api.md', 'utf8');
    expect(spec).toContain(`Offpay-Signature: ${file.signatures[0]!.header}`);
    // The counts the spec gives are the file's.
    const flat = spec.replace(/\s+/g, ' ');
    expect(flat.includes(`\`signatures\` (${file.numberOfSignatures})`), 'the spec gives the number of signatures').toBe(true);
    expect(flat.includes(`\`tests\` (${file.numberOfTests})`), 'the spec gives the number of tests').toBe(true);
  });

  it('a port written from the spec passes every case; each mistake a port makes fails at least one', () => {
    expect(failingCases()).toEqual([]);
    const mistakes: Mistake[] = [
      'trims-all-white-space', 'signs-t-as-written', 'takes-the-last-t', 'lenient-number', 'strict-tolerance', 'decodes-the-secret', 'keeps-the-line-end', 'any-case-v1',
      'first-v1-only', 'reserialises-the-body', 'signature-before-age', 'no-length-bound', 'splits-at-last-equals', 'skips-parts-without-equals', 'no-t-digit-limit',
      'unicode-digits', 'lenient-integer-parse',
    ];
    for (const m of mistakes) expect(failingCases(m), m).not.toEqual([]);
  });

  it('a tampered file is caught: a wrong verdict, a wrong v1, wrong counts', () => {
    const copy = structuredClone(file);
    copy.tests[0]!.result = 'invalid';
    copy.tests[0]!.reason = 'bad_signature';
    copy.signatures[0]!.v1 = '00'.repeat(32);
    copy.numberOfTests += 1;
    const problems = checkWebhookVectorFile(copy, NAME, { name: 'noble', mac: nobleHmacSha256 }).map((p) => `${p.at ?? 'file'}: ${p.detail}`);
    expect(problems).toEqual([
      expect.stringMatching(/^file: numberOfTests says \d+, found \d+$/),
      expect.stringMatching(/^sigId 1: v1 is 8bee8c14/),
      expect.stringMatching(/^sigId 1: header is not/),
      expect.stringMatching(/^tcId 1: expected invalid bad_signature, got valid t=1795000000/),
    ]);
  });

  it('malformed files are vectors.bad_file, never a crash', () => {
    const text = readFileSync(NAME, 'utf8');
    const o = JSON.parse(text);
    const variants = [
      '[]', 'nope', JSON.stringify({ ...o, algorithm: 'offpay-refund-v2' }), JSON.stringify({ ...o, tests: 'x' }), JSON.stringify({ ...o, signatures: [{ ...o.signatures[0], t: -1 }] }),
      JSON.stringify({ ...o, tests: [{ ...o.tests[0], reason: 'too_old' }] }), JSON.stringify({ ...o, tests: [{ ...o.tests[0], body: 'zz' }] }), JSON.stringify({ ...o, tests: [null] }),
    ];
    for (const v of variants) expect(() => parseWebhookVectorFile(v, 'f.json'), v.slice(0, 40)).toThrow(expect.objectContaining({ code: 'vectors.bad_file' }));
  });

  it('property: what the sender signs, the receiver accepts within the tolerance and refuses after any change of body, t or key', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 1e12 }),
        fc.integer({ min: -WEBHOOK_TOLERANCE_SECONDS, max: WEBHOOK_TOLERANCE_SECONDS }),
        fc.nat(),
        (body, key, t, skew, at) => {
          const secret = Buffer.from(key).toString('hex');
          expect(webhookSignature(secret, t, body, nodeHmacSha256)).toBe(webhookSignature(secret, t, body));
          const header = webhookSignatureHeader(secret, t, body);
          expect(checkWebhookSignature(header, body, secret, t + skew)).toEqual({ ok: true, t });
          expect(checkWebhookSignature(header, body, secret, t + WEBHOOK_TOLERANCE_SECONDS + 1)).toEqual({ ok: false, reason: 'too_old' });
          const changed = body.length ? Uint8Array.from(body, (b, i) => (i === at % body.length ? b ^ 1 : b)) : Uint8Array.of(0);
          expect(checkWebhookSignature(header, changed, secret, t)).toEqual({ ok: false, reason: 'bad_signature' });
          expect(checkWebhookSignature(header.replace(`t=${t},`, `t=${t + 1},`), body, secret, t)).toEqual({ ok: false, reason: 'bad_signature' });
          const other = (secret[0] === 'a' ? 'b' : 'a') + secret.slice(1);
          expect(checkWebhookSignature(header, body, other, t)).toEqual({ ok: false, reason: 'bad_signature' });
        },
      ),
      { numRuns: 300 },
    );
  });
});
