/**
 * Reading and writing tokens and payment requests in whatever form a transport left them, for every CLI
 * command alike.
 *
 * Reading (`readPayload`): `-` (or a pipe) is standard input, read whole up to MAX_STREAM_BYTES; with `--via`, that transport; otherwise the form is detected from the file's
 * first bytes (`sniff`): PNG/JPEG -> the QR transport, RIFF/WAVE -> FSK, an NDEF message whose first record
 * is a well-known/media/URI/external record that holds an offpay record -> NFC, 4+ digits -> a payment code
 * (requests only), anything else is the raw CBOR message (at most MAX_MESSAGE_FILE_BYTES). Each transport
 * bounds its own files (image 32 MiB, WAV 256 MiB, NDEF 1 MiB) before decoding.
 *
 * Writing (`writePayload`): `--out FILE` in the transport's file form (raw CBOR without --via);
 * `--out -` to standard output: a terminal QR code for --via qr, the digits for --via code, otherwise the
 * raw bytes when standard output is not a terminal. Binary is never written to a terminal (a usage error
 * says what to do), and `--out -` with `--json` is refused (both would write to standard output).
 * `checkOut` applies these rules before any work is done, so a refused `pay` spends no counter.
 */
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OffpayError } from '../../base/errors.js';
import { readBytes, whyUnreadable } from '../node/files.js';
import { checkWritable, sniff, writeOut } from './common.js';
import { UsageError, type CommandContext } from './framework.js';
import { loadVia, type PayloadKind } from './via.js';

/** Largest raw (CBOR) message file read: far above any token or request (a few hundred bytes). */
export const MAX_MESSAGE_FILE_BYTES = 65536;

