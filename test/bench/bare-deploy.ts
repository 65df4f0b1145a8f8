// The first deploy onto a bare host, timed: a fresh Debian server (systemd as PID 1, no Docker) from
// the bare-host test bed (test/helpers/bare-host/), where `registry-setup deploy` installs Docker
// from (the stand-in of) Docker's repository, pulls the base images through the bed's Docker Hub
// mirror, builds and starts the stack; then the same command again. The bed's preparation (root
// image, repository, mirror, boot) is untimed. `--scenarios bare-deploy`, in full runs only.
import { jsonEvents } from '../helpers/deploy-bed.js';
import { startBareHostBed, type BareHostBed } from '../helpers/bare-host/bed.js';
import { bareHostSkipReason, type DebianSuite } from '../helpers/bare-host/root.js';
import { machineBusySeconds } from './servers.js';

export interface BareDeployRun {
  wallSeconds: number;
  /** step id → seconds and status */
  steps: Record<string, { seconds: number; status: string }>;
  /** busy cores of the whole machine during the run */
  machineBusyCores: number;
}

export interface BareDeployInfo {
  ran: boolean;
  skipped?: string;
  error?: string;
  suite?: DebianSuite;
  /** untimed: the bed's preparation, ms per phase */
  bedTimingsMs?: Record<string, number>;
  first?: BareDeployRun;
  rerun?: BareDeployRun;
}

type Progress = (line: string) => void;

/** Never throws: a missing prerequisite gives `skipped`, a failed run `error`. */
export async function runBareDeployBench(progress: Progress, suite: DebianSuite = 'bookworm'): Promise<BareDeployInfo> {
  let skip: string | undefined;
  try {
    skip = bareHostSkipReason();
  } catch (e) {
    skip = (e as Error).message;
  }
  if (skip) return { ran: false, skipped: skip };
  const info: BareDeployInfo = { ran: false, suite };
  let bed: BareHostBed | undefined;
  try {
    progress(`bare-deploy: preparing a bare Debian (${suite}) host (untimed)`);
    bed = await startBareHostBed({ suite, name: 'bench' });
    info.bedTimingsMs = { ...bed.timings };
    const password = `bench-${Date.now().toString(36)}-${process.pid}`;
    const timed = async (label: string): Promise<BareDeployRun> => {
      progress(`bare-deploy: ${label}`);
      const busy0 = machineBusySeconds();
      const t0 = performance.now();
      const r = await bed!.cli(bed!.deployArgs(['--password-stdin', '--json']), { input: password });
      const wallSeconds = (performance.now() - t0) / 1000;
      if (r.exitCode !== 0) throw new Error(`${label}: registry-setup exited with ${r.exitCode}\n${String(r.stderr).split('\n').slice(-15).join('\n')}`);
      const steps: BareDeployRun['steps'] = {};
      for (const e of jsonEvents(String(r.stdout))) if (e.type === 'step-end') steps[String(e.id)] = { seconds: Number(e.ms) / 1000, status: String(e.status) };
      progress(`bare-deploy: ${label}: ${wallSeconds.toFixed(1)} s`);
      return { wallSeconds, steps, machineBusyCores: (machineBusySeconds() - busy0) / wallSeconds };
    };
    info.first = await timed('first deploy onto the bare host (Docker installed by the deploy)');
    if (info.first.steps.docker?.status !== 'done') throw new Error(`the docker step was ${info.first.steps.docker?.status ?? 'missing'}, not done: the host was not bare`);
    info.rerun = await timed('unchanged re-run');
    info.ran = true;
  } catch (e) {
    info.error = (e as Error).message;
  } finally {
    progress('bare-deploy: removing the host');
    await bed?.cleanup().catch(() => undefined);
  }
  return info;
}

export function renderBareDeploy(info: BareDeployInfo): string {
  if (!info.ran) return info.skipped ? `Bare-host deploy timing skipped: ${info.skipped}` : `Bare-host deploy timing FAILED: ${info.error ?? 'unknown error'}`;
  const s = (x: number | undefined) => (x === undefined ? '–' : `${x.toFixed(1)} s`);
  const f = info.first!;
  const r = info.rerun!;
  return [
    `Bare-host deploy timing (Debian ${info.suite}, systemd as PID 1, Docker installed by the deploy from the stand-in of Docker's repository):`,
    `  first deploy ${s(f.wallSeconds)} (docker ${s(f.steps.docker?.seconds)}, build and start ${s(f.steps.start?.seconds)}); machine ${f.machineBusyCores.toFixed(2)} cores busy`,
    `  unchanged re-run ${s(r.wallSeconds)} (target < 10 s: ${r.wallSeconds < 10 ? 'met' : 'MISSED'}); machine ${r.machineBusyCores.toFixed(2)} cores busy`,
    `  untimed preparation (ms): ${JSON.stringify(info.bedTimingsMs)}`,
  ].join('\n');
}
