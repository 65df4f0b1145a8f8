// The processes under test and the baselines they are judged against: both registries on fresh
// data dirs under one parent, /proc-based CPU and RSS accounting per process, the disk's durable
// write ceiling, and a trivial file server that gives the client's own pull ceiling.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { run } from '../helpers/exec.js';
import { basicAuth } from '../helpers/net.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { startDistribution, startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { BenchError, HttpTarget, MiB, runPool, type BlobSource } from './client.js';
import type { S3Store } from './s3.js';

/** The two registries compared head to head, both on the filesystem. */
export type Kind = 'ours' | 'distribution';
export const KINDS: readonly Kind[] = ['ours', 'distribution'];
/** Plus ours on the S3 driver (the S3 column), in the throughput scenarios when RGW is installed. */
export type ServerKind = Kind | 'ours-s3';

const CLK_TCK = 100; // USER_HZ; 100 on every Linux architecture that Node runs on

/** CPU time and memory of one process, read from /proc/<pid>. */
export class ProcMonitor {
  private timer: NodeJS.Timeout | undefined;
  private windowPeakKiB = 0;
  private overallPeakKiB = 0;
  private canResetPeak = true;

  constructor(readonly pid: number) {}

  private status(field: 'VmRSS' | 'VmHWM'): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!m) throw new BenchError(`no ${field} in /proc/${this.pid}/status`);
    return Number(m[1]);
  }

  /** utime + stime of all threads, in seconds. */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }

  rssMiB(): number {
    return this.status('VmRSS') / 1024;
  }

  private poll(): void {
    try {
      const kib = this.status('VmRSS');
      this.windowPeakKiB = Math.max(this.windowPeakKiB, kib);
      this.overallPeakKiB = Math.max(this.overallPeakKiB, kib);
    } catch {
      // the process is gone; the scenario will fail on its own
    }
  }

  start(intervalMs = 100): void {
    this.overallPeakKiB = this.status('VmHWM');
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Starts a measurement window: the kernel's VmHWM is reset (clear_refs 5) where allowed, and the polled peak too. */
  beginWindow(): { cpu0: number } {
    this.overallPeakKiB = Math.max(this.overallPeakKiB, this.status('VmHWM'));
    if (this.canResetPeak) {
      try {
        writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      } catch {
        this.canResetPeak = false;
      }
    }
    this.windowPeakKiB = this.status('VmRSS');
    return { cpu0: this.cpuSeconds() };
  }

  endWindow(start: { cpu0: number }): { cpuSeconds: number; peakRssMiB: number } {
    this.poll();
    const hwm = this.canResetPeak ? this.status('VmHWM') : 0;
    this.windowPeakKiB = Math.max(this.windowPeakKiB, hwm);
    this.overallPeakKiB = Math.max(this.overallPeakKiB, this.windowPeakKiB);
    return { cpuSeconds: this.cpuSeconds() - start.cpu0, peakRssMiB: this.windowPeakKiB / 1024 };
  }

  overallPeakRssMiB(): number {
    return this.overallPeakKiB / 1024;
  }
}

/** Busy CPU time of the whole machine (all processes and the kernel), in seconds, from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is already in user)
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / CLK_TCK;
}

export interface Server {
  kind: ServerKind;
  reg: RunningRegistry;
  monitor: ProcMonitor;
  idleRssMiB: number;
  cpuAtStart: number;
  /** the S3 store behind it (ours-s3 only), whose CPU time is accounted apart */
  store?: S3Store;
}

export interface Credentials {
  user: string;
  password: string;
  file: string;
  authorization: string;
}

/** One user with a bcrypt cost-10 hash (as `htpasswd -B -C 10` writes), readable by both registries. */
export async function makeHtpasswd(dir: string): Promise<Credentials> {
  const user = 'bench';
  const password = randomBytes(12).toString('base64url');
  const file = join(dir, 'htpasswd');
  await writeFile(file, `${user}:${bcrypt.hashSync(password, 10)}\n`, { mode: 0o600 });
  return { user, password, file, authorization: basicAuth(user, password) };
}

/** Starts ours and distribution, each with a fresh data dir `<root>/<pass>/<kind>`. */
export async function startServers(root: string, pass: string, htpasswd?: string): Promise<Server[]> {
  const servers: Server[] = [];
  try {
    for (const kind of KINDS) {
      const dataDir = join(root, pass, kind);
      await mkdir(dataDir, { recursive: true });
      const reg = kind === 'ours' ? await startOurRegistry({ dataDir, htpasswd }) : await startDistribution({ dataDir, htpasswd });
      const monitor = new ProcMonitor(reg.process.pid);
      monitor.start();
      servers.push({ kind, reg, monitor, idleRssMiB: monitor.rssMiB(), cpuAtStart: monitor.cpuSeconds() });
    }
  } catch (e) {
    await stopServers(servers);
    throw e;
  }
  return servers;
}

