/**
 * offpay/qr: tokens and payment requests as QR codes (and Aztec, PDF417, DataMatrix), read from
 * files and camera frames. Bytes in, bytes out: this codec knows nothing about tokens.
 * Normative description: spec/qr.md. Node file helpers: codecs/qr/node.ts.
 */
export {
  BASE45_ALPHABET, base45Length, base45Encode, base45Decode,
} from './base45.js';
export {
  type PayloadKind, type PayloadMode, PREFIX_VERSION, KIND_LETTER, MODE_SEPARATOR, PREFIX_LENGTH, MAX_PAYLOAD_BYTES,
  type Envelope, prefixFor, wrapText, wrap, hasOffpayPrefix, hasOffpayPrefixOf, unwrap,
} from './payload.js';
export {
  type ImageFormat, type ImageInfo, type ImageLimits, DEFAULT_MAX_SIDE, DEFAULT_MAX_PIXELS, checkDimensions,
  inspectImage,
} from './image.js';
export {
  ZXING_WASM_VERSION_PINNED, ZXING_WASM_SHA256_PINNED, ZXING_WASM_SUBPATH, type Symbology, type Ecc, SYMBOLOGIES,
  ECC_LEVELS, type WasmSource, type LoadOptions, loadQrEngine, isQrEngineLoaded, type QrEncodeOptions, type EncodeOptions,
  type ModuleMatrix, type EncodedCode, encodeCode, renderContent, renderTerminal, type Frame, type DecodeOptions,
  type DecodedCode, type Point, type RawSymbol, scanSymbols, decodeCode, pickOffpay,
} from './engine.js';
export {
  DAMM_TABLE, dammState, dammCheckDigit, dammValid, digitsForBits, packDigits, normalizeDigits, unpackDigits,
  groupDigits,
} from '../../base/digits.js';
export { checkFrame, frameLuma, downscale2 } from './luma.js';
export { type FinderOptions, type FinderCandidate, MAX_CANDIDATES, FinderScanner } from './finder.js';
export { type ScannerOptions, type ThoroughTrigger, type ScanResult, type ScannerStats, type QrScanner, createQrScanner } from './scanner.js';
