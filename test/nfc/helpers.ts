/** Shared test helpers for the NFC area: a deterministic wallet and hex utilities. */
import { OffpayError } from '../../base/errors.js';
import type { CardWallet } from '../../codecs/nfc/card.js';
import { runCommand, type Command, type Io } from '../../src/cli/framework.js';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A token of `length` bytes that depends on every request byte (so a wrong reassembly shows). */
export function fakeToken(request: Uint8Array, length: number): Uint8Array {
  let h = 0x811c9dc5;
  for (const b of request) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    h = Math.imul(h ^ i, 0x01000193) >>> 0;
    out[i] = h >>> 24;
  }
  return out;
}

export interface TestWallet extends CardWallet {
  requests: Uint8Array[];
  receipts: Uint8Array[];
}

/** A wallet that returns fakeToken(request, tokenLength), or throws `fail` when set. */
export function testWallet(tokenLength = 300, opts: { fail?: unknown; receipt?: boolean } = {}): TestWallet {
  const w: TestWallet = {
    requests: [],
    receipts: [],
    async getToken(request) {
      w.requests.push(request);
      if (opts.fail !== undefined) throw opts.fail;
      return fakeToken(request, tokenLength);
    },
  };
  if (opts.receipt !== false)
    w.receipt = async (r) => {
      w.receipts.push(r);
    };
  return w;
}

export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof OffpayError) return e.code;
    throw e;
  }
  return 'ok';
}

export async function asyncCodeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OffpayError) return e.code;
    throw e;
  }
  return 'ok';
}

/** Run a CLI command in-process and capture its output. */
export async function runCli(list: Command[], name: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const cmd = list.find((x) => x.name === name);
  if (!cmd) throw new Error(`no command ${name}`);
  let out = '';
  let err = '';
  const io: Io = { out: (s) => (out += s), err: (s) => (err += s) };
  const code = await runCommand(cmd, argv, io);
  return { code, out, err };
}
