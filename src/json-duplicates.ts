/**
 * Duplicate member names in JSON text. RFC 8259 §4 leaves an object with a name twice to the parser ("the
 * names within an object SHOULD be unique"): JavaScript's JSON.parse keeps the last value, many C parsers the
 * first. A file whose meaning depends on that choice is refused where offpay reads state it must not misread
 * (counter.json, spec/protocol.md §9.4), so that every port reads one file one way.
 *
 * Names are compared after their escapes are decoded (`"coun\u0074er"` is `"counter"`), within each object
 * separately (nested objects have their own names).
 */

/**
 * The first member name that occurs twice in one object of `text`, or undefined when there is none. `text` must
 * be valid JSON (call it after JSON.parse accepted the text): the scan tracks only strings and brackets.
 */
export function firstDuplicateName(text: string): string | undefined {
  // One frame per open bracket: an object's names so far and whether the next string is a name, or null for an array.
  const stack: ({ names: Set<string>; nameNext: boolean } | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack.at(-1);
      if (top && top.nameNext) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.names.has(name)) return name;
        top.names.add(name);
        top.nameNext = false;
      }
      i = j;
    } else if (ch === 0x7b /* { */) stack.push({ names: new Set(), nameNext: true });
    else if (ch === 0x5b /* [ */) stack.push(null);
    else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) stack.pop();
    else if (ch === 0x2c /* , */) {
      const top = stack.at(-1);
      if (top) top.nameNext = true;
    }
  }
  return undefined;
}
