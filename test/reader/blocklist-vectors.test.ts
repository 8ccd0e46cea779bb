/**
 * Blocklist load vectors (fixtures/blocklist/blocklist_load.json; spec/reader.md §5, spec/reader.cddl): every case,
 * replayed from its JSON alone through a Reader over a MemoryReaderStore (the held list loaded first), gives its
 * declared result; each recorded signature answer is the rule's; the file covers every code the load can give.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../base/hex.js';
import { decodeIssuerKeySet, decodeReaderCert, nobleEd25519 } from '../../src/index.js';
import { blocklistSigningInput, decodeBlocklist, MAX_BLOCKLIST_BYTES } from '../../src/reader/blocklist.js';
import { MemoryReaderStore, Reader } from '../../src/reader/index.js';

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  now: number;
  held: { list: string } | null;
  list: string | null;
  synthetic?: { length: number; byte: number };
  result: 'loaded' | 'refused';
  code?: string;
  loaded?: { version: number; issuedAt: number; count: number };
  signature: { signingInput: string; publicKey: string | null; signature: string; valid: boolean } | null;
}
const file = JSON.parse(readFileSync('fixtures/blocklist/blocklist_load.json', 'utf8')) as {
  numberOfTests: number;
  issuerKeySet: string;
  maxFutureSeconds: number;
  maxBlocklistBytes: number;
  reader: { cert: string; secretKey: string; profile: string };
  tests: Vector[];
};
const keys = decodeIssuerKeySet(fromHex(file.issuerKeySet));
const bytesOf = (t: Vector) => (t.list !== null ? fromHex(t.list) : new Uint8Array(t.synthetic!.length).fill(t.synthetic!.byte));

function load(t: Vector): string {
  const reader = new Reader({ cert: decodeReaderCert(fromHex(file.reader.cert)), secretKey: fromHex(file.reader.secretKey), issuerKeys: keys, store: new MemoryReaderStore(), clock: () => t.now });
  if (t.held) reader.loadBlocklist(fromHex(t.held.list), t.now);
  try {
    const s = reader.loadBlocklist(bytesOf(t), t.now);
    return `loaded ${s.version} ${s.issuedAt} ${s.count}`;
  } catch (e) {
    return `refused ${(e as { code?: string }).code}`;
  }
}

describe('blocklist load vectors (fixtures/blocklist/blocklist_load.json)', () => {
  it('cover every code a load can give, both ends of each window, and two-fault orderings', () => {
    expect(file.tests).toHaveLength(file.numberOfTests);
    expect(file.maxBlocklistBytes).toBe(MAX_BLOCKLIST_BYTES);
    const codes = new Set(file.tests.map((t) => t.code ?? t.result));
    for (const c of [
      'loaded', 'blocklist.bad_entry', 'blocklist.not_sorted', 'blocklist.wrong_issuer', 'blocklist.unknown_key', 'blocklist.key_not_valid', 'blocklist.bad_signature',
      'blocklist.future', 'blocklist.old_version', 'message.bad_structure', 'message.wrong_type', 'message.unsupported_version', 'cbor.too_large', 'cbor.malformed',
      'cbor.non_canonical', 'cbor.empty', 'cbor.unsupported',
    ]) {
      expect(codes, c).toContain(c);
    }
    // key_not_valid for both reasons: outside the key's window at issuedAt, and a key ended before the reader clock.
    const knv = file.tests.filter((t) => t.code === 'blocklist.key_not_valid');
    expect(knv.some((t) => t.flags.includes('KeyWindow'))).toBe(true);
    expect(knv.some((t) => t.flags.includes('KeyEnded'))).toBe(true);
    expect(file.tests.filter((t) => t.flags.includes('Boundary') && t.result === 'loaded').length).toBeGreaterThanOrEqual(4);
    expect(file.tests.filter((t) => t.flags.includes('Order')).length).toBeGreaterThanOrEqual(8);
    expect(file.tests.some((t) => t.result === 'loaded' && t.loaded!.count === 0)).toBe(true);
    const sizes = file.tests.filter((t) => t.synthetic).map((t) => `${t.synthetic!.length} ${t.code}`);
    expect(sizes).toContain(`${MAX_BLOCKLIST_BYTES + 1} cbor.too_large`);
  });

  it('every case gives its declared result through Reader.loadBlocklist', () => {
    for (const t of file.tests) {
      const want = t.result === 'loaded' ? `loaded ${t.loaded!.version} ${t.loaded!.issuedAt} ${t.loaded!.count}` : `refused ${t.code}`;
      expect(load(t), `tcId ${t.tcId}: ${t.comment}`).toBe(want);
    }
  });

  it('each signature answer is the rule\'s, and a list that decodes is signed over its own body', () => {
    for (const t of file.tests) {
      if (!t.signature) continue;
      const s = t.signature;
      const valid = s.publicKey !== null && s.signature.length === 128 && nobleEd25519.verify(fromHex(s.signature), fromHex(s.signingInput), fromHex(s.publicKey));
      expect(valid, `tcId ${t.tcId}`).toBe(s.valid);
      expect(s.signingInput.startsWith('13' + toHex(new TextEncoder().encode('OFFPAY-V2-BLOCKLIST'))), `tcId ${t.tcId}`).toBe(true);
      if (t.result === 'loaded') {
        expect(s.valid).toBe(true);
        expect(toHex(blocklistSigningInput(decodeBlocklist(bytesOf(t))))).toBe(s.signingInput);
      }
      if (t.code === 'blocklist.bad_signature') {
        const b = decodeBlocklist(bytesOf(t));
        const key = keys.keys.find((k) => k.keyIndex === b.keyIndex)!;
        expect(nobleEd25519.verify(b.signature, blocklistSigningInput(b), key.publicKey), `tcId ${t.tcId}`).toBe(false);
      }
    }
  });
});
