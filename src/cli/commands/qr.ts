/**
 * `offpay qr encode` / `offpay qr decode`: any payload bytes <-> a code image (spec/qr.md).
 * The token-level forms are `offpay pay|verify|request --via qr` (src/cli/via/qr.ts).
 */
import { OffpayError } from '../../../base/errors.js';
import { peekType } from '../../messages.js';
import { decodeCode, encodeCode } from '../../../codecs/qr/engine.js';
import { codeFileBytes, loadQrEngineNode } from '../../../codecs/qr/node.js';
import { MAX_PAYLOAD_BYTES, type PayloadKind } from '../../../codecs/qr/payload.js';
import { EXIT_OK, UsageError, type Command } from '../framework.js';
import { formatFor, parseQrOptions, readImageFile } from '../via/qr.js';
import { readBytes } from '../../node/files.js';
import { writeData } from '../payload.js';

function parseKind(v: string | undefined): PayloadKind | undefined {
  if (v === undefined) return undefined;
  if (v !== 'token' && v !== 'request') throw new UsageError('--kind must be token or request');
  return v;
}

/** token or request from the message type, when the payload is an offpay message; else undefined. */
function sniffKind(bytes: Uint8Array): PayloadKind | undefined {
  try {
    const t = peekType(bytes);
    return t.name === 'PaymentToken' ? 'token' : t.name === 'PaymentRequest' ? 'request' : undefined;
  } catch {
    return undefined;
  }
}

const encode: Command = {
  name: 'qr encode',
  summary: 'write payload bytes (a token or a payment request) as a QR code or another 2-D barcode',
  usage: '--in PAYLOAD --out CODE.png [--format png|svg|txt] [--ecc L|M|Q|H] [--mode base45|binary] [--symbology qr|aztec|pdf417|datamatrix] [--kind token|request]',
  options: {
    in: { type: 'string', arg: 'PAYLOAD', help: 'payload file (raw bytes, e.g. a token .cbor)' },
    out: { type: 'string', arg: 'CODE', help: "output file; '-' prints the terminal rendering" },
    format: { type: 'string', arg: 'F', help: 'png, svg or txt (UTF-8 half blocks); default from the --out extension, else png' },
    ecc: { type: 'string', arg: 'L|M|Q|H', help: 'error-correction level', default: 'M' },
    mode: { type: 'string', arg: 'MODE', help: "base45 (OP1x: + Base45, alphanumeric) or binary (OP1x= + bytes, no ECI)", default: 'base45' },
    symbology: { type: 'string', arg: 'S', help: 'qr, aztec, pdf417 or datamatrix', default: 'qr' },
    kind: { type: 'string', arg: 'K', help: 'token or request (default: from the message type, else token)' },
  },
  details: `The code carries "OP1T:" (token) or "OP1R:" (request) followed by the payload in Base45
(RFC 9285), or with --mode binary "OP1T=" followed by the raw bytes. A 200-byte token fits QR version 10
at level M. Exit 0 on success, 2 on bad input (payload too large for the symbol: qr.too_large).`,
  async run(ctx) {
    const inPath = ctx.need('in');
    const out = ctx.need('out');
    const payload = readBytes(inPath, 'payload', 1024 * 1024);
    if (payload.length > MAX_PAYLOAD_BYTES) throw new OffpayError('qr.too_large', `${inPath} has ${payload.length} bytes; the limit is ${MAX_PAYLOAD_BYTES}`);
    const kind = parseKind(ctx.opt('kind')) ?? sniffKind(payload) ?? 'token';
    const { ecc, mode, symbology } = parseQrOptions({ ecc: ctx.opt('ecc'), mode: ctx.opt('mode'), symbology: ctx.opt('symbology') });
    await loadQrEngineNode();
    const code = await encodeCode(payload, { kind, ecc, mode, symbology });
    // '-': the terminal rendering on standard output (or --format png|svg bytes, never PNG to a terminal).
    const format = out === '-' ? (ctx.opt('format') === undefined ? 'txt' : formatFor(out, ctx.opt('format'))) : formatFor(out, ctx.opt('format'));
    if (out !== '-' || !ctx.json) writeData(ctx, out, codeFileBytes(code, format), { text: format !== 'png', what: 'PNG' });
    const size = symbology === 'qr' ? `QR version ${code.qrVersion}-${ecc}` : `${symbology} ${code.matrix.width}x${code.matrix.height} modules`;
    if (out !== '-') ctx.out(`${kind} of ${payload.length} bytes written to ${out}: ${size}, ${mode}, ${format}`);
    ctx.emit({
      ok: true,
      kind,
      mode,
      symbology,
      ecc,
      qrVersion: code.qrVersion ?? null,
      modules: { width: code.matrix.width, height: code.matrix.height },
      payloadBytes: payload.length,
      contentChars: code.content.length,
      out,
      format,
      ...(out === '-' ? { terminal: code.terminal } : {}),
    });
    return EXIT_OK;
  },
};

const decode: Command = {
  name: 'qr decode',
  summary: 'read the offpay code in a PNG or JPEG image and write its payload bytes',
  usage: '--in IMAGE --out PAYLOAD [--expect token|request] [--json]',
  options: {
    in: { type: 'string', arg: 'IMAGE', help: 'PNG or JPEG file' },
    out: { type: 'string', arg: 'PAYLOAD', help: "output file for the payload bytes ('-': standard output, not a terminal)" },
    expect: { type: 'string', arg: 'K', help: 'only accept a token or a request' },
  },
  details: `With several symbols in view, the first offpay code (of the --expect kind) wins.
Errors (exit 2): qr.no_code, qr.foreign_code, qr.damaged, qr.bad_prefix, qr.bad_base45, qr.wrong_kind,
qr.not_an_image, qr.image_truncated, qr.image_too_large, ... (spec/qr.md, error table).`,
  async run(ctx) {
    const inPath = ctx.need('in');
    const out = ctx.need('out');
    const expect = parseKind(ctx.opt('expect'));
    await loadQrEngineNode();
    const d = await decodeCode(await readImageFile(inPath), expect ? { expect } : {});
    writeData(ctx, out, d.payload, { what: 'payload bytes' });
    ctx.out(`${d.kind} of ${d.payload.length} bytes (${d.symbology} ${d.symbolVersion}${d.ecc ? `-${d.ecc}` : ''}, ${d.mode}) written to ${out}`);
    ctx.emit({
      ok: true,
      kind: d.kind,
      version: d.version,
      mode: d.mode,
      symbology: d.symbology,
      ecc: d.ecc,
      symbolVersion: d.symbolVersion,
      symbolsInView: d.symbolsInView,
      bytes: d.payload.length,
      payload: d.payload,
      out,
    });
    return EXIT_OK;
  },
};

export const commands: Command[] = [encode, decode];
