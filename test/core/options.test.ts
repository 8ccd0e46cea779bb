/**
 * Options objects validated in one place (src/options.ts; issue 13, "API shapes that differ for no reason").
 *
 * For every public function or constructor that takes an options object: a random bad value for any one
 * option (or an unknown key, or a non-object in place of the options) gives an OffpayError with the area's
 * code whose `detail.option` and message name that option; never another exception, never silence. A valid
 * value never gives an option error naming that field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { describeValue, matchesOption, nearestKey, validateOptions, type OptionsSchema } from '../../base/options.js';
import { decode, decodeMessage, encode, FskReceiver } from '../../codecs/fsk/index.js';
import { FSK_ENCODE_OPTIONS_SCHEMA } from '../../codecs/fsk/modulate.js';
import { RECEIVER_OPTIONS_SCHEMA } from '../../codecs/fsk/receive.js';
import { createQrScanner, decodeCode, encodeCode, FinderScanner } from '../../codecs/qr/index.js';
import { DECODE_OPTIONS_SCHEMA, QR_ENCODE_OPTIONS_SCHEMA } from '../../codecs/qr/engine.js';
import { SCANNER_OPTIONS_SCHEMA } from '../../codecs/qr/scanner.js';
import { FINDER_OPTIONS_SCHEMA } from '../../codecs/qr/finder.js';
import {
  airTime, CardApplication, decodeNdefMessage, encodeNdefMessage, memoryLink, NdefTagApplication, readNdefTag, ReaderSession, transact,
} from '../../codecs/nfc/index.js';
import { AIR_TIME_OPTIONS_SCHEMA, SESSION_OPTIONS_SCHEMA, TRANSACT_OPTIONS_SCHEMA } from '../../codecs/nfc/session.js';
import { CARD_OPTIONS_SCHEMA } from '../../codecs/nfc/card.js';
import { NDEF_TAG_OPTIONS_SCHEMA, READ_NDEF_TAG_OPTIONS_SCHEMA } from '../../codecs/nfc/t4t.js';
import { NDEF_DECODE_OPTIONS_SCHEMA, NDEF_ENCODE_OPTIONS_SCHEMA } from '../../codecs/nfc/ndef.js';
import { MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { READER_OPTIONS_SCHEMA } from '../../src/reader/reader.js';
import { makeIssuer, makeReader, makeWallet } from '../reader/helpers.js';
import { MemoryCounterStore, PAY_OPTIONS_SCHEMA, WALLET_OPTIONS_SCHEMA, Wallet } from '../../src/wallet.js';

type Opts = Record<string, unknown>;

interface Target {
  /** The options' name in messages (detail.option is `${name}.${field}`). */
  name: string;
  schema: OptionsSchema;
  /** Codes a bad option may raise (the area's, and a field's own). */
  codes: string[];
  /** Options that are valid as a whole; the property changes one field. */
  base: Opts;
  call: (options: unknown) => unknown;
}

const issuer = makeIssuer('options');
const vend = makeReader(issuer, 'options', 4201, 'vending');
const payer = makeWallet(issuer, 'options', 'payer');
const wallet = { getToken: async () => new Uint8Array(8) };
const card = new CardApplication(wallet);

