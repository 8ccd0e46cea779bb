/**
 * A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory (as the postgres user when the
 * tests run as root: PostgreSQL refuses to run as root), a free port on 127.0.0.1, the unix socket in the same
 * directory, `pg_ctl start -w`; stopped and deleted by `stop()`. The binaries are found under
 * /usr/lib/postgresql/<version>/bin (Debian's package postgresql; the newest version wins) or on PATH.
 *
 * Without PostgreSQL: under CI=true `startPgCluster` throws (the PostgreSQL tests must fail, not skip, in CI);
 * otherwise it returns a reason to skip, which the tests print.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  /** A new empty database on the cluster; its URL. */
  createDatabase(): Promise<string>;
  stop(): void;
}

function findBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length) return join(root, versions[0]!, 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  return which.status === 0 ? join(which.stdout.trim(), '..') : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let dbCounter = 0;

/** Start a cluster, or explain why not (a string: skip; under CI=true it throws instead). */
export async function startPgCluster(): Promise<PgCluster | string> {
  const bin = findBin();
  if (!bin) {
    const why = 'PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH; Debian: apt-get install postgresql)';
    if (process.env.CI === 'true') throw new Error(`${why}: the PostgreSQL clearing tests must run in CI`);
    return why;
  }
  const dir = mkdtempSync(join(tmpdir(), 'offpay-pg-'));
  const asRoot = process.getuid?.() === 0;
  // As root: the cluster belongs to the postgres user (the Debian package creates it).
  const run = (cmd: string, args: string[]) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] as const : [join(bin, cmd), args] as const;
    execFileSync(full[0], [...full[1]], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    // Durability off: a test cluster is thrown away (the store's correctness does not rest on fsync).
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
    run('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', join(dir, 'log'), '-o', opts]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`cannot start a throwaway PostgreSQL cluster: ${err.stderr?.toString() || err.message}`);
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    async createDatabase() {
      const name = `t${process.pid}_${++dbCounter}`;
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop() {
      try {
        run('pg_ctl', ['stop', '-m', 'immediate', '-D', data]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** `fn` on a connection of its own to the database at `url` (closed afterwards). */
export async function withClient<T>(url: string, fn: (client: import('pg').Client) => Promise<T>): Promise<T> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
