// A throwaway single-node Ceph RADOS Gateway (S3-compatible) for tests, on 127.0.0.1 only.
// - one ceph-mon (msgr v2 only) and one ceph-osd on `memstore` (objects live in the OSD's memory,
//   nothing touches a block device; memstore allocates lazily, `memstore device bytes` is only the
//   capacity the OSD reports), cephx off, pools of size 1 with 8 PGs, no ceph-mgr (nothing here
//   needs one; `ceph -s` then shows no PG statistics, which is harmless).
// - everything (ceph.conf, mon store, OSD dir, run dir with admin sockets and pid files, logs) lives
//   in a fresh temp dir, every tool is given `-c <that ceph.conf>`, and the daemons run in the
//   foreground (`-f`) as our children, so several instances can run side by side.
// - readiness is polled with a deadline through the daemons' admin sockets (mon leader, OSD active)
//   and then an anonymous `GET /` on the gateway; no fixed sleeps.
// - stop() SIGTERMs radosgw, then SIGKILLs the OSD (a graceful memstore shutdown may dump every
//   object to disk) and SIGTERMs the mon, waits for all three to exit and removes the temp dir. A process
//   'exit' hook SIGKILLs whatever is still running, so a crashed test run never leaks daemons.
// Needs the Debian packages ceph-mon, ceph-osd and radosgw (.ci/run installs them); root is not
// required and no kernel feature beyond unix and TCP sockets is used.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { accessSync, closeSync, constants, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './net.js';
import { startProcess, type ManagedProcess } from './process.js';
import { makeTempDir, removeDir } from './tmp.js';
import { S3Client } from '@aws-sdk/client-s3';

/** Executables the harness runs (all on PATH; Debian: ceph-mon, ceph-osd, radosgw + their deps). */
export const RGW_BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'] as const;

const START_TIMEOUT_MS = 60_000;
const POLL_MS = 25;
const DEFAULT_MEMSTORE_BYTES = 6 * 1024 ** 3;

export type RgwDaemon = 'mon' | 'osd' | 'rgw';

export interface RgwOptions {
  /** progress lines (each start-up step with its elapsed time) */
  log?: (line: string) => void;
  /** capacity the memstore OSD reports (default 6 GiB). Memory is only used for data actually stored. */
  memstoreBytes?: number;
  /** overall start-up deadline in ms (default 60 s) */
  timeoutMs?: number;
  /** extra ceph.conf options for every daemon (appended to [global], e.g. `{ 'rgw max put size': 1e6 }`) */
  config?: Record<string, string | number | boolean>;
}

