/**
 * Node adapter for the qr codec: loads the zxing wasm shipped in node_modules (never a CDN) and reads
 * or writes code files. Browser code uses engine.ts directly with bytes or a URL it serves itself.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { OffpayError } from '../../base/errors.js';
import {
  decodeCode,
  encodeCode,
  isQrEngineLoaded,
  loadQrEngine,
  ZXING_WASM_SUBPATH,
  type DecodeOptions,
  type DecodedCode,
  type QrEncodeOptions,
  type EncodedCode,
} from './engine.js';

/** Absolute path of the installed zxing wasm file. */
export function zxingWasmPath(): string {
  return createRequire(import.meta.url).resolve(ZXING_WASM_SUBPATH);
}

/** Reads the installed wasm, checks its SHA-256 against the pinned constant and instantiates it. */
export async function loadQrEngineNode(options: { path?: string; sha256?: string } = {}): Promise<void> {
  if (isQrEngineLoaded() && !options.path && !options.sha256) return;
  const path = options.path ?? zxingWasmPath();
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new OffpayError('qr.wasm_unavailable', `cannot read the zxing wasm at ${path}: ${(e as Error).message}`);
  }
  await loadQrEngine(bytes, options.sha256 ? { sha256: options.sha256 } : {});
}

/** The file format {@link writeCodeFile} writes: PNG, SVG, or the terminal text rendering. */
export type CodeFileFormat = 'png' | 'svg' | 'txt';

/** The file form of an encoded code: PNG bytes, SVG text, or the terminal (UTF-8 half-block) text. */
export function codeFileBytes(code: EncodedCode, format: CodeFileFormat): Uint8Array {
  if (format === 'png') return code.png;
  if (format === 'svg') return new TextEncoder().encode(code.svg);
  return new TextEncoder().encode(code.terminal);
}

/**
 * Encode a payload as a code and write it to `path` (Node; PNG by default), loading the engine from the installed
 * zxing-wasm if needed. Returns the encoded code. Errors as {@link encodeCode} and `loadQrEngineNode`.
 */
export async function writeCodeFile(
  path: string,
  payload: Uint8Array,
  options: QrEncodeOptions & { format?: CodeFileFormat } = {},
): Promise<EncodedCode> {
  const { format, ...encodeOptions } = options ?? {};
  await loadQrEngineNode();
  const code = await encodeCode(payload, encodeOptions);
  await writeFile(path, codeFileBytes(code, format ?? 'png'));
  return code;
}

/**
 * Read the offpay code in an image file (Node; PNG or JPEG), loading the engine if needed. Errors as
 * {@link decodeCode}; the `node:fs` error if the file cannot be read.
 */
export async function readCodeFile(path: string, options: DecodeOptions = {}): Promise<DecodedCode> {
  await loadQrEngineNode();
  const bytes = await readFile(path);
  return decodeCode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), options);
}