const targets: Target[] = [
  { name: 'encode options', schema: FSK_ENCODE_OPTIONS_SCHEMA, codes: ['fsk.bad_input', 'fsk.bad_profile', 'fsk.bad_rate'], base: {}, call: (o) => encode(new Uint8Array(1), o as never) },
  { name: 'receiver options', schema: RECEIVER_OPTIONS_SCHEMA, codes: ['fsk.bad_input', 'fsk.bad_profile', 'fsk.bad_rate'], base: { sampleRate: 48000 }, call: (o) => new FskReceiver(o as never) },
  { name: 'decode options', schema: RECEIVER_OPTIONS_SCHEMA, codes: ['fsk.bad_input', 'fsk.bad_profile', 'fsk.bad_rate'], base: { sampleRate: 16000 }, call: (o) => decode(new Float32Array(8), o as never) },
  {
    name: 'decodeMessage options', schema: RECEIVER_OPTIONS_SCHEMA, codes: ['fsk.bad_input', 'fsk.bad_profile', 'fsk.bad_rate'], base: { sampleRate: 16000 },
    call: (o) => decodeMessage(new Float32Array(8), o as never),
  },
  { name: 'encodeCode options', schema: QR_ENCODE_OPTIONS_SCHEMA, codes: ['qr.bad_option'], base: {}, call: (o) => encodeCode(new Uint8Array(4), o as never) },
  { name: 'decodeCode options', schema: DECODE_OPTIONS_SCHEMA, codes: ['qr.bad_option'], base: {}, call: (o) => decodeCode(new Uint8Array(4), o as never) },
  { name: 'scanner options', schema: SCANNER_OPTIONS_SCHEMA, codes: ['qr.bad_option'], base: {}, call: (o) => createQrScanner(o as never) },
  { name: 'FinderScanner options', schema: FINDER_OPTIONS_SCHEMA, codes: ['qr.bad_option'], base: {}, call: (o) => new FinderScanner(o as never) },
  { name: 'ReaderSession options', schema: SESSION_OPTIONS_SCHEMA, codes: ['nfc.bad_option'], base: {}, call: (o) => new ReaderSession(memoryLink(card), o as never) },
  {
    name: 'transact options', schema: TRANSACT_OPTIONS_SCHEMA, codes: ['nfc.bad_option'],
    base: { request: new Uint8Array(4), verify: async () => ({ verdict: true }) }, call: (o) => transact(memoryLink(card), o as never),
  },
  { name: 'CardApplication options', schema: CARD_OPTIONS_SCHEMA, codes: ['nfc.bad_option'], base: {}, call: (o) => new CardApplication(wallet, o as never) },
  { name: 'airTime options', schema: AIR_TIME_OPTIONS_SCHEMA, codes: ['nfc.bad_option'], base: {}, call: (o) => airTime([], o as never) },
  { name: 'NdefTagApplication options', schema: NDEF_TAG_OPTIONS_SCHEMA, codes: ['nfc.bad_option'], base: {}, call: (o) => new NdefTagApplication(new Uint8Array(4), o as never) },
  { name: 'readNdefTag options', schema: READ_NDEF_TAG_OPTIONS_SCHEMA, codes: ['nfc.bad_option'], base: {}, call: (o) => readNdefTag(memoryLink(card), o as never) },
  { name: 'encodeNdefMessage options', schema: NDEF_ENCODE_OPTIONS_SCHEMA, codes: ['ndef.bad_option'], base: {}, call: (o) => encodeNdefMessage([], o as never) },
  { name: 'NDEF decode options', schema: NDEF_DECODE_OPTIONS_SCHEMA, codes: ['ndef.bad_option'], base: {}, call: (o) => decodeNdefMessage(new Uint8Array(0), o as never) },
  {
    name: 'Wallet options', schema: WALLET_OPTIONS_SCHEMA, codes: ['wallet.bad_option'],
    base: { secretKey: payer.secretKey, cert: payer.cert, counter: new MemoryCounterStore() }, call: (o) => new Wallet(o as never),
  },
  { name: 'pay options', schema: PAY_OPTIONS_SCHEMA, codes: ['wallet.bad_option'], base: {}, call: (o) => payer.wallet.pay(new Uint8Array([0x85]), o as never) },
  {
    name: 'ReaderOptions', schema: READER_OPTIONS_SCHEMA, codes: ['reader.bad_config'],
    base: { ...vend, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), clock: () => 1_795_000_000 },
    // A fresh store each time (a store belongs to one reader).
    call: (o) => new Reader({ ...(o as Opts), ...(o && typeof o === 'object' && 'store' in o && o.store instanceof MemoryReaderStore ? { store: new MemoryReaderStore() } : {}) } as never),
  },
];

/** Run `f`; the OffpayError it throws or rejects with, or undefined when it succeeds. Any other exception fails. */
async function outcome(f: () => unknown): Promise<OffpayError | undefined> {
  try {
    await f();
    return undefined;
  } catch (e) {
    if (!(e instanceof OffpayError)) throw new Error(`not an OffpayError: ${String(e)}`, { cause: e });
    return e;
  }
}

const anyValue = fc.oneof(
  fc.anything(),
  fc.integer({ min: -1e6, max: 1e7 }),
  fc.double(),
  fc.constantFrom(0, -1, 1, 8, 16, 64, 256, 65_535, 1e9, NaN, Infinity, -Infinity, 0.5, 1.5),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('fast', 'qr', 'M', 'token', 'base45', 'L', 'robust', 'ultrasonic', 'Fast', 'QR'),
  fc.boolean(),
  fc.uint8Array({ maxLength: 40 }),
  fc.array(fc.constantFrom('fast', 'robust', 'qr', 'aztec', 'nope', 1), { maxLength: 4 }),
  fc.constant(() => undefined),
  fc.constant(null),
);