export interface Rgw {
  /** http://127.0.0.1:PORT (path-style S3) */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** region to sign with: 'us-east-1' (so CreateBucket sends no LocationConstraint) */
  region: string;
  /** the temp dir holding ceph.conf, mon/osd data, run dir and logs (removed by stop()) */
  dir: string;
  /** path of the ceph.conf (for `ceph -c` / `radosgw-admin -c`) */
  conf: string;
  /** PIDs of the three daemons */
  pids: Record<RgwDaemon, number>;
  /** current and peak resident memory (VmRSS / VmHWM, KiB) of each daemon still running */
  memory(): Record<RgwDaemon, { rssKiB: number; peakKiB: number } | null>;
  /** radosgw-admin with this cluster's conf; resolves with stdout, rejects with stderr in the message */
  admin(args: readonly string[]): Promise<string>;
  /** last lines of the mon, OSD and radosgw logs and their captured output */
  logTail(n?: number): string;
  /** kills the daemons, waits for them to exit, removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** null when the binaries are present; otherwise why an RGW test cannot run (the reason to skip). */
export function rgwAvailable(): string | null {
  const missing = RGW_BINARIES.filter((b) => !onPath(b));
  if (missing.length === 0) return null;
  return `Ceph binaries not found on PATH: ${missing.join(', ')} (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw)`;
}

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      const p = join(dir, bin);
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

// ---- process bookkeeping ----------------------------------------------------------------------

const livePids = new Set<number>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // process.ts already SIGKILLs its children on exit; this also covers anything that outlived them,
  // and removes the temp dirs of instances never stopped (a per-process shared RGW, a crashed test).
  process.on('exit', () => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

// When the test process is killed outright ('exit' handlers do not run on SIGKILL/SIGTERM), the kernel
// still SIGKILLs daemons started through `setpriv --pdeathsig SIGKILL` (util-linux; exec keeps the PID).
const useSetpriv = process.platform === 'linux' && onPath('setpriv');

function track(proc: ManagedProcess): ManagedProcess {
  if (proc.pid > 0) {
    livePids.add(proc.pid);
    void proc.exited.then(() => livePids.delete(proc.pid));
  }
  return proc;
}

/** SIGTERM (or straight SIGKILL when graceMs is 0), SIGKILL after graceMs, then wait for the exit. */
async function kill(proc: ManagedProcess, graceMs: number): Promise<void> {
  if (proc.hasExited()) return;
  if (graceMs > 0) {
    await proc.stop(graceMs);
    return;
  }
  proc.child.kill('SIGKILL');
  const timeout = delay(10_000, 'timeout' as const, { ref: false });
  if ((await Promise.race([proc.exited, timeout])) === 'timeout') {
    throw new Error(`${proc.name} (pid ${proc.pid}) survived SIGKILL for 10 s`);
  }
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, env: cephEnv() }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`.trimEnd()));
      else resolve(stdout);
    });
  });
}

/** The caller's environment minus anything that would point ceph tools at another cluster. */
function cephEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CEPH_CONF;
  delete env.CEPH_ARGS;
  delete env.CEPH_KEYRING;
  return env;
}

// ---- admin socket -------------------------------------------------------------------------------

/** One admin-socket command (the `ceph daemon` protocol: JSON + NUL, answer = u32 BE length + body). */
function asok(path: string, command: Record<string, unknown>, timeoutMs = 2_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(new Error(`admin socket ${path}: no answer in ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => sock.write(`${JSON.stringify(command)}\0`));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        const body = buf.subarray(4, 4 + buf.readUInt32BE(0)).toString('utf8');
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`admin socket ${path}: not JSON: ${body.slice(0, 200)}`));
        }
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`admin socket ${path}: closed before a full answer`));
    });
  });
}

// ---- logs ---------------------------------------------------------------------------------------

