/**
 * TLS material for `clearing serve --tls-cert F --tls-key F` (spec/clearing-api.md §1.1). Both files are
 * untrusted input: each is bounded (MAX_PEM_BYTES) before it is read, must be PEM, and the pair must make a
 * TLS context (the key matches the certificate) before the server starts. Every failure is
 * `api.bad_tls` (exit 2), naming the file and what is wrong; nothing is served half-configured.
 */
import { createSecureContext } from 'node:tls';
import { readFileBounded } from '../node/bounded-file.js';
import { OffpayError } from '../../base/errors.js';

/** Largest certificate chain or key file read, bytes (a chain of a few certificates is under 10 KiB). */
export const MAX_PEM_BYTES = 1024 * 1024;

/** A certificate chain and its private key, PEM, as node:https takes them. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

function readPem(path: string, what: string, marker: RegExp): Buffer {
  const bytes = readFileBounded(path, MAX_PEM_BYTES, 'api.bad_tls', what);
  if (!marker.test(bytes.toString('latin1'))) throw new OffpayError('api.bad_tls', `${what} ${path} is not PEM (no ${marker.source.replace(/\\/g, '')} block)`);
  return bytes;
}

/**
 * Read and check the certificate chain and key files. Throws `api.bad_tls` when a file is missing, too large,
 * not PEM, or the key does not belong to the certificate.
 */
export function loadTlsMaterial(certPath: string, keyPath: string): TlsMaterial {
  const cert = readPem(certPath, 'TLS certificate', /-----BEGIN CERTIFICATE-----/);
  const key = readPem(keyPath, 'TLS key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  checkTlsMaterial({ cert, key }, `${certPath} + ${keyPath}`);
  return { cert, key };
}

/** The pair makes a TLS context (parses, and the key matches the certificate); else `api.bad_tls`. */
export function checkTlsMaterial(m: TlsMaterial, name = 'the TLS certificate and key'): void {
  try {
    createSecureContext({ cert: m.cert, key: m.key });
  } catch (e) {
    throw new OffpayError('api.bad_tls', `${name}: ${(e as Error).message}`);
  }
}
