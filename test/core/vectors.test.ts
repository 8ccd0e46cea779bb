import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasWebCryptoEd25519, nobleEd25519, webCryptoEd25519 } from '../../src/crypto.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { REASONS } from '../../src/reasons.js';
import { checkVectorFilesAsync, checkVectorFilesSync, generateVectors, vectorFileText, type VectorFile } from '../../src/vectors.js';

const DIR = new URL('../../fixtures/vectors/', import.meta.url);
const files: Record<string, VectorFile> = Object.fromEntries(
  readdirSync(DIR).filter((n) => n.endsWith('.json')).map((n) => [n, JSON.parse(readFileSync(new URL(n, DIR), 'utf8')) as VectorFile]),
);

describe('test vectors', () => {
  it('the committed files are exactly what the seeded generator writes', () => {
    const fresh = generateVectors();
    for (const [name, f] of Object.entries(fresh)) expect(readFileSync(new URL(name, DIR), 'utf8')).toBe(vectorFileText(f));
  });

  it('have at least 60 token cases covering every stateless reason', () => {
    const token = files['token_verify.json']!;
    expect(token.numberOfTests).toBeGreaterThanOrEqual(60);
    const reasons = new Set(Object.values(files).flatMap((f) => f.testGroups.flatMap((g) => g.tests.map((t) => t.reason))));
    // The exit's own reasons (24-26) are a gate's verdicts on an exit: the reader scenario exit-required pins them.
    const elsewhere = new Set(['bad_receipt_signature', 'bad_exit_signature', 'exit_too_old', 'exit_in_future']);
    const missing = Object.keys(REASONS).filter((r) => !reasons.has(r as never) && !elsewhere.has(r));
    expect(missing).toEqual([]);
    const nonCanonical = token.testGroups.flatMap((g) => g.tests).filter((t) => t.reason === 'non_canonical');
    expect(nonCanonical.length).toBeGreaterThanOrEqual(5);
  });

  it('every case passes with noble (RFC 8032 strict)', () => {
    expect(checkVectorFilesSync(files, nobleEd25519)).toEqual([]);
  });

  it('every case passes with node:crypto', () => {
    expect(checkVectorFilesSync(files, nodeEd25519())).toEqual([]);
  });

  it('every case passes with the WebCrypto fast path', async () => {
    expect(await hasWebCryptoEd25519()).toBe(true);
    expect(await checkVectorFilesAsync(files, webCryptoEd25519())).toEqual([]);
  });

  it('give every signature entry one answer (no null) and cover every porting answer of spec §3-§6', () => {
    const all = Object.values(files).flatMap((f) => f.testGroups.flatMap((g) => g.tests));
    expect(all.flatMap((t) => t.signatures).every((s) => typeof s.valid === 'boolean')).toBe(true);
    const flags = new Set(all.flatMap((t) => t.flags));
    for (const f of ['Precedence', 'Float', 'Limits', 'Shape', 'Ed25519EdgeCase', 'MixedOrderKey']) expect(flags).toContain(f);
    const token = files['token_verify.json']!;
    const edge = token.testGroups.find((g) => g.type === 'Ed25519EdgeCases')!.tests;
    for (let n = 0; n <= 11; n++) expect(edge.some((t) => t.comment.startsWith(`case ${n}:`))).toBe(true);
    // the catalogue's point: some signatures the rule accepts sit in tokens refused for their key (mixed order)
    expect(edge.some((t) => t.reason === 'weak_public_key' && t.signatures.find((s) => s.role === 'wallet')!.valid)).toBe(true);
  });

  it('a wrong signature answer is caught', () => {
    const f = structuredClone(files['token_verify.json']!);
    const s = f.testGroups[1]!.tests[0]!.signatures[1]!;
    s.valid = !s.valid;
    expect(checkVectorFilesSync({ x: f }, nodeEd25519()).length).toBe(1);
  });

  it('a wrong declaration is caught (the checker can fail)', () => {
    const f = structuredClone(files['token_verify.json']!);
    const c = f.testGroups[0]!.tests[0]!;
    c.result = 'invalid';
    c.reason = 'wrong_payee';
    expect(checkVectorFilesSync({ x: f }, nobleEd25519).length).toBe(1);
  });
});
