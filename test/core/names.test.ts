/**
 * One name for one thing (issue 13, "The package's surface"):
 * - a name exported by two public entry points is the same thing (a re-export of one declaration), except
 *   the deprecated aliases kept for one release and the per-transport `airTime` listed below;
 * - each deprecated alias carries an `@deprecated` doc tag naming its replacement;
 * - "payment code" is the one term: the spelling "paycode" survives only in the published error codes
 *   (`paycode.*`), the file names that users and ports refer to, and the deprecated alias.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { default: string } | string> };
const entries = Object.entries(pkg.exports)
  .filter(([, t]) => typeof t !== 'string') // code entry points (not ./package.json, ./fixtures/*, ./spec/*)
  .map(([k, t]) => [k, (t as { default: string }).default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')] as const);

/** Where each exported name of an entry point is declared: `file#name` (following `export { a as b } from`). */
function exportsOf(file: string): Map<string, string> {
  const out = new Map<string, string>();
  const src = readFileSync(file, 'utf8');
  for (const m of src.matchAll(/export\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'([^']+)'/g)) {
    const from = relative('.', resolve(dirname(file), m[2]!.replace(/\.js$/, '.ts')));
    for (const raw of m[1]!.split(',')) {
      const n = raw.trim().replace(/^type\s+/, '');
      if (!n) continue;
      const [orig, alias] = n.split(/\s+as\s+/) as [string, string | undefined];
      out.set(alias ?? orig, `${from}#${orig}`);
    }
  }
  for (const m of src.matchAll(/^export\s+(?:declare\s+)?(?:async\s+)?(?:const|function|class|interface|type|let)\s+(\w+)/gm)) {
    out.set(m[1]!, `${file}#${m[1]!}`);
  }
  return out;
}

/** Deprecated aliases (0.2.0, removed in the next release): old name -> the new names that replace it. */
const DEPRECATED: Record<string, string[]> = {
  PROFILES: ['FSK_PROFILES', 'READER_PROFILES'],
  PROFILE_NAMES: ['FSK_PROFILE_NAMES'],
  Profile: ['FskProfile'],
  ProfileName: ['FskProfileName'],
  ProfileParams: ['ReaderProfileParams'],
  ReaderOptions: ['ReaderSessionOptions'],
  EncodeOptions: ['FskEncodeOptions', 'QrEncodeOptions'],
  PAYCODE_SIGNED_TIME: ['PAYMENT_CODE_SIGNED_TIME'],
};
/** The same concept per transport, each in its own entry point: the air time of a frame (fsk) or an exchange (nfc). */
const SAME_CONCEPT = new Set(['airTime']);

describe('one name for one thing', () => {
  const byName = new Map<string, Set<string>>();
  for (const [, file] of entries) {
    for (const [name, decl] of exportsOf(file)) (byName.get(name) ?? byName.set(name, new Set()).get(name)!).add(decl);
  }

  it('the check sees the entry points and their re-exports', () => {
    expect(entries.length).toBeGreaterThanOrEqual(10);
    expect(byName.get('FSK_PROFILES')).toEqual(new Set(['codecs/fsk/profiles.ts#FSK_PROFILES']));
    expect(byName.get('Clearing')).toEqual(new Set(['src/clearing/clearing.ts#Clearing'])); // offpay/clearing and offpay/node
    expect(byName.get('ReaderOptions')?.size).toBe(2); // the deprecated nfc alias and the reader's own
  });

  it('a name exported by two entry points is one declaration (deprecated aliases aside)', () => {
    const clashes = [...byName].filter(([n, decls]) => decls.size > 1 && !(n in DEPRECATED) && !SAME_CONCEPT.has(n));
    expect(clashes.map(([n, d]) => `${n}: ${[...d].join(', ')}`)).toEqual([]);
  });

  it('every deprecated alias says so and names its replacement', () => {
    for (const [old, replacements] of Object.entries(DEPRECATED)) {
      const decls = [...(byName.get(old) ?? [])];
      expect(decls.length, old).toBeGreaterThan(0);
      for (const r of replacements) expect(byName.has(r), r).toBe(true);
      const deprecated = decls.filter((d) => {
        const [file, name] = d.split('#') as [string, string];
        const src = readFileSync(file, 'utf8');
        const at = src.search(new RegExp(`^export (?:const|type) ${name}\\b`, 'm'));
        if (at < 0) return false;
        const before = src.slice(0, at).trimEnd();
        const doc = before.endsWith('*/') ? before.slice(before.lastIndexOf('/**')) : '';
        return /@deprecated/.test(doc) && replacements.some((r) => doc.includes(`{@link ${r}}`));
      });
      // ReaderOptions: only the nfc one is deprecated; the reader verifier keeps the name.
      expect(deprecated.length, `${old}: ${decls.join(', ')}`).toBe(old === 'ReaderOptions' ? 1 : decls.length);
    }
  });

  it('"payment code" is the one term in the spec, README, CLI, and identifiers', () => {
    const files = [
      ...readdirSync('spec').map((f) => join('spec', f)),
      'README.md',
      ...['src', 'codecs', 'web', 'examples'].flatMap((d) => readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => join(d, f))),
    ];
    const allowed = [
      /\bpaycode\.(?:format|length|check_digit|range|version|kind|\*)/g, // published error codes (spec/protocol.md §13)
      /\bpaycode\.(?:ts|js|json|test\.ts)\b/g, // file names
      /`paycode`|cert-expiry, paycode\b/g, // the scenario vector's name (spec/reader.md §15)
      /\bPAYCODE_SIGNED_TIME\b/g, // the deprecated alias
      /'paycode'/g, // test seeds and the scenario name in scripts (not scanned) stay
    ];
    const left: string[] = [];
    for (const f of files) {
      let s = readFileSync(f, 'utf8');
      for (const a of allowed) s = s.replace(a, '');
      s.split('\n').forEach((line, i) => {
        // `payCode` (Wallet.payCode: pay a code) is a verb and its object, as `openRequest({ code: true })`.
        if (/paycode|Paycode|PAYCODE|PayCode|pay-code/.test(line)) left.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(left).toEqual([]);
  });
});