describe('validateOptions', () => {
  const schema: OptionsSchema = {
    sampleRate: { type: 'integer', min: 8000, max: 192000, required: true, code: 'fsk.bad_rate' },
    peak: { type: 'number', min: 0, exclusiveMin: true, max: 1 },
    mode: { type: 'enum', values: ['a', 'b'] },
    key: { type: 'bytes', minLength: 32, maxLength: 32 },
  };
  const err = (v: unknown) => {
    try {
      validateOptions('o', v, schema, 'qr.bad_option');
    } catch (e) {
      return e as OffpayError;
    }
    throw new Error('accepted');
  };

  it('refuses unknown keys with the nearest known one, missing required fields, and values out of type or range', () => {
    expect(err({ sampleRate: 48000, sampleRat: 1 })).toMatchObject({ code: 'qr.bad_option', detail: { option: 'o.sampleRat' } });
    expect(err({ sampleRate: 48000, sampleRat: 1 }).message).toContain('did you mean "sampleRate"');
    expect(err({})).toMatchObject({ code: 'fsk.bad_rate', detail: { option: 'o.sampleRate' } });
    expect(err({ sampleRate: 48000.5 }).message).toBe('o.sampleRate must be a whole number in 8000..192000, not 48000.5');
    expect(err({ sampleRate: 48000, peak: 0 })).toMatchObject({ code: 'qr.bad_option', detail: { option: 'o.peak' } });
    expect(err({ sampleRate: 48000, mode: 'A' }).message).toContain('exactly one of "a", "b"');
    expect(err({ sampleRate: 48000, key: new Uint8Array(31) }).message).toContain('a Uint8Array of 32 bytes');
    expect(err([])).toMatchObject({ detail: { option: 'o' } });
    expect(err(null)).toMatchObject({ detail: { option: 'o' } });
    expect(validateOptions('o', { sampleRate: 8000, peak: 1, mode: 'b', key: undefined }, schema, 'qr.bad_option')).toEqual({ sampleRate: 8000, peak: 1, mode: 'b', key: undefined });
    expect(nearestKey('profil', ['profile', 'peak'])).toBe('profile');
    expect(nearestKey('zzzzzz', ['profile', 'peak'])).toBeUndefined();
  });
});

describe('every public options object: a bad option is a typed error naming it (property)', () => {
  for (const t of targets) {
    it(t.name, { timeout: 120_000 }, async () => {
      const keys = Object.keys(t.schema);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !keys.includes(k) && k !== '__proto__') }),
          anyValue,
          async (field, value) => {
            // transact's verify is the caller's own judge: what it returns is its business, not an option's type.
            if (t.name === 'transact options' && field === 'verify' && typeof value === 'function') return;
            const options = { ...t.base, [field]: value };
            const e = await outcome(() => t.call(options));
            const spec = Object.hasOwn(t.schema, field) ? t.schema[field] : undefined;
            const absent = value === undefined;
            // An unknown key is refused even when its value is undefined (it is a typo all the same).
            const bad = spec === undefined ? true : absent ? spec.required === true : !matchesOption(spec, value);
            if (bad) {
              expect(e, `${t.name}.${field} = ${describeValue(value)} was accepted`).toBeInstanceOf(OffpayError);
              expect(t.codes).toContain(e!.code);
              expect(e!.detail?.option).toBe(`${t.name}.${field}`);
              expect(e!.message).toContain(field);
            } else if (e) {
              // A valid value of this field may still fail for another reason (no engine loaded, no card, a
              // rate too low for every profile), but never as a bad value of this field's type.
              expect(e.message.includes(`${t.name}.${field} must be`) || e.message.includes(`${t.name}.${field} is required`), e.message).toBe(false);
            }
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  it('a non-object in place of the options names the options', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...targets), fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.integer()), fc.uint8Array()), async (t, value) => {
        const e = await outcome(() => t.call(value));
        if (typeof value === 'number' && (t.name === 'decode options' || t.name === 'decodeMessage options')) {
          // The deprecated form decode(samples, sampleRate): a number is the rate.
          if (e) expect(e.detail?.option).toBe(`${t.name}.sampleRate`);
          return;
        }
        expect(e).toBeInstanceOf(OffpayError);
        // ReaderOptions in the test wrapper is spread, so a non-object arrives as an object missing its fields.
        if (t.name !== 'ReaderOptions') expect(e!.detail?.option).toBe(t.name);
        expect(t.codes).toContain(e!.code);
      }),
      { numRuns: 200 },
    );
  });

  it('decode and decodeMessage keep the deprecated (samples, sampleRate, options) form', () => {
    expect(decode(new Float32Array(8), 48000).messages).toEqual([]);
    const x = encode(new Uint8Array([1, 2, 3]), { sampleRate: 48000 });
    const padded = new Float32Array(x.length + 9600);
    padded.set(x, 4800);
    expect([...decodeMessage(padded, 48000, { profiles: ['fast'] }).payload]).toEqual([1, 2, 3]);
    expect([...decodeMessage(padded, { sampleRate: 48000, profiles: ['fast'] }).payload]).toEqual([1, 2, 3]);
    expect(() => decode(new Float32Array(8), 48000, { sampleRate: 8000 } as never)).toThrow(expect.objectContaining({ code: 'fsk.bad_input', detail: { option: 'decode options.sampleRate' } }));
    expect(() => (decode as (...a: unknown[]) => unknown)(new Float32Array(8), { sampleRate: 48000 }, {})).toThrow(expect.objectContaining({ code: 'fsk.bad_input' }));
  });
});
