/**
 * Where the per-token cost of an in-process SQLite ingest goes: the bench's population (bench/clearing.bench.ts)
 * ingested batch by batch with `Clearing.ingest`, CPU time per token printed; run under `node --cpu-prof` to see
 * the split.
 *
 *   node [--cpu-prof] dist/bench/clearing-profile.js [--readers N] [--batches N] [--sales N] [--memory] [--repeat N]
 *        [--concurrent N] [--time-exec]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clearing } from '../src/clearing/index.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { buildFastPopulation } from './clearing-load.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
};
const pop = buildFastPopulation({
  seed: 16, t0: Math.floor(Date.now() / 1000), readers: Number(arg('readers', '50')), batchesPerReader: Number(arg('batches', '2')), salesPerBatch: Number(arg('sales', '100')),
  honestWallets: 50, cloneGroups: 5, cloneCopies: 2, overAllowanceWallets: 5, cloneShare: 0.01, overAllowanceShare: 0.01, overlapShare: 0,
});
const batches = pop.readers.flatMap((r) => r.batches);
const nv = nodeEd25519(65_536);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const c0 = cpu();
for (const x of pop.signatures) nv.verify(x.sig, x.msg, x.pk);
const raw = (cpu() - c0) / pop.signatures.length;
const dir = mkdtempSync(join(tmpdir(), 'offpay-clearing-profile-'));
const REPEAT = Number(arg('repeat', '1'));
const execCpu = { cpu: 0, wall: 0, n: 0 };
const perRun: number[] = [];
/** Raw verification CPU per token, measured again just before each run. */
const raws: number[] = [];
for (let k = 0; k < REPEAT; k++) {
  const c = new Clearing({ path: argv.includes('--memory') ? ':memory:' : join(dir, `c${k}.db`), issuerKeys: pop.issuer.keySet() });
  const st = c.store as unknown as { db: { exec(sql: string): unknown } };
  if (argv.includes('--time-exec')) {
    const orig = st.db.exec.bind(st.db);
    st.db.exec = (sql: string) => {
      const a = cpu();
      const w = process.hrtime.bigint();
      const r = orig(sql);
      execCpu.cpu += cpu() - a;
      execCpu.wall += Number(process.hrtime.bigint() - w) / 1e9;
      execCpu.n++;
      return r;
    };
  }
  const r0 = cpu();
  for (const x of pop.signatures) nv.verify(x.sig, x.msg, x.pk);
  raws.push((cpu() - r0) / pop.signatures.length);
  const c1 = cpu();
  // --concurrent N: N ingests at once (as N clearing serve requests would be), else one at a time.
  const wave = Number(arg('concurrent', '1'));
  for (let i = 0; i < batches.length; i += wave) {
    for (const r of await Promise.all(batches.slice(i, i + wave).map((b) => c.ingest(b)))) {
      if (r.outcome !== 'ingested') throw new Error(`${r.outcome} ${r.error?.code ?? ''}`);
    }
  }
  perRun.push((cpu() - c1) / pop.tokens.length);
  await c.close();
}
rmSync(dir, { recursive: true, force: true });
const tokens = pop.tokens.length * REPEAT;
const beyond = perRun.map((x, k) => (x - raws[k]!) * 1e6);
const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
if (execCpu.n) process.stdout.write(`db.exec: ${execCpu.n} calls, ${((execCpu.cpu / tokens) * 1e6).toFixed(1)} us CPU a token, ${((execCpu.wall / tokens) * 1e6).toFixed(1)} us wall\n`);
process.stdout.write(
  `${pop.tokens.length} tokens, first run: raw verify ${(raw * 1e6).toFixed(1)} us CPU, ingest ${(perRun[0]! * 1e6).toFixed(1)} us CPU, beyond ${beyond[0]!.toFixed(1)} us; ` +
    `beyond per run: ${beyond.map((x) => x.toFixed(1)).join(' ')}; median of the warm runs ${REPEAT > 1 ? median(beyond.slice(1)).toFixed(1) : '-'} us\n`,
);
