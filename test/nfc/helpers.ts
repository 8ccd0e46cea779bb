/** Shared test helpers for the NFC area: a deterministic wallet, hex utilities, a file tag and a vpcd stand-in. */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { OffpayError } from '../../base/errors.js';
import { parseCommand, statusOnly, SW } from '../../codecs/nfc/apdu.js';
import type { ApduProcessor } from '../../codecs/nfc/session.js';
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

/** A Type 4 Tag serving arbitrary CC and NDEF files (what a real NXP tag or another HCE app presents). */
export function fileTag(cc: Uint8Array, ndefFile: Uint8Array): ApduProcessor {
  let selected = false;
  let file: Uint8Array | undefined;
  return {
    async process(bytes) {
      const c = parseCommand(bytes);
      if (c.ins === 0xa4 && c.p1 === 0x04) {
        selected = true;
        return statusOnly(SW.OK);
      }
      if (c.ins === 0xa4 && c.p1 === 0x00 && selected) {
        const id = (c.data[0]! << 8) | c.data[1]!;
        file = id === 0xe103 ? cc : id === 0xe104 ? ndefFile : undefined;
        return statusOnly(file ? SW.OK : SW.FILE_NOT_FOUND);
      }
      if (c.ins === 0xb0 && file) {
        const off = (c.p1 << 8) | c.p2;
        const out = file.subarray(off, Math.min(file.length, off + c.ne));
        const r = new Uint8Array(out.length + 2);
        r.set(out);
        r[out.length] = 0x90;
        return r;
      }
      return statusOnly(SW.INS_NOT_SUPPORTED);
    },
  };
}

/** A stand-in for pcscd's vpcd driver: accepts the virtual card's connection and exchanges framed APDUs with it. */
export async function fakeVpcd(): Promise<{ port: number; card: Promise<VpcdPeer>; close: () => void }> {
  let resolveCard!: (p: VpcdPeer) => void;
  const card = new Promise<VpcdPeer>((r) => (resolveCard = r));
  const server = createServer((sock) => resolveCard(new VpcdPeer(sock)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, card, close: () => server.close() };
}

export class VpcdPeer {
  private acc = Buffer.alloc(0);
  private waiting: Array<(b: Uint8Array) => void> = [];
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.acc = Buffer.concat([this.acc, d]);
      while (this.acc.length >= 2 && this.acc.length >= 2 + this.acc.readUInt16BE(0)) {
        const n = this.acc.readUInt16BE(0);
        const msg = new Uint8Array(this.acc.subarray(2, 2 + n));
        this.acc = this.acc.subarray(2 + n);
        this.waiting.shift()?.(msg);
      }
    });
    sock.on('error', () => undefined);
  }
  private send(payload: Uint8Array): void {
    const h = Buffer.alloc(2);
    h.writeUInt16BE(payload.length);
    this.sock.write(Buffer.concat([h, payload]));
  }
  /** Send a command APDU, resolve with the response APDU. */
  transmit(apdu: Uint8Array): Promise<Uint8Array> {
    const p = new Promise<Uint8Array>((r) => this.waiting.push(r));
    this.send(apdu);
    return p;
  }
  /** A vpcd control byte (00 power off, 01 power on, 02 reset). */
  control(b: number): void {
    this.send(Uint8Array.of(b));
  }
}
