/** Table-driven lower-case hex for hot paths (store keys, caches); same output as crypto.ts toHex. */
const TABLE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += TABLE[b[i]!]!;
  return s;
}
