/**
 * Token-level 'qr' transport for the CLI: a token or a payment request <-> a code image file.
 * write: `OP1T:`/`OP1R:` + Base45 (or binary) as a QR code (or Aztec/PDF417/DataMatrix); the file form
 * follows the options or the extension (.svg, .txt = terminal half blocks, else PNG).
 * read: a PNG or JPEG; the offpay code of the expected kind among the symbols in view.
 */
import { readFile, stat } from 'node:fs/promises';
import { OffpayError } from '../../../base/errors.js';
import { decodeCode, encodeCode, ECC_LEVELS, SYMBOLOGIES, type Ecc, type Symbology } from '../../../codecs/qr/engine.js';
import { codeFileBytes, loadQrEngineNode, type CodeFileFormat } from '../../../codecs/qr/node.js';
import { writeOut } from '../common.js';
import type { PayloadMode } from '../../../codecs/qr/payload.js';
import type { PayloadKind, Via } from '../via.js';

/** Largest image file the CLI will read (the decoder also caps the pixel dimensions). */
export const MAX_IMAGE_FILE_BYTES = 32 * 1024 * 1024;

export function formatFor(path: string, format?: string): CodeFileFormat {
  const f = format ?? (/\.svg$/i.test(path) ? 'svg' : /\.txt$/i.test(path) ? 'txt' : 'png');
  if (f !== 'png' && f !== 'svg' && f !== 'txt') throw new OffpayError('qr.bad_option', `format must be png, svg or txt, got ${f}`);
  return f;
}

export function parseQrOptions(o: Record<string, string | undefined>): { ecc: Ecc; mode: PayloadMode; symbology: Symbology } {
  const ecc = (o['ecc'] ?? 'M').toUpperCase() as Ecc;
  if (!ECC_LEVELS.includes(ecc)) throw new OffpayError('qr.bad_option', `--ecc must be one of ${ECC_LEVELS.join(', ')}`);
  const mode = (o['mode'] ?? 'base45') as PayloadMode;
  if (mode !== 'base45' && mode !== 'binary') throw new OffpayError('qr.bad_option', '--mode must be base45 or binary');
  const symbology = (o['symbology'] ?? 'qr').toLowerCase() as Symbology;
  if (!SYMBOLOGIES.includes(symbology)) throw new OffpayError('qr.bad_option', `--symbology must be one of ${SYMBOLOGIES.join(', ')}`);
  return { ecc, mode, symbology };
}

/**
 * An image file, bounded before it is read (spec/qr.md §11): its size from stat first, over
 * MAX_IMAGE_FILE_BYTES is `qr.image_too_large`; not a regular file or unreadable is `file.unreadable`.
 */
export async function readImageFile(path: string): Promise<Uint8Array> {
  const tooLarge = (n: number) => new OffpayError('qr.image_too_large', `${path} is ${n} bytes; the limit is ${MAX_IMAGE_FILE_BYTES}`);
  let bytes: Buffer;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new OffpayError('file.unreadable', `${path} is not a regular file`);
    if (st.size > MAX_IMAGE_FILE_BYTES) throw tooLarge(st.size);
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    throw new OffpayError('file.unreadable', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (bytes.length > MAX_IMAGE_FILE_BYTES) throw tooLarge(bytes.length); // grew after the stat
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export const via: Via = {
  name: 'qr',
  textOnStdout: true,
  /** For standard output: the terminal rendering (UTF-8 half blocks), as `offpay qr encode --out -` prints. */
  async render(kind: PayloadKind, bytes: Uint8Array, options: Record<string, string> = {}) {
    await loadQrEngineNode();
    const { ecc, mode, symbology } = parseQrOptions(options);
    const code = await encodeCode(bytes, { kind, ecc, mode, symbology });
    const size = symbology === 'qr' ? `QR version ${code.qrVersion}-${ecc}` : `${symbology} ${code.matrix.width}x${code.matrix.height} modules`;
    return { data: new TextEncoder().encode(code.terminal), text: true, note: `${size}, ${mode}, terminal text` };
  },
  async write(kind: PayloadKind, bytes: Uint8Array, outPath: string, options: Record<string, string> = {}) {
    await loadQrEngineNode();
    const { ecc, mode, symbology } = parseQrOptions(options);
    const format = formatFor(outPath, options['format']);
    const code = await encodeCode(bytes, { kind, ecc, mode, symbology });
    writeOut(outPath, codeFileBytes(code, format));
    const size = symbology === 'qr' ? `QR version ${code.qrVersion}-${ecc}` : `${symbology} ${code.matrix.width}x${code.matrix.height} modules`;
    return `${size}, ${mode}, ${format.toUpperCase()}`;
  },
  async read(kind: PayloadKind, inPath: string) {
    await loadQrEngineNode();
    const d = await decodeCode(await readImageFile(inPath), { expect: kind });
    return d.payload;
  },
};
