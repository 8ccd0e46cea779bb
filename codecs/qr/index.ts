/**
 * offpay/qr: tokens and payment requests as QR codes (and Aztec, PDF417, DataMatrix), read from
 * files and camera frames. Bytes in, bytes out: this codec knows nothing about tokens.
 * Normative description: spec/qr.md. Node file helpers: codecs/qr/node.ts.
 */
export * from './base45.js';
export * from './payload.js';
export * from './image.js';
export * from './engine.js';
export * from './paycode.js';
export * from './luma.js';
export * from './finder.js';
export * from './scanner.js';