function fileTail(path: string, n: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = statSync(path).size;
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (len < size) lines.shift(); // partial first line
    return lines.slice(-n).join('\n');
  } catch (e) {
    return `(cannot read ${path}: ${(e as Error).message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function procMemory(pid: number): { rssKiB: number; peakKiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const rssKiB = field('VmRSS');
    if (Number.isNaN(rssKiB)) return null; // zombie
    return { rssKiB, peakKiB: field('VmHWM') };
  } catch {
    return null;
  }
}

// ---- configuration ------------------------------------------------------------------------------

function cephConf(o: {
  dir: string;
  fsid: string;
  monPort: number;
  rgwPort: number;
  memstoreBytes: number;
  extra: Record<string, string | number | boolean>;
}): string {
  const d = o.dir;
  const extra = Object.entries(o.extra).map(([k, v]) => `${k} = ${String(v)}\n`).join('');
  return `[global]
fsid = ${o.fsid}
mon host = v2:127.0.0.1:${o.monPort}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.1/32
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
keyring = ${d}/keyring
run dir = ${d}/run
admin socket = ${d}/run/$name.asok
pid file = ${d}/run/$name.pid
log file = ${d}/log/$name.log
log to stderr = false
err to stderr = true
crash dir = ${d}/crash
exec dir = ${d}/run
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.01
${extra}
[mon]
mon data = ${d}/mon/$id

[osd]
osd data = ${d}/osd/$id
osd objectstore = memstore
memstore device bytes = ${o.memstoreBytes}

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${o.rgwPort} tcp_nodelay=1
rgw data = ${d}/rgw
`;
}

// ---- start --------------------------------------------------------------------------------------

const bindFailure = /address already in use|bind.*(failed|unable)|unable to bind/i;

/**
 * Starts mon, OSD and radosgw in a new temp dir on free loopback ports and creates an S3 user.
 * Resolves once the gateway answers; throws with the daemons' log tails otherwise.
 */
export async function startRgw(opts: RgwOptions = {}): Promise<Rgw> {
  const reason = rgwAvailable();
  if (reason) throw new Error(reason);
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      lastError = e;
      // freePort() releases the port before the daemon binds it: retry only that race
      if (!(e instanceof StartError) || !e.bindRace) break;
      opts.log?.(`rgw: port race on attempt ${attempt}, retrying`);
    }
  }
  throw lastError;
}

class StartError extends Error {
  constructor(
    message: string,
    readonly bindRace: boolean,
  ) {
    super(message);
  }
}

async function startOnce(opts: RgwOptions): Promise<Rgw> {
  installExitHook();
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? START_TIMEOUT_MS;
  const deadline = t0 + timeoutMs;
  const say = (l: string): void => opts.log?.(`rgw: ${l} (+${Date.now() - t0} ms)`);

  const dir = await makeTempDir('rs-rgw-');
  liveDirs.add(dir);
  const conf = join(dir, 'ceph.conf');
  const fsid = randomUUID();
  const osdUuid = randomUUID();
  const monPort = await freePort();
  const rgwPort = await freePort();
  const accessKey = `AK${randomBytes(9).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(30).toString('base64url');
  const procs: Partial<Record<RgwDaemon, ManagedProcess>> = {};
  const logFiles: Record<RgwDaemon, string> = {
    mon: join(dir, 'log', 'mon.a.log'),
    osd: join(dir, 'log', 'osd.0.log'),
    rgw: join(dir, 'log', 'client.rgw.a.log'),
  };

  const logTail = (n = 40): string => {
    const parts: string[] = [];
    for (const d of ['rgw', 'osd', 'mon'] as const) {
      parts.push(`--- last ${n} lines of ${logFiles[d]} ---\n${fileTail(logFiles[d], n)}`);
      const p = procs[d];
      if (p) parts.push(p.logTail(Math.min(n, 20)));
    }
    return parts.join('\n');
  };

  const stopAll = async (): Promise<void> => {
    // radosgw first (with the OSD gone its shutdown waits on RADOS until the grace runs out), then the
    // OSD without grace (a clean memstore shutdown may write every object to disk) and the mon
    const errors: string[] = [];
    const stopOne = async (d: RgwDaemon, graceMs: number): Promise<void> => {
      const p = procs[d];
      if (p) await kill(p, graceMs).catch((e: Error) => errors.push(e.message));
    };
    await stopOne('rgw', 3_000);
    await Promise.all([stopOne('osd', 0), stopOne('mon', 3_000)]);
    if (errors.length) throw new Error(`stopping the RGW daemons failed:\n${errors.join('\n')}`);
  };

  /** fails fast (with log tails) when a daemon died or the deadline passed */
  const poll = async (what: string, probe: () => Promise<boolean>): Promise<void> => {
    let last = 'no attempt';
    for (;;) {
      for (const [d, p] of Object.entries(procs)) {
        if (p.hasExited()) throw new Error(`ceph ${d} exited while waiting for ${what}`);
      }
      try {
        if (await probe()) return;
        last = 'not ready';
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
      await delay(POLL_MS);
    }
  };

  const start = (d: RgwDaemon, cmd: string, args: string[]): ManagedProcess => {
    const argv = ['-c', conf, '-f', ...args];
    const p = track(
      useSetpriv
        ? startProcess('setpriv', ['--pdeathsig', 'SIGKILL', '--', cmd, ...argv], { name: `ceph ${d}`, env: cephEnv(), maxLines: 200 })
        : startProcess(cmd, argv, { name: `ceph ${d}`, env: cephEnv(), maxLines: 200 }),
    );
    procs[d] = p;
    return p;
  };
  const remaining = (): number => Math.max(1_000, deadline - Date.now());

  try {
    await Promise.all(['run', 'log', 'mon', 'osd/0', 'rgw', 'crash'].map((s) => mkdir(join(dir, s), { recursive: true })));
    await writeFile(conf, cephConf({ dir, fsid, monPort, rgwPort, memstoreBytes: opts.memstoreBytes ?? DEFAULT_MEMSTORE_BYTES, extra: opts.config ?? {} }));

    // mon
    const monmap = join(dir, 'monmap');
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, monmap], remaining());
    await run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', monmap], remaining());
    start('mon', 'ceph-mon', ['-i', 'a']);
    const monAsok = join(dir, 'run', 'mon.a.asok');
    await poll('the mon to form a quorum', async () => {
      const st = (await asok(monAsok, { prefix: 'mon_status' })) as { state?: string };
      return st.state === 'leader';
    });
    say(`mon leader on 127.0.0.1:${monPort}`);

    // osd (memstore)
    const id = (await run('ceph', ['-c', conf, '--connect-timeout', '10', 'osd', 'new', osdUuid], remaining())).trim();
    if (id !== '0') throw new Error(`ceph osd new returned id ${JSON.stringify(id)}, expected 0`);
    await run('ceph-osd', ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid, '--no-mon-config'], remaining());
    start('osd', 'ceph-osd', ['-i', '0']);
    const osdAsok = join(dir, 'run', 'osd.0.asok');
    await poll('the OSD to boot', async () => {
      const st = (await asok(osdAsok, { prefix: 'status' })) as { state?: string };
      return st.state === 'active';
    });
    say('osd.0 active');

    // radosgw (creates its pools on first start)
    start('rgw', 'radosgw', ['-n', 'client.rgw.a']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await poll(`radosgw on ${endpoint}`, async () => {
      const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      return res.status === 200 && body.includes('ListAllMyBucketsResult');
    });
    say(`radosgw answering on ${endpoint}`);

    const admin = (args: readonly string[]): Promise<string> => run('radosgw-admin', ['-c', conf, ...args], 60_000);
    await run(
      'radosgw-admin',
      ['-c', conf, 'user', 'create', '--uid=test', '--display-name=test', `--access-key=${accessKey}`, `--secret=${secretKey}`],
      remaining(),
    );
    say('user test created; ready');

    const pids = { mon: procs.mon!.pid, osd: procs.osd!.pid, rgw: procs.rgw!.pid };
    let stopping: Promise<void> | undefined;
    return {
      endpoint,
      accessKey,
      secretKey,
      region: 'us-east-1',
      dir,
      conf,
      pids,
      memory: () => ({ mon: procMemory(pids.mon), osd: procMemory(pids.osd), rgw: procMemory(pids.rgw) }),
      admin,
      logTail,
      stop() {
        stopping ??= (async () => {
          try {
            await stopAll();
          } finally {
            await removeDir(dir);
            liveDirs.delete(dir);
          }
        })();
        return stopping;
      },
    };
  } catch (e) {
    const tail = logTail();
    await stopAll().catch(() => undefined);
    await removeDir(dir);
    liveDirs.delete(dir);
    const msg = `starting RGW failed: ${(e as Error).message}\n${tail}`;
    throw new StartError(msg, bindFailure.test(tail));
  }
}

// package.json pins an SDK release that supports Node 20; its notice about later releases is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** An S3 client for a test RGW (path-style; RGW 16 refuses the SDK's default trailing checksums). */
export function rgwClient(rgw: Pick<Rgw, 'endpoint' | 'region' | 'accessKey' | 'secretKey'>): S3Client {
  return new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