export async function stopServers(servers: readonly Server[]): Promise<void> {
  for (const s of servers) {
    s.monitor.stop();
    await s.reg.stop().catch(() => undefined);
  }
}

/** Flushes every dirty page (untimed, between runs), so one run's write-back does not land in the next. */
export async function syncAll(): Promise<void> {
  await run('sync', [], { timeoutMs: 300_000 });
}

async function writeSource(file: string, source: BlobSource, durable: boolean): Promise<{ writeMs: number; totalMs: number }> {
  const fh = await open(file, 'w');
  try {
    const t0 = performance.now();
    for (const chunk of source.chunks()) await fh.write(chunk);
    const written = performance.now();
    if (durable) await fh.datasync();
    return { writeMs: written - t0, totalMs: performance.now() - t0 };
  } finally {
    await fh.close();
  }
}

/** Raw write of `source` into `dir`, then fdatasync: the most any durable push could reach. */
export async function diskCeiling(dir: string, source: BlobSource): Promise<{ durableMiBps: number; bufferedMiBps: number }> {
  await syncAll();
  const file = join(dir, 'disk-ceiling.bin');
  try {
    const t = await writeSource(file, source, true);
    return { durableMiBps: source.size / MiB / (t.totalMs / 1000), bufferedMiBps: source.size / MiB / (t.writeMs / 1000) };
  } finally {
    await rm(file, { force: true });
  }
}

// The file server: plain node:http streaming a file with the same read size our registry uses.
const FILE_SERVER = `
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join, basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
const dir = process.argv[1];
const server = http.createServer((req, res) => {
  let size;
  const file = join(dir, basename(req.url));
  try { size = statSync(file).size; } catch { res.writeHead(404, { 'content-length': 0 }); res.end(); return; }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), res).catch(() => res.destroy());
});
server.keepAliveTimeout = 75000;
server.listen(0, '127.0.0.1', () => console.log('file server listening on ' + server.address().port));
`;

export interface ClientCeiling {
  singleStreamMiBps: number;
  concurrentMiBps: number;
  concurrency: number;
  fileServerCpuSecondsPerGiB: number;
}

/**
 * The client's own pull ceiling: the same HttpTarget and sha256 checks against a trivial file
 * server. One stream over `bigCount` reads of the big file, then `concurrency` streams of the
 * small one for `durationMs`.
 */
export async function clientCeiling(
  dir: string,
  big: BlobSource,
  bigCount: number,
  mixed: BlobSource,
  concurrency: number,
  durationMs: number,
  capMs: number,
): Promise<ClientCeiling> {
  await writeSource(join(dir, 'big.bin'), big, false);
  await writeSource(join(dir, 'mixed.bin'), mixed, false);
  let proc: ManagedProcess | undefined;
  try {
    proc = startProcess(process.execPath, ['--input-type=module', '-e', FILE_SERVER, dir], { name: 'file server' });
    const m = await proc.waitForLine(/^file server listening on (\d+)$/, 20_000);
    const http = new HttpTarget('file server', `http://127.0.0.1:${m[1]}`, { maxSockets: concurrency });
    const monitor = new ProcMonitor(proc.pid);
    const cpu0 = monitor.cpuSeconds();
    const pull = async (name: string, source: BlobSource): Promise<number> => {
      const reply = await http.getHashed(`/${name}`);
      if (reply.bytes !== source.size || reply.digest !== source.digest()) {
        throw new BenchError(`file server: GET /${name}: got ${reply.bytes} bytes with ${reply.digest}, expected ${source.size} with ${source.digest()}`);
      }
      return reply.bytes;
    };
    await pull('mixed.bin', mixed); // untimed: warms up the connection and the JIT
    let bytes = 0;
    const single = await runPool(1, bigCount, performance.now() + capMs, async () => {
      const n = await pull('big.bin', big);
      bytes += n; // not `bytes += await …`: that loses concurrent additions
    });
    const singleStreamMiBps = bytes / MiB / (single.elapsedMs / 1000);
    let total = bytes;
    bytes = 0;
    const conc = await runPool(concurrency, 1_000_000, performance.now() + durationMs, async () => {
      const n = await pull('mixed.bin', mixed);
      bytes += n; // not `bytes += await …`: that loses concurrent additions
    });
    total += bytes;
    const cpu = monitor.cpuSeconds() - cpu0;
    http.close();
    return {
      singleStreamMiBps,
      concurrentMiBps: bytes / MiB / (conc.elapsedMs / 1000),
      concurrency,
      fileServerCpuSecondsPerGiB: cpu / (total / (1024 * MiB)),
    };
  } finally {
    await proc?.stop(5_000).catch(() => undefined);
    await rm(join(dir, 'big.bin'), { force: true });
    await rm(join(dir, 'mixed.bin'), { force: true });
  }
}
