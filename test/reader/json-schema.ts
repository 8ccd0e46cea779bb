/**
 * A tiny JSON Schema validator for the subset fixtures/scenarios/schema.json uses (no dependency): type,
 * const, enum, pattern, minimum, maximum, properties, required, additionalProperties (boolean or schema),
 * items, oneOf, and $ref to "#/$defs/name". Returns the problems found, each with its JSON path.
 */
type Schema = Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function validate(root: Schema, value: unknown): string[] {
  const defs = (root.$defs ?? {}) as Record<string, Schema>;
  const check = (s: Schema, v: unknown, path: string): string[] => {
    if (typeof s.$ref === 'string') {
      const name = s.$ref.replace('#/$defs/', '');
      const d = defs[name];
      if (!d) return [`${path}: unknown $ref ${s.$ref}`];
      return check(d, v, path);
    }
    const out: string[] = [];
    if (s.oneOf) {
      const ok = (s.oneOf as Schema[]).filter((alt) => check(alt, v, path).length === 0).length;
      if (ok !== 1) out.push(`${path}: matches ${ok} of the oneOf alternatives, not exactly 1`);
      return out;
    }
    if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(v)) out.push(`${path}: expected ${JSON.stringify(s.const)}`);
    if (s.enum && !(s.enum as unknown[]).includes(v)) out.push(`${path}: ${JSON.stringify(v)} not in ${JSON.stringify(s.enum)}`);
    if (s.type) {
      const t = typeOf(v);
      const want = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!want.includes(t) && !(t === 'integer' && want.includes('number'))) return [...out, `${path}: expected ${want.join('|')}, got ${t}`];
    }
    if (typeof v === 'string' && typeof s.pattern === 'string' && !new RegExp(s.pattern).test(v)) out.push(`${path}: does not match ${s.pattern}`);
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) out.push(`${path}: ${v} < ${s.minimum}`);
      if (typeof s.maximum === 'number' && v > s.maximum) out.push(`${path}: ${v} > ${s.maximum}`);
    }
    if (Array.isArray(v) && s.items) v.forEach((x, i) => out.push(...check(s.items as Schema, x, `${path}[${i}]`)));
    if (typeOf(v) === 'object') {
      const o = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const r of (s.required ?? []) as string[]) if (!(r in o)) out.push(`${path}: missing ${r}`);
      for (const [k, x] of Object.entries(o)) {
        if (props[k]) out.push(...check(props[k], x, `${path}.${k}`));
        else if (s.additionalProperties === false) out.push(`${path}: unexpected key ${k}`);
        else if (typeof s.additionalProperties === 'object') out.push(...check(s.additionalProperties as Schema, x, `${path}.${k}`));
      }
    }
    return out;
  };
  return check(root, value, '$');
}
