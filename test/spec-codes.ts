/**
 * Every error code the specs' tables list: the codes in the first cell of a table row in spec/*.md, with or
 * without backticks, one or several (`| api.not_found | 404 | ...`, `| refund.unknown_payment, refund.not_settled,
 * ... |`). A row naming a family (`clearing.*`) refers to that family's own table, whose codes are collected too.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const SPEC_CODES: ReadonlySet<string> = new Set(
  readdirSync('spec')
    .filter((f) => f.endsWith('.md'))
    .flatMap((f) => [...readFileSync(`spec/${f}`, 'utf8').matchAll(/^\| ([^|]+) \|/gm)])
    .flatMap((m) => m[1]!.split(',').map((c) => c.trim().replace(/^`|`$/g, '')))
    .filter((c) => /^[a-z0-9]+\.[a-z0-9_]+$/.test(c)),
);
