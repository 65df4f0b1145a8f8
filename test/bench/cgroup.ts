// CPU and memory of whole containers, from their cgroups: what a stack of several processes (nginx
// master and workers, the registry) costs, counted by the kernel rather than summed per process.
// Works on cgroup v2 and on the v1 (hybrid) layout Docker's cgroupfs driver uses (this machine):
// CPU from the unified hierarchy's cpu.stat usage_usec where it exists, else cpuacct.usage;
// memory from v2 memory.current/memory.peak, else v1 memory.usage_in_bytes/max_usage_in_bytes
// (which a write of 0 resets, so each measurement window gets its own peak).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/exec.js';
import { BenchError, MiB } from './client.js';
import { ProcMonitor } from './servers.js';

const ROOT = '/sys/fs/cgroup';

/** Where the unified (v2) hierarchy is mounted: the root on a pure v2 host, `unified/` on a hybrid one. */
function unifiedRoot(): string | undefined {
  if (existsSync(join(ROOT, 'cgroup.controllers'))) return ROOT;
  if (existsSync(join(ROOT, 'unified', 'cgroup.controllers')) || existsSync(join(ROOT, 'unified', 'cgroup.procs'))) return join(ROOT, 'unified');
  return undefined;
}

/** `<hierarchy id>:<controllers>:<path>` lines of /proc/<pid>/cgroup, by controller ('' for v2). */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const c of m[1]!.split(',')) out.set(c, m[2]!);
  }
  return out;
}

