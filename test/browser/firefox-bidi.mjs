/**
 * A minimal WebDriver BiDi driver for Debian's Firefox ESR, used by test/browser/firefox.test.ts.
 *
 * Why not playwright-core: its Firefox support needs Playwright's own patched build, and its BiDi path
 * (channel "moz-firefox") sends `emulation.setMediaFeaturesOverride` on every new page, which Firefox ESR 153
 * does not know, so no page opens. WebDriver BiDi itself (W3C) is all a test needs: open a page, poll an
 * expression, read a result, collect the page's JavaScript errors.
 *
 * Run as `node --experimental-websocket firefox-bidi.mjs PLAN.json` (Node 20 has WebSocket behind that flag;
 * Node 22+ accepts the flag and has it anyway). PLAN.json: {firefox, steps: [{url, until, result, timeoutMs}]}
 * where `until` and `result` are JavaScript expressions evaluated in the page (`until` polled every 250 ms
 * until truthy; `result` returns a JSON-serialisable value). Prints one JSON line:
 * {version, steps: [{url, result, errors: [message...]}]} and exits 0, or {error} and exits 1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const profile = mkdtempSync(join(tmpdir(), 'offpay-ff-'));
// Fake camera and microphone granted without a prompt; nothing fetched from outside (no updates, no
// telemetry, no safe-browsing lists, no captive-portal probe).
const prefs = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'extensions.update.enabled': false,
  'browser.aboutwelcome.enabled': false,
  'remote.prefs.recommended': true,
};
writeFileSync(join(profile, 'user.js'), Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n'));

const ff = spawn(plan.firefox, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port=0'], {
  stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' },
});
let log = '';
const wsUrl = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`Firefox did not start BiDi within 60 s:\n${log.slice(-2000)}`)), 60_000);
  const look = (chunk) => {
    log += chunk;
    const m = /WebDriver BiDi listening on (ws:\/\/[^\s]+)/.exec(log);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  };
  ff.stdout.on('data', look);
  ff.stderr.on('data', look);
  ff.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Firefox exited (${code}) before BiDi was ready:\n${log.slice(-2000)}`)); });
});

const ws = new WebSocket(`${wsUrl}/session`);
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('BiDi WebSocket failed')); });
let nextId = 1;
const pending = new Map();
const pageErrors = [];
ws.onmessage = (ev) => {
  const msg = JSON.parse(String(ev.data));
  if (msg.id !== undefined && pending.has(msg.id)) {
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.type === 'error') reject(new Error(`${msg.error}: ${msg.message}`));
    else resolve(msg.result);
  } else if (msg.method === 'log.entryAdded' && msg.params.level === 'error') {
    pageErrors.push(msg.params.text);
  }
};
const send = (method, params) => new Promise((resolve, reject) => {
  const id = nextId++;
  pending.set(id, { resolve, reject });
  ws.send(JSON.stringify({ id, method, params }));
});

/** BiDi's remote value -> plain JSON (only what JSON.stringify of a page value gives back). */
async function evaluate(context, expression) {
  const r = await send('script.evaluate', { expression, target: { context }, awaitPromise: true, resultOwnership: 'none' });
  if (r.type === 'exception') throw new Error(`in the page: ${r.exceptionDetails.text}`);
  return r.result;
}
const stringOf = (v) => (v.type === 'string' ? v.value : undefined);

const out = { steps: [] };
try {
  const session = await send('session.new', { capabilities: {} });
  out.version = `${session.capabilities.browserName} ${session.capabilities.browserVersion}`;
  await send('session.subscribe', { events: ['log.entryAdded'] });
  const tree = await send('browsingContext.getTree', {});
  const context = tree.contexts[0].context;
  for (const step of plan.steps) {
    pageErrors.length = 0;
    await send('browsingContext.navigate', { context, url: step.url, wait: 'complete' });
    const deadline = Date.now() + (step.timeoutMs ?? 60_000);
    for (;;) {
      const v = await evaluate(context, `Boolean(${step.until})`);
      if (v.type === 'boolean' && v.value) break;
      if (Date.now() > deadline) throw new Error(`${step.url}: timed out waiting for ${step.until}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (process.env.BIDI_DEBUG) process.stderr.write(`step ${step.url} ready\n`);
    const result = JSON.parse(stringOf(await evaluate(context, `JSON.stringify(${step.result})`)) ?? 'null');
    out.steps.push({ url: step.url, result, errors: [...pageErrors] });
  }
  await send('session.end', {}).catch(() => undefined);
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ ...out, error: String(e?.message ?? e) }));
  process.exitCode = 1;
} finally {
  ws.close();
  ff.kill('SIGKILL');
  await new Promise((r) => (ff.exitCode !== null ? r() : ff.once('exit', r)));
  rmSync(profile, { recursive: true, force: true });
}
