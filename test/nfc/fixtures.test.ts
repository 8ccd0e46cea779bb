/** fixtures/nfc: reproducible from the generator, and every vector holds against the codecs. */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OffpayError, type ErrorCode } from '../../base/errors.js';
import { isErrorCode } from '../../base/error-codes.js';
import { AidRouter, CardApplication, NDEF_TAG_AID, NdefTagApplication, OFFPAY_AID, chainCommand, decodeNdefMessage, decodeTokenNdef, encodeCommand, encodeTokenNdef, parseCommand } from '../../codecs/nfc/index.js';
import { fixtureWallet, generate, seededBytes } from '../../scripts/fixtures/nfc.js';
import { codeOf, hex, toHex } from './helpers.js';

const root = join(import.meta.dirname, '..', '..');
const base = join(root, 'fixtures', 'nfc');
const load = (rel: string): unknown => JSON.parse(readFileSync(join(base, rel), 'utf8'));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('fixtures/nfc', () => {
  it('regenerates byte for byte', async () => {
    expect(existsSync(join(base, 'manifest.json'))).toBe(true);
    const tmp = mkdtempSync(join(tmpdir(), 'offpay-nfc-fx-'));
    const files = await generate(tmp);
    const fresh = join(tmp, 'fixtures', 'nfc');
    expect(files.length).toBeGreaterThan(40);
    const list = (d: string) => walk(d).map((f) => relative(d, f)).sort();
    expect(list(fresh)).toEqual(list(base));
    for (const f of list(base)) expect(readFileSync(join(fresh, f)).equals(readFileSync(join(base, f))), f).toBe(true);
  });

  it('NDEF vectors decode (or fail) as the manifest says', () => {
    const m = load('manifest.json') as { ndef: Array<Record<string, unknown>> };
    expect(m.ndef.length).toBeGreaterThan(20);
    for (const v of m.ndef) {
      const bytes = new Uint8Array(readFileSync(join(base, v.file as string)));
      if (v.result === 'invalid') {
        expect(codeOf(() => decodeNdefMessage(bytes)), v.file as string).toBe(v.error);
        continue;
      }
      const recs = decodeNdefMessage(bytes).map((r) => ({ tnf: r.tnf, type: Buffer.from(r.type).toString('utf8'), id: toHex(r.id), payload: toHex(r.payload) }));
      expect(recs).toEqual(v.records);
      if (v.token) expect(toHex(decodeTokenNdef(bytes))).toBe(v.token);
      else expect(codeOf(() => decodeTokenNdef(bytes))).toBe(v.tokenError);
    }
  });

  it('APDU vectors parse and encode as listed', () => {
    const a = load('apdu/commands.json') as {
      commands: Array<{ result: string; hex: string; error?: string; fields?: { cla: number; ins: number; p1: number; p2: number; data: string; ne: number }; case?: number; extended?: boolean }>;
      chaining: Array<{ command: { cla: number; ins: number; p1: number; p2: number; data: string; ne: number }; parts: string[] }>;
    };
    for (const c of a.commands) {
      if (c.result === 'invalid') {
        expect(codeOf(() => parseCommand(hex(c.hex)))).toBe(c.error);
        continue;
      }
      const p = parseCommand(hex(c.hex));
      expect({ cla: p.cla, ins: p.ins, p1: p.p1, p2: p.p2, data: toHex(p.data), ne: p.ne }).toEqual(c.fields);
      expect([p.case, p.extended]).toEqual([c.case, c.extended]);
      expect(toHex(encodeCommand({ ...c.fields!, data: hex(c.fields!.data) }, { extended: c.extended === true }))).toBe(c.hex);
    }
    for (const ch of a.chaining) expect(chainCommand({ ...ch.command, data: hex(ch.command.data) }).map((p) => toHex(encodeCommand(p)))).toEqual(ch.parts);
  });

  it('transcripts replay exactly against a fresh card application', async () => {
    const m = load('manifest.json') as { transcripts: Array<{ file: string }> };
    expect(m.transcripts.length).toBeGreaterThan(10);
    for (const { file } of m.transcripts) {
      const t = load(file) as {
        card: { tokenLength: number; options: Record<string, unknown>; walletError?: string };
        exchanges: Array<{ command: string; response: string }>;
      };
      if (t.card.walletError !== undefined) expect(isErrorCode(t.card.walletError), t.card.walletError).toBe(true);
      const fail = t.card.walletError ? new OffpayError(t.card.walletError as ErrorCode, 'refused') : undefined;
      const o = t.card.options;
      const tag = (len: number) => new NdefTagApplication(encodeTokenNdef(seededBytes(200, len)), { mle: o.mle as number });
      // A router (spec/nfc.md §3.4): the tag with a token of tagTokenLength bytes and the card with tokenLength.
      const card = o.router
        ? new AidRouter([
            { aid: NDEF_TAG_AID, app: tag(o.tagTokenLength as number) },
            { aid: OFFPAY_AID, app: new CardApplication(fixtureWallet(t.card.tokenLength, fail)) },
          ])
        : o.t4t
          ? tag(t.card.tokenLength)
          : new CardApplication(fixtureWallet(t.card.tokenLength, fail), o);
      for (const e of t.exchanges) expect(toHex(await card.process(hex(e.command))), `${file} ${e.command}`).toBe(e.response);
    }
  });
});