/** The first `n` bytes of a file (typed errors as readBytes). */
export function readHead(path: string, what: string, n = 64): Uint8Array {
  let fd: number | undefined;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new OffpayError('file.unreadable', `${path} is not a file`);
    fd = openSync(path, 'r');
    const buf = new Uint8Array(Math.min(n, st.size));
    const got = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, got);
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    throw new OffpayError('file.unreadable', `cannot read ${what} at ${path}: ${whyUnreadable(e)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Whether a header byte can start an NDEF message: MB set, TNF well-known (1), media (2), URI (3) or external (4). */
function ndefCandidate(b0: number | undefined): boolean {
  if (b0 === undefined || (b0 & 0x80) === 0) return false;
  const tnf = b0 & 0x07;
  return tnf >= 1 && tnf <= 4;
}

export type PayloadForm = 'cbor' | 'wav' | 'png' | 'jpeg' | 'ndef' | 'digits';

/** Largest input read from standard input or a pipe (`-`): the largest file any form accepts (a WAV). */
export const MAX_STREAM_BYTES = 256 * 1024 * 1024;
/** Largest image read from a stream (the image reader's own limit, MAX_IMAGE_FILE_BYTES of the qr transport). */
export const MAX_STREAM_IMAGE_BYTES = 32 * 1024 * 1024;
/** How long a pipe may send nothing before its read is given up (file.unreadable), milliseconds. */
export const STREAM_IDLE_MS = 30_000;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Read all of standard input (`-`) or a pipe/device path, refusing more than `max` bytes (file.too_large). With
 * `capOf`, the limit is decided from the first 16 bytes (or all, if fewer): what they show the input to be.
 */
export function readStream(path: string, what: string, max = MAX_STREAM_BYTES, capOf?: (head: Uint8Array) => number): Uint8Array {
  let fd: number | undefined;
  try {
    // A named pipe is opened non-blocking: a FIFO with no writer would block the open for ever (CLI attack review,
    // 2026-12-07). With no writer its read ends at once (empty input); with a writer that sends nothing, the read
    // waits at most STREAM_IDLE_MS without data.
    fd = path === '-' ? 0 : openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const chunks: Uint8Array[] = [];
    let total = 0;
    let idleSince = Date.now();
    for (;;) {
      const buf = new Uint8Array(65536);
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
        idleSince = Date.now();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
          // a non-blocking pipe with no data yet: wait a little, up to STREAM_IDLE_MS without data
          if (Date.now() - idleSince > STREAM_IDLE_MS) throw new OffpayError('file.unreadable', `no ${what} data on ${path === '-' ? 'standard input' : path} for ${STREAM_IDLE_MS / 1000} s`);
          Atomics.wait(PAUSE, 0, 0, 5);
          continue;
        }
        if ((e as NodeJS.ErrnoException).code === 'EOF') break;
        throw e;
      }
      if (n === 0) break;
      total += n;
      chunks.push(buf.subarray(0, n));
      if (capOf && total >= 16) {
        max = Math.min(max, capOf(Buffer.concat(chunks).subarray(0, 16)));
        capOf = undefined;
      }
      if (total > max) throw new OffpayError('file.too_large', `${what} on ${path === '-' ? 'standard input' : path} is over ${max} bytes`);
    }
    const all = new Uint8Array(Buffer.concat(chunks));
    // Fewer than 16 bytes in all: the cap is decided on them now.
    const cap = capOf ? capOf(all) : max;
    if (all.length > cap) throw new OffpayError('file.too_large', `${what} on ${path === '-' ? 'standard input' : path} is over ${cap} bytes`);
    return all;
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    throw new OffpayError('file.unreadable', `cannot read ${what} from ${path === '-' ? 'standard input' : path}: ${whyUnreadable(e)}`);
  } finally {
    if (fd !== undefined && fd !== 0) closeSync(fd);
  }
}

function isStream(path: string): boolean {
  if (path === '-') return true;
  try {
    const st = statSync(path);
    return st.isFIFO() || st.isCharacterDevice() || st.isSocket();
  } catch {
    return false; // readHead reports the missing file
  }
}

/**
 * Read a token or a request from a file, whatever transport form it is in. `-` (or a pipe) is standard
 * input: read whole (bounded), then handled as a file of those bytes.
 */
export async function readPayloadWithForm(kind: PayloadKind, path: string, via?: string): Promise<{ bytes: Uint8Array; form: PayloadForm | string }> {
  if (isStream(path)) {
    // Bounded by what the stream shows itself to be: a WAV may be large, an image less, anything else is a message
    // (at most MAX_MESSAGE_FILE_BYTES, as a file of it would be): `offpay inspect - < /dev/zero` stops at 64 KiB.
    const bytes = readStream(path, kind, MAX_STREAM_BYTES, (head) => {
      const s = sniff(head);
      return s === 'wav' ? MAX_STREAM_BYTES : s === 'png' || s === 'jpeg' ? MAX_STREAM_IMAGE_BYTES : MAX_MESSAGE_FILE_BYTES;
    });
    const dir = mkdtempSync(join(tmpdir(), 'offpay-stdin-'));
    try {
      writeFileSync(join(dir, 'input'), bytes);
      return await readPayloadWithForm(kind, join(dir, 'input'), via);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (via) return { bytes: await (await loadVia(via)).read(kind, path), form: via };
  const head = readHead(path, kind);
  const s = sniff(head);
  if (s === 'png' || s === 'jpeg') return { bytes: await (await loadVia('qr')).read(kind, path), form: s };
  if (s === 'wav') return { bytes: await (await loadVia('fsk')).read(kind, path), form: 'wav' };
  if (s === 'digits' && kind === 'request') return { bytes: await (await loadVia('code')).read(kind, path), form: 'digits' };
  if (statSync(path).size > MAX_MESSAGE_FILE_BYTES) throw new OffpayError('cli.too_large', `${path} is too large to be an offpay ${kind} (and is no WAV, image or payment code)`);
  const bytes = readBytes(path, kind, MAX_MESSAGE_FILE_BYTES);
  if (kind === 'token' && ndefCandidate(bytes[0])) {
    // An NDEF message is tried first; bytes that are not one are the raw message (verification says why).
    const { decodeTokenNdef } = await import('../../codecs/nfc/ndef.js');
    try {
      return { bytes: decodeTokenNdef(bytes), form: 'ndef' };
    } catch {
      /* not NDEF */
    }
  }
  return { bytes, form: 'cbor' };
}

export async function readPayload(kind: PayloadKind, path: string, via?: string): Promise<Uint8Array> {
  return (await readPayloadWithForm(kind, path, via)).bytes;
}

/**
 * Check `--out` before any work: `-` with --json is refused, and `-` on a terminal is refused when the form
 * would be binary (`textOnStdout` false).
 */
export async function checkOut(ctx: CommandContext, out: string, via?: string): Promise<void> {
  if (out !== '-') return checkWritable(out); // before anything is spent on it (a counter, a request, an export)
  if (ctx.json) throw new UsageError('--out - and --json both write to standard output; give --out FILE with --json');
  const text = via ? (await loadVia(via)).textOnStdout : false;
  if (!text && ctx.stdout.isTTY) throw binaryToTerminal(via ? `${via} output` : 'CBOR');
}

function binaryToTerminal(what: string): UsageError {
  return new UsageError(`--out -: standard output is a terminal; refusing to print binary ${what}. Redirect it (> FILE) or pipe it (| ...), or give --out FILE`);
}

/** Write bytes (or text) to a file, or to standard output for `-` (see checkOut). */
export function writeData(ctx: CommandContext, out: string, data: Uint8Array, o: { text?: boolean; what?: string } = {}): void {
  if (out !== '-') {
    writeOut(out, data);
    return;
  }
  if (ctx.json) throw new UsageError('--out - and --json both write to standard output; give --out FILE with --json');
  if (!o.text && ctx.stdout.isTTY) throw binaryToTerminal(o.what ?? 'data');
  ctx.stdout.write(o.text ? new TextDecoder().decode(data) : data);
}

/** Write a token or request in a transport form (or raw CBOR) to a file or standard output. Returns a note. */
export async function writePayload(ctx: CommandContext, kind: PayloadKind, bytes: Uint8Array, out: string, via?: string): Promise<string> {
  if (out === '-') {
    await checkOut(ctx, out, via);
    if (!via) {
      ctx.stdout.write(bytes);
      return `${bytes.length} bytes of CBOR to standard output`;
    }
    const r = await (await loadVia(via)).render(kind, bytes);
    ctx.stdout.write(r.text ? new TextDecoder().decode(r.data) : r.data);
    return `${r.note}, to standard output`;
  }
  if (!via) {
    writeOut(out, bytes);
    return `${bytes.length} bytes of CBOR`;
  }
  const note = await (await loadVia(via)).write(kind, bytes, out);
  return note ?? `${bytes.length} bytes via ${via}`;
}
