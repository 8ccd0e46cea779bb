/**
 * The CLI framework's options declared `negative` (src/cli/framework.ts), such as `reader listen --min-level`:
 * a negative number after a space is the value in the long form; everything else parses as before.
 * (From a review of 8d440e3: a short alias rewritten as `-l=-5` gave the value "=-5", and `-fl -5` lost -f.)
 */
import { describe, expect, it } from 'vitest';
import { runCommand, type Command } from '../../src/cli/framework.js';

describe('CLI options that take negative numbers', () => {
  const seen: { values?: Record<string, unknown>; positionals?: string[] } = {};
  const cmd: Command = {
    name: 'zz', summary: 'test', usage: '', positionals: 'X',
    options: {
      lvl: { type: 'string', negative: true, short: 'l', help: 'a level' },
      other: { type: 'string', help: 'not negative' },
      flag: { type: 'boolean', short: 'f', help: 'a flag' },
    },
    run: async (ctx) => {
      seen.values = { ...ctx.values };
      seen.positionals = ctx.positionals;
      return 0;
    },
  };
  async function parse(...argv: string[]): Promise<{ code: number; err: string; values?: Record<string, unknown>; positionals?: string[] }> {
    let err = '';
    delete seen.values;
    delete seen.positionals;
    const code = await runCommand(cmd, argv, { out: () => undefined, err: (s: string) => (err += s) });
    return { code, err, ...(seen.values ? { values: seen.values } : {}), ...(seen.positionals ? { positionals: seen.positionals } : {}) };
  }

  it('the long form takes a negative number after a space or after =; the last of repeated options wins; positionals and -- as before', async () => {
    expect((await parse('--lvl', '-5')).values).toMatchObject({ lvl: '-5' });
    expect((await parse('--lvl=-5')).values).toMatchObject({ lvl: '-5' });
    expect((await parse('--lvl', '-1e3')).values).toMatchObject({ lvl: '-1e3' }); // the command's own check decides
    expect((await parse('--lvl', '-5', '--lvl', '-6')).values).toMatchObject({ lvl: '-6' });
    expect(await parse('a', '--lvl', '-5.5', '-f', 'b')).toMatchObject({ code: 0, values: { lvl: '-5.5', flag: true }, positionals: ['a', 'b'] });
    expect(await parse('--', '--lvl', '-5')).toMatchObject({ code: 0, positionals: ['--lvl', '-5'] });
  });

  it('refused as before: a value that is not a negative number, another option, a short alias with a separate negative value, an option not declared negative', async () => {
    const refusals: [string[], RegExp][] = [
      [['--lvl', '-x'], /needs a value, not '-x'/],
      [['--lvl', '--'], /needs a value/],
      [['--lvl', '--other'], /needs a value/],
      [['--lvl'], /needs a value/],
      [['--other', '-5'], /needs a value, not '-5' \(write --other=-5/],
      [['--lvl', '-5', '-5'], /./],
      [['-l', '-5'], /needs a value, not '-5' \(write --lvl=-5/],
      [['-fl', '-5'], /needs a value, not '-5' \(write --lvl=-5/],
    ];
    for (const [argv, message] of refusals) {
      const r = await parse(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.values, argv.join(' ')).toBeUndefined();
      expect(r.err, argv.join(' ')).toMatch(message);
    }
  });
});