function readNumber(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

/** `key value` lines (cpu.stat, memory.stat). */
export function statField(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** How the figures were read, for the report. */
export interface CgroupSources {
  cpu: string;
  memory: string;
  peak: string;
}

/** One container's cgroup files, found from its main process. */
export class ContainerCgroup {
  private readonly cpuFile: { file: string; kind: 'usage_usec' | 'cpuacct' };
  private readonly memCurrent: string;
  private readonly memPeak: string | undefined;
  private readonly memStat: string;
  private readonly procs: string;
  private readonly peakResettable: boolean;
  readonly sources: CgroupSources;

  constructor(
    readonly name: string,
    readonly pid: number,
  ) {
    const paths = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    const unified = unifiedRoot();
    const v2 = paths.get('');
    const v2Dir = unified && v2 !== undefined ? join(unified, v2) : undefined;
    if (v2Dir && existsSync(join(v2Dir, 'cpu.stat')) && statField(readFileSync(join(v2Dir, 'cpu.stat'), 'utf8'), 'usage_usec') !== undefined) {
      this.cpuFile = { file: join(v2Dir, 'cpu.stat'), kind: 'usage_usec' };
    } else if (paths.has('cpuacct')) {
      this.cpuFile = { file: join(ROOT, 'cpuacct', paths.get('cpuacct')!, 'cpuacct.usage'), kind: 'cpuacct' };
    } else {
      throw new BenchError(`${name}: no cpu.stat or cpuacct.usage for pid ${pid}`);
    }
    if (v2Dir && existsSync(join(v2Dir, 'memory.current'))) {
      this.memCurrent = join(v2Dir, 'memory.current');
      this.memStat = join(v2Dir, 'memory.stat');
      this.memPeak = existsSync(join(v2Dir, 'memory.peak')) ? join(v2Dir, 'memory.peak') : undefined;
      this.procs = join(v2Dir, 'cgroup.procs');
      this.peakResettable = false;
    } else if (paths.has('memory')) {
      const dir = join(ROOT, 'memory', paths.get('memory')!);
      this.memCurrent = join(dir, 'memory.usage_in_bytes');
      this.memStat = join(dir, 'memory.stat');
      this.memPeak = join(dir, 'memory.max_usage_in_bytes');
      this.procs = join(dir, 'cgroup.procs');
      this.peakResettable = true;
    } else {
      throw new BenchError(`${name}: no memory cgroup for pid ${pid}`);
    }
    const peakName = this.memPeak?.split('/').pop();
    this.sources = {
      cpu: this.cpuFile.kind === 'usage_usec' ? 'cgroup v2 cpu.stat usage_usec' : 'cgroup v1 cpuacct.usage',
      memory: this.memCurrent.endsWith('memory.current') ? 'cgroup v2 memory.current' : 'cgroup v1 memory.usage_in_bytes',
      peak: peakName ? `kernel ${peakName}${this.peakResettable ? ' (reset per window)' : ' (since the container started)'}` : 'sampled every 100 ms',
    };
  }

  cpuSeconds(): number {
    if (this.cpuFile.kind === 'cpuacct') return readNumber(this.cpuFile.file) / 1e9;
    return statField(readFileSync(this.cpuFile.file, 'utf8'), 'usage_usec')! / 1e6;
  }

  /** Charged memory, page cache included (what a memory limit would count). */
  memoryBytes(): number {
    return readNumber(this.memCurrent);
  }

  /** Anonymous memory (the processes' own, without page cache): the cgroup's RSS. */
  anonBytes(): number {
    const text = readFileSync(this.memStat, 'utf8');
    return statField(text, 'anon') ?? statField(text, 'total_rss') ?? statField(text, 'rss') ?? 0;
  }

  /**
   * Resident memory of the container's processes from /proc/<pid>/smaps_rollup, as PSS: each page
   * shared by several processes (the node binary mapped by the registry and by the healthcheck
   * Docker runs beside it) counted once in all, not once per process as a sum of RSS would.
   * anon: the processes' own memory; file: mapped files (the binary and libraries).
   */
  pss(): { total: number; anon: number; file: number } {
    const out = { total: 0, anon: 0, file: 0 };
    const kib = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    for (const pid of readFileSync(this.procs, 'utf8').split('\n').filter(Boolean)) {
      try {
        const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
        out.total += kib(rollup, 'Pss');
        out.anon += kib(rollup, 'Pss_Anon');
        out.file += kib(rollup, 'Pss_File');
      } catch {
        // the process ended between the two reads
      }
    }
    return out;
  }

  /**
   * Reclaims what the kernel can of the cgroup's memory (clean page cache first), so that a window's
   * peak starts from the processes' own memory and not from the page cache of earlier writes.
   */
  reclaim(): void {
    const v1 = this.memCurrent.endsWith('memory.usage_in_bytes');
    try {
      if (v1) writeFileSync(this.memCurrent.replace(/memory\.usage_in_bytes$/, 'memory.force_empty'), '0');
      else writeFileSync(this.memCurrent.replace(/memory\.current$/, 'memory.reclaim'), String(this.memoryBytes()));
    } catch {
      // v2 answers EAGAIN when it could not reclaim all it was asked to: what it did reclaim is gone
    }
  }

  /** The kernel's peak of memoryBytes() (since the last reset where resettable); undefined if the kernel keeps none. */
  peakBytes(): number | undefined {
    return this.memPeak ? readNumber(this.memPeak) : undefined;
  }

  /** Starts a new peak where the kernel allows it (v1); reports whether it did. */
  resetPeak(): boolean {
    if (!this.memPeak || !this.peakResettable) return false;
    try {
      writeFileSync(this.memPeak, '0');
      return true;
    } catch {
      return false;
    }
  }
}

/** The main pid of a running container. */
export async function containerPid(container: string): Promise<number> {
  const r = await run('docker', ['inspect', '--format', '{{.State.Pid}}', container], { timeoutMs: 20_000 });
  const pid = Number(r.stdout.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new BenchError(`${container} is not running (pid ${r.stdout.trim()})`);
  return pid;
}

/** docker-proxy processes forwarding the given host ports (dockerd without iptables runs one per published port). */
export function dockerProxies(hostPorts: readonly number[]): ProcMonitor[] {
  const out: ProcMonitor[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!args[0]?.endsWith('docker-proxy')) continue;
    const i = args.indexOf('-host-port');
    if (i >= 0 && hostPorts.includes(Number(args[i + 1]))) out.push(new ProcMonitor(Number(entry)));
  }
  return out;
}

/** A stack: its containers (by role) and the docker-proxy processes of its published ports. */
export class StackMonitor {
  private timer: NodeJS.Timeout | undefined;
  private sampledPeak = 0;
  private sampledAnonPeak = 0;
  private sampledPssPeak = 0;
  /** per container: peaks of PSS, its anonymous and its file part (each its own peak) */
  private readonly perContainerPssPeak = new Map<string, { total: number; anon: number; file: number }>();

  constructor(
    readonly containers: ContainerCgroup[],
    readonly proxies: ProcMonitor[],
  ) {}

  static async open(containers: Record<string, string>, hostPorts: readonly number[]): Promise<StackMonitor> {
    const groups: ContainerCgroup[] = [];
    for (const [role, name] of Object.entries(containers)) groups.push(new ContainerCgroup(role, await containerPid(name)));
    const proxies = dockerProxies(hostPorts);
    return new StackMonitor(groups, proxies);
  }

  /** CPU seconds of each container, and of the docker-proxy processes together. */
  cpu(): { byContainer: Record<string, number>; proxy: number } {
    const byContainer: Record<string, number> = {};
    for (const c of this.containers) byContainer[c.name] = c.cpuSeconds();
    let proxy = 0;
    for (const p of this.proxies) {
      try {
        proxy += p.cpuSeconds();
      } catch {
        // a proxy gone with its container: the stack is being torn down
      }
    }
    return { byContainer, proxy };
  }

  private sample(): void {
    let total = 0;
    let anon = 0;
    let rss = 0;
    for (const c of this.containers) {
      try {
        total += c.memoryBytes();
        anon += c.anonBytes();
        const r = c.pss();
        rss += r.total;
        const was = this.perContainerPssPeak.get(c.name) ?? { total: 0, anon: 0, file: 0 };
        this.perContainerPssPeak.set(c.name, { total: Math.max(was.total, r.total), anon: Math.max(was.anon, r.anon), file: Math.max(was.file, r.file) });
      } catch {
        return;
      }
    }
    this.sampledPeak = Math.max(this.sampledPeak, total);
    this.sampledAnonPeak = Math.max(this.sampledAnonPeak, anon);
    this.sampledPssPeak = Math.max(this.sampledPssPeak, rss);
  }

  /** Starts a memory window: page cache reclaimed, peaks reset (the kernel's where it allows), then sampled every 100 ms. */
  beginMemoryWindow(): void {
    this.stopSampling();
    for (const c of this.containers) c.reclaim();
    for (const c of this.containers) c.resetPeak();
    this.sampledPeak = 0;
    this.sampledAnonPeak = 0;
    this.sampledPssPeak = 0;
    this.perContainerPssPeak.clear();
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
  }

  /** Peaks over the window in MiB: the kernel's (summed over containers: an upper bound of their simultaneous peak) and the sampled ones (cgroup memory, its anonymous part, the processes' PSS). */
  endMemoryWindow(): { kernelPeakMiB?: number; sampledPeakMiB: number; sampledAnonPeakMiB: number; sampledPssPeakMiB: number; pssPeakByContainerMiB: Record<string, { total: number; anon: number; file: number }> } {
    this.sample();
    this.stopSampling();
    const peaks = this.containers.map((c) => c.peakBytes());
    const kernel = peaks.every((p) => p !== undefined) ? (peaks as number[]).reduce((a, b) => a + b, 0) / MiB : undefined;
    return {
      ...(kernel === undefined ? {} : { kernelPeakMiB: kernel }),
      sampledPeakMiB: this.sampledPeak / MiB,
      sampledAnonPeakMiB: this.sampledAnonPeak / MiB,
      sampledPssPeakMiB: this.sampledPssPeak / MiB,
      pssPeakByContainerMiB: Object.fromEntries([...this.perContainerPssPeak].map(([k, v]) => [k, { total: v.total / MiB, anon: v.anon / MiB, file: v.file / MiB }])),
    };
  }

  stopSampling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
