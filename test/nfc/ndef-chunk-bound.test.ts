/**
 * A message holds at most 4096 chunk continuations (spec/nfc.md §3.3 rule 7, ndef.too_many_records), and the
 * decoder keeps one entry per logical record, never one per chunk: a 1 MB message of 250,002 one-byte chunks
 * (under the 1 MiB input bound) used to decode to a 250,002-byte "token" at ~480 MB RSS.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { decodeNdefMessage, decodeTokenNdef, encodeNdefMessage, ndefRecord, NDEF_MAX_CHUNKS, OFFPAY_NDEF_TYPE, parseNdefRecords, TNF } from '../../codecs/nfc/ndef.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

const d = mkdtempSync(join(tmpdir(), 'offpay-ndef-chunks-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

function errorOf(f: () => unknown): OffpayError | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (e instanceof OffpayError) return e;
    throw e;
  }
}

/** The offpay record as `n` one-byte chunks. */
function tokenInChunks(n: number): Uint8Array {
  return encodeNdefMessage([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, Uint8Array.from({ length: n }, (_, i) => i & 0xff))], { chunkSize: 1 });
}

describe('NDEF chunk bound', () => {
  it('nfc ndef decode of a 1 MB message of 250,002 chunk records is refused and stays under 300 MB', () => {
    const type = Buffer.from('offpay.dev:token');
    const parts: Buffer[] = [Buffer.concat([Buffer.from([0x80 | 0x20 | 0x10 | 0x04, type.length, 1]), type, Buffer.from([0x86])])];
    const mid = Buffer.alloc(4 * 250000);
    for (let i = 0; i < 250000; i++) mid.set([0x20 | 0x10 | 0x06, 0, 1, 0], i * 4);
    parts.push(mid, Buffer.from([0x40 | 0x10 | 0x06, 0, 1, 0]));
    writeFileSync(p('chunks.ndef'), Buffer.concat(parts));
    const r = spawnSync('/usr/bin/time', ['-f', 'RSS_KB=%M', process.execPath, CLI, 'nfc', 'ndef', 'decode', p('chunks.ndef'), '--out', p('tok.bin')], {
      encoding: 'utf8', timeout: 8000, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'],
    });
    const rssKb = Number(/RSS_KB=(\d+)/.exec(r.stderr ?? '')?.[1] ?? 0);
    expect(rssKb, `peak RSS ${rssKb} kB for a 1 MB NDEF message`).toBeLessThan(300 * 1024);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[ndef.too_many_records]');
  });

  it('takes 4096 continuations in a message, refuses the 4097th (records of several chunked records together)', () => {
    expect(NDEF_MAX_CHUNKS).toBe(4096);
    expect(decodeTokenNdef(tokenInChunks(NDEF_MAX_CHUNKS + 1))).toHaveLength(NDEF_MAX_CHUNKS + 1);
    const e = errorOf(() => decodeTokenNdef(tokenInChunks(NDEF_MAX_CHUNKS + 2)));
    expect(e?.code).toBe('ndef.too_many_records');
    expect(e?.detail).toMatchObject({ record: NDEF_MAX_CHUNKS + 1, limit: NDEF_MAX_CHUNKS });
    expect(errorOf(() => parseNdefRecords(tokenInChunks(NDEF_MAX_CHUNKS + 2)))?.code).toBe('ndef.too_many_records');
    // Two records of 2049 continuations each: 4098 in the message.
    const two = encodeNdefMessage([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, new Uint8Array(2050)), ndefRecord(TNF.UNKNOWN, '', new Uint8Array(2050))], { chunkSize: 1 });
    expect(errorOf(() => decodeNdefMessage(two))?.code).toBe('ndef.too_many_records');
  });

  it('a real token in one-byte chunks decodes as before (chunks reassembled, first chunk\'s type and id)', () => {
    const token = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    const msg = encodeNdefMessage([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, token, 'id'), ndefRecord(TNF.UNKNOWN, '', Uint8Array.of(1, 2, 3))], { chunkSize: 1 });
    expect(decodeNdefMessage(msg)).toEqual([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, token, 'id'), ndefRecord(TNF.UNKNOWN, '', Uint8Array.of(1, 2, 3))]);
    expect(decodeTokenNdef(msg)).toEqual(token);
  });

  it('the chunk bound is checked in the walk, so an earlier structural fault wins; payload size after the walk', () => {
    const msg = tokenInChunks(NDEF_MAX_CHUNKS + 10).slice();
    msg[0] = msg[0]! & ~0x80; // no MB on the first record
    expect(errorOf(() => decodeNdefMessage(msg))?.code).toBe('ndef.no_mb');
    const e = errorOf(() => decodeNdefMessage(tokenInChunks(100), { maxPayload: 50 }));
    expect(e?.code).toBe('ndef.payload_too_long');
    expect(e?.detail).toMatchObject({ limit: 50, offset: 20 + 4 * 49 }); // record 50, the 51st byte
  });
});
