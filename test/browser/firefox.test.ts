/**
 * offpay in Firefox (Debian's firefox-esr), driven over WebDriver BiDi by test/browser/firefox-bidi.mjs:
 * - the browser-promise page (test/browser/page.mjs, as in Chromium): the core, every vector with noble and
 *   WebCrypto, FSK through Web Audio, QR with the locally served wasm;
 * - IndexedDbReaderStore's behaviour suite (the page Chromium runs);
 * - the playground's reader page (microphone granted with echo cancellation, noise suppression and gain
 *   control off, the decoder Worker listening) and wallet page (key, certificate, ready), with no page error.
 * Firefox's fake microphone is a tone, not a file, so hearing a token end to end is tested in Chromium
 * (test/browser/playground.test.ts); the decoding code is the same module here, run by the first page.
 * Under CI=true a missing Firefox fails the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveBundledPage, serveRepoPage } from './repo-page.js';
import { startPlaygroundCli } from './playground-harness.js';

const FIREFOX = '/usr/bin/firefox-esr';
const ROOT = resolve('.');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const haveFirefox = existsSync(FIREFOX);
const haveBuild = existsSync(CLI) && existsSync(join(ROOT, 'dist/web/reader.js'));
if (process.env.CI === 'true' && !haveFirefox) throw new Error(`CI: ${FIREFOX} is missing (apt-get install firefox-esr)`);
if (process.env.CI === 'true' && !haveBuild) throw new Error('CI: dist/ is missing (npm run build)');

interface Step { url: string; until: string; result: string; timeoutMs?: number }
interface StepResult { url: string; result: Record<string, unknown> | null; errors: string[] }

/**
 * Runs the BiDi driver on `steps`; returns its per-step results (throws with the driver's error). The driver is
 * a child process run asynchronously: the pages' servers live in this process and must keep answering.
 */
async function inFirefox(steps: Step[]): Promise<{ version: string; steps: StepResult[] }> {
  mkdirSync(join(ROOT, '.scratch'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.scratch', 'ff-'));
  try {
    const plan = join(dir, 'plan.json');
    writeFileSync(plan, JSON.stringify({ firefox: FIREFOX, steps }));
    const child = spawn(process.execPath, ['--experimental-websocket', join(ROOT, 'test/browser/firefox-bidi.mjs'), plan], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 280_000);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(timer);
    const line = stdout.trim().split('\n').pop() ?? '';
    let out: { version: string; steps: StepResult[]; error?: string };
    try {
      out = JSON.parse(line) as typeof out;
    } catch {
      throw new Error(`the Firefox driver printed no result (exit ${code}): ${stdout.slice(-1000)} ${stderr.slice(-2000)}`);
    }
    if (out.error) throw new Error(`in Firefox: ${out.error}`);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let repo: Server | undefined;
let repoBase = '';
let idb: { base: string; close(): Promise<void> } | undefined;
let playground: ChildProcess | undefined;
let playBase = '';

beforeAll(async () => {
  if (!haveFirefox || !haveBuild) return;
  ({ server: repo, base: repoBase } = await serveRepoPage(ROOT));
  idb = await serveBundledPage(ROOT, 'test/browser/indexeddb-page.ts');
  ({ proc: playground, base: playBase } = await startPlaygroundCli(CLI, [], 'http', 20_000));
}, 60_000);
afterAll(async () => {
  playground?.kill('SIGTERM');
  await idb?.close();
  await new Promise<void>((r) => (repo ? repo.close(() => r()) : r()));
});

describe.skipIf(!haveFirefox || !haveBuild)('in Firefox', () => {
  it('runs the library page, the IndexedDB store suite and both playground pages with no page error', async () => {
    const out = await inFirefox([
      { url: `${repoBase}/`, until: 'window.__offpay !== undefined', result: 'window.__offpay', timeoutMs: 90_000 },
      { url: `${idb!.base}/`, until: 'window.__idb !== undefined', result: 'window.__idb', timeoutMs: 90_000 },
      {
        url: `${playBase}/reader?fare=2.00&currency=HKD`,
        until: 'document.body.dataset.listening !== undefined || document.body.dataset.error !== undefined',
        result: '({ ...document.body.dataset, granted: document.getElementById("granted")?.textContent ?? null })',
      },
      {
        url: `${playBase}/wallet`,
        until: 'document.body.dataset.ready !== undefined || document.body.dataset.error !== undefined',
        result: '({ ...document.body.dataset })',
      },
    ]);
    console.log(`Firefox: ${out.version}`);
    expect(out.version).toMatch(/^firefox \d+/i);
    const [lib, store, reader, wallet] = out.steps;
    for (const s of out.steps) expect({ url: s.url, errors: s.errors }).toEqual({ url: s.url, errors: [] });
    expect(lib!.result).toMatchObject({ noble: true, webcrypto: true, vectorProblems: [], fskOk: true, qrOk: true });
    expect(store!.result).toEqual({ basics: [], model: [], prune: [], missing: 'reader.store_missing', missingStill: 'reader.store_missing', exists: 'reader.store_exists', failClosed: ['reader.store_unusable', 'reader.store_unusable'] });
    expect(reader!.result).toMatchObject({ listening: expect.stringMatching(/^\d+$/) });
    expect(reader!.result!.error).toBeUndefined();
    expect(String(reader!.result!.granted)).toMatch(/echoCancellation false, noiseSuppression false, autoGainControl false/);
    expect(wallet!.result).toMatchObject({ ready: 'true' });
    expect(wallet!.result!.error).toBeUndefined();
  }, 300_000);
});
