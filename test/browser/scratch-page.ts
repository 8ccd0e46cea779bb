/**
 * A page made of TypeScript written by a test (scenarios as source text), bundled from the repository and run in
 * Chromium: the test calls `run(name)`, which calls the page's `window.__run(name)` and returns its `ok` value or
 * `{ error }`. Files are written under .scratch/ (git-ignored) and removed by `close()`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveBundledPage } from './repo-page.js';

const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A running scratch page (one browser context: its tabs share IndexedDB and Web Locks). */
export interface ScratchPage {
  /** The directory the files were written to (under ROOT/.scratch). */
  dir: string;
  /** The page's window.__run(scenario): its `ok` value, or `{ error }`. */
  run(scenario: string): Promise<unknown>;
  /** Close the tab and open the page again in a new one (same origin, same storage). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Write `files` (name -> source; `page.ts` is the entry, which sets window.__run and window.__ready) under
 * ROOT/.scratch, bundle and serve them, and open the page in Chromium (`chromium` executable path).
 */
export async function startScratchPage(root: string, chromium: string, files: Record<string, string>, prefix = 'page-'): Promise<ScratchPage> {
  const scratch = join(root, '.scratch');
  mkdirSync(scratch, { recursive: true });
  const dir = mkdtempSync(join(scratch, prefix));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const served = await serveBundledPage(root, join(dir.slice(root.length + 1), 'page.ts'));
  const { chromium: pw } = await import('playwright-core');
  const browser = await pw.launch({ executablePath: chromium, args: LAUNCH_ARGS });
  const context = await browser.newContext();
  const open = async () => {
    const p = await context.newPage();
    await p.goto(served.base);
    await p.waitForFunction(() => (window as unknown as { __ready?: boolean }).__ready === true, undefined, { timeout: 90_000 });
    return p;
  };
  let page = await open();
  return {
    dir,
    async run(scenario) {
      const r = (await page.evaluate((s) => (window as unknown as { __run(s: string): Promise<unknown> }).__run(s), scenario)) as { ok?: unknown; error?: unknown };
      return r.error !== undefined ? { error: r.error } : r.ok;
    },
    async reopen() {
      await page.close();
      page = await open();
    },
    async close() {
      await browser.close();
      await served.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
