// The deploy part of the bench (issue #6, "also measured"): `registry-setup deploy` against this
// machine through the end-to-end deploy bed (sshd on loopback with generated keys, the local
// dockerd, stand-in base images, self-signed TLS, ports on loopback), timed as a whole CLI run and
// per step (the `step-end` events of `--json` carry each step's ms), twice: a first deploy into a
// fresh install dir and compose project, then the same command again, unchanged. Then `destroy
// --yes` and the bed's own cleanup take the stack down.
//
// Not timed: Docker installation (the engine is already there: the `docker` step reports
// unchanged) and base-image pulls (the stand-ins are built with `docker import` beforehand, as the
// e2e tests do).
//
// The image build is measured cold, as on a new server: the CLI runs with the tests' version hook
// (REGISTRY_SETUP_VERSION_OVERRIDE=<version>-bench.<run id>), so the image gets a tag of its own,
// registry-setup/registry:<that>, and the Dockerfile's version LABEL is new to the build cache (a
// warm cache makes the build ~0.1 s instead of ~7 s here). The tag being private, the run neither
// retags the image that other deployments on this machine use nor leaves an image behind: the
// teardown removes it.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { run } from '../helpers/exec.js';
import { jsonEvents, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { repoRoot } from '../helpers/registries.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { machineBusySeconds } from './servers.js';

/** The target for an unchanged re-run. */
export const RERUN_TARGET_SECONDS = 10;
/** The step that builds the registry image (and starts the containers). */
export const BUILD_STEP = 'start';

export interface DeployStep {
  id: string;
  name: string;
  status: string;
  seconds: number;
  detail?: string;
}

/** One remote command from the CLI's command log (`~/.registry-setup/logs/…`). */
export interface DeployCommand {
  seconds: number;
  command: string;
}

export interface DeployRun {
  /** wall time of the whole CLI process, start to exit */
  wallSeconds: number;
  /** sum of the steps' own durations (one host: the steps run one after another) */
  stepsSeconds: number;
  /** wall time outside any step: node start-up, settings, saving registry-setup.yaml, exit */
  outsideStepsSeconds: number;
  /** the `result` event's `changed` */
  changed: boolean;
  /** busy CPU of the whole machine during the run (the deploy's own work included), in cores */
  machineBusyCores: number;
  steps: DeployStep[];
  /** every remote command, in order, with its duration (from the CLI's command log; empty if unreadable);
   * the install dir is shown as <dir>, the compose project as <project> */
  commands: DeployCommand[];
}

export interface DeployInfo {
  ran: boolean;
  /** why it did not run (--no-deploy, not selected, no dockerd, no sshd, …) */
  skipped?: string;
  /** a timed run failed (the bench then exits non-zero) */
  error?: string;
  /** what the deploy ran against */
  setup?: string;
  dockerVersion?: string;
  storageDriver?: string;
  /** untimed preparation: sshd, stand-in base images, the cache-busting base image */
  setupSeconds?: number;
  /** busy CPU of the machine over a few seconds right before the first deploy, in cores: the rest of the machine's load */
  idleBusyCores?: number;
  first?: DeployRun;
  rerun?: DeployRun;
  /** the version the CLI deployed as (REGISTRY_SETUP_VERSION_OVERRIDE), and so the image tag */
  version?: string;
  image?: string;
  /** compose project of the stack */
  project?: string;
  /** the first deploy's build step */
  build?: {
    step: string;
    seconds: number;
    /** of the first deploy's wall time */
    share: number;
    /** `compose build` alone, when the command log shows it */
    composeBuildSeconds?: number;
    composeBuildShare?: number;
    /** cold: the private image tag was built by this run; unknown: the version hook did not take */
    cache: 'cold' | 'unknown';
  };
  /** steps with status done in both the first deploy and the re-run */
  doneTwice: string[];
  /** steps that ran more than once within one deploy (`<run>: <id> ×n`) */
  repeatedSteps: string[];
  /** the same state-changing remote command run more than once in the first deploy */
  repeatedCommands: string[];
  rerunTargetSeconds: number;
  rerunPass?: boolean;
  teardownSeconds?: number;
  /** non-fatal trouble (teardown) */
  warnings: string[];
}

type Progress = (line: string) => void;

async function ok(cmd: string, args: string[], timeoutMs = 20_000): Promise<string | undefined> {
  const r = await run(cmd, args, { allowFailure: true, timeoutMs }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim() : undefined;
}

/** Why the deploy part cannot run here, or undefined. */
export async function deploySkipReason(): Promise<string | undefined> {
  let sshd: string | undefined;
  try {
    sshd = sshdSkipReason();
  } catch (e) {
    sshd = (e as Error).message; // CI: a missing sshd is an error for the tests; here a skip line says so
  }
  if (sshd) return sshd;
  if ((await ok('docker', ['info', '--format', '{{.ServerVersion}}'])) === undefined) return 'dockerd is not reachable (`docker info` failed)';
  if ((await ok('docker-compose', ['version'])) === undefined && (await ok('docker', ['compose', 'version'])) === undefined) {
    return 'neither docker-compose nor the docker compose plugin is installed';
  }
  return undefined;
}

function parseRun(stdout: string, wallSeconds: number): { run: DeployRun; log?: string; starts: Map<string, number> } {
  const events = jsonEvents(stdout);
  const steps: DeployStep[] = [];
  const starts = new Map<string, number>();
  for (const e of events) {
    if (e.type === 'step-start') starts.set(String(e.id), (starts.get(String(e.id)) ?? 0) + 1);
    if (e.type !== 'step-end') continue;
    steps.push({
      id: String(e.id),
      name: String(e.name),
      status: String(e.status),
      seconds: Number(e.ms) / 1000,
      ...(e.detail === undefined ? {} : { detail: String(e.detail) }),
    });
  }
  const result = events.find((e) => e.type === 'result');
  if (!result) throw new Error('no result event in the --json output');
  if (steps.length === 0) throw new Error('no step-end events in the --json output');
  const stepsSeconds = steps.reduce((s, x) => s + x.seconds, 0);
  return {
    run: {
      wallSeconds,
      stepsSeconds,
      outsideStepsSeconds: Math.max(0, wallSeconds - stepsSeconds),
      changed: result.changed === true,
      machineBusyCores: 0,
      steps,
      commands: [],
    },
    log: typeof result.log === 'string' ? result.log : undefined,
    starts,
  };
}

/** `<iso time> <host> exit=0 1.234s $ <command>` lines of the CLI's command log. */
function readCommandLog(file: string | undefined): DeployCommand[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: DeployCommand[] = [];
  for (const line of text.split('\n')) {
    const m = /^\S+ \S+ \S+ (\d+(?:\.\d+)?)s \$ (.*)$/.exec(line);
    if (m) out.push({ seconds: Number(m[1]), command: m[2]! });
  }
  return out;
}

/** Commands that change the host (not reads): the same one twice in one deploy is work done twice. */
const MUTATING = [
  /^(install|mkdir|mv|cp|rm|ln|chmod|chown|tee|upload|openssl req)\s/,
  /^systemctl\s+(enable|disable|start|stop|restart|reload|daemon-reload)\b/,
  /^docker(-compose| compose)?\s+(-p \S+ -f \S+ )?(build|up|down|create|run|rm|restart|kill|stop|start|pull|tag|rmi|image rm|network (create|rm))\b/,
];

export function isMutating(command: string): boolean {
  const c = command.replace(/^sudo(\s+-\S+)*\s+/, '');
  return MUTATING.some((re) => re.test(c));
}

function composeBuild(c: DeployCommand): boolean {
  return /\bdocker(-compose| compose)\b/.test(c.command) && /\sbuild(\s|$)/.test(c.command);
}

export function emptyDeployInfo(): DeployInfo {
  return { ran: false, doneTwice: [], repeatedSteps: [], repeatedCommands: [], rerunTargetSeconds: RERUN_TARGET_SECONDS, warnings: [] };
}

/** The compose project and image of a stack that is up now (between the first deploy and the teardown). */
let liveProject: string | undefined;
let liveImage: string | undefined;

/** For an exit hook: removes the containers (and image) of a stack the run left up (it was interrupted). */
export function removeDeployStackSync(): void {
  if (!liveProject) return;
  const filter = `label=com.docker.compose.project=${liveProject}`;
  const ids = spawnSync('docker', ['ps', '-aq', '--filter', filter], { encoding: 'utf8', timeout: 20_000 }).stdout?.split('\n').filter(Boolean) ?? [];
  if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids], { timeout: 60_000 });
  spawnSync('docker', ['network', 'prune', '-f', '--filter', filter], { timeout: 20_000 });
  if (liveImage) spawnSync('docker', ['image', 'rm', liveImage], { timeout: 60_000 });
  liveProject = undefined;
  liveImage = undefined;
}

/**
 * Runs the deploy part. Never throws: a missing prerequisite gives `skipped`, a failed timed run
 * gives `error` (with the CLI's last lines).
 */
export async function runDeployBench(progress: Progress, opts: { quietProbeMs?: number } = {}): Promise<DeployInfo> {
  const info = emptyDeployInfo();
  const skip = await deploySkipReason();
  if (skip) {
    info.skipped = skip;
    return info;
  }
  const setupStart = performance.now();
  let bed: DeployBed | undefined;
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const version = `${pkg.version}-bench.${process.pid}.${randomBytes(3).toString('hex')}`;
  const image = `registry-setup/registry:${version}`;
  const env = { REGISTRY_SETUP_VERSION_OVERRIDE: version };
  info.version = version;
  info.image = image;
  try {
    const [dockerVersion, driver] = (await ok('docker', ['info', '--format', '{{.ServerVersion}} {{.Driver}}']))?.split(' ') ?? [];
    info.dockerVersion = dockerVersion;
    info.storageDriver = driver;
    progress('deploy: preparing the deploy bed (sshd on loopback, stand-in base images; untimed)');
    try {
      bed = await startDeployBed('bench');
    } catch (e) {
      info.skipped = `cannot set up the deploy bed: ${(e as Error).message.split('\n')[0]}`;
      return info;
    }
    info.setupSeconds = (performance.now() - setupStart) / 1000;
    info.setup =
      `registry-setup deploy root@127.0.0.1 over sshd on loopback, local dockerd ${dockerVersion ?? '?'} (${driver ?? '?'} storage driver), ` +
      `stand-in base images (${bed.nodeImage}, ${bed.nginxImage}), self-signed TLS, ports on 127.0.0.1`;
    const password = randomBytes(12).toString('base64url');
    const args = bed.deployArgs(['--password-stdin', '--json']);
    info.project = bed.project;

    const timed = async (label: string): Promise<{ run: DeployRun; starts: Map<string, number>; commands: DeployCommand[] }> => {
      progress(`deploy: ${label}`);
      const busy0 = machineBusySeconds();
      const t = performance.now();
      const r = await bed!.cli(args, { input: password, env });
      const wall = (performance.now() - t) / 1000;
      const busy = machineBusySeconds() - busy0;
      if (r.exitCode !== 0) {
        throw new Error(
          `${label}: registry-setup exited with ${r.exitCode ?? r.signal} after ${wall.toFixed(1)} s\n` +
            `${String(r.stderr).split('\n').slice(-25).join('\n')}\n${String(r.stdout).split('\n').slice(-5).join('\n')}`,
        );
      }
      const parsed = parseRun(String(r.stdout), wall);
      const commands = readCommandLog(parsed.log).map((c) => ({ ...c, command: c.command.split(bed!.installDir).join('<dir>').split(bed!.project).join('<project>') }));
      parsed.run.commands = commands;
      parsed.run.machineBusyCores = busy / wall;
      progress(`deploy: ${label}: ${wall.toFixed(1)} s`);
      return { run: parsed.run, starts: parsed.starts, commands };
    };

    // How busy the machine is without us: other work running meanwhile lengthens every step.
    const probeMs = opts.quietProbeMs ?? 3_000;
    const quiet0 = machineBusySeconds();
    await delay(probeMs);
    info.idleBusyCores = (machineBusySeconds() - quiet0) / (probeMs / 1000);
    liveProject = bed.project;
    liveImage = image;
    try {
      const first = await timed('first deploy into a fresh install dir and compose project');
      const rerun = await timed('unchanged re-run (the same command)');
      info.first = first.run;
      info.rerun = rerun.run;
      info.ran = true;
      info.rerunPass = rerun.run.wallSeconds < RERUN_TARGET_SECONDS;
      const buildStep = first.run.steps.find((s) => s.id === BUILD_STEP);
      const builds = first.commands.filter(composeBuild);
      const buildSeconds = builds.reduce((s, c) => s + c.seconds, 0);
      info.build = {
        step: BUILD_STEP,
        seconds: buildStep?.seconds ?? 0,
        share: (buildStep?.seconds ?? 0) / first.run.wallSeconds,
        ...(builds.length > 0 ? { composeBuildSeconds: buildSeconds, composeBuildShare: buildSeconds / first.run.wallSeconds } : {}),
        cache: (await ok('docker', ['image', 'inspect', '--format', '{{.Id}}', image])) !== undefined && buildStep?.status === 'done' ? 'cold' : 'unknown',
      };
      if (info.build.cache === 'unknown') info.warnings.push(`${image} was not built: the version hook did not take, so the build may have hit the cache`);
      const doneIn = (r: DeployRun) => new Set(r.steps.filter((s) => s.status === 'done').map((s) => s.id));
      const again = doneIn(rerun.run);
      info.doneTwice = [...doneIn(first.run)].filter((id) => again.has(id));
      for (const [name, x] of [['first', first], ['re-run', rerun]] as const) {
        for (const [id, n] of x.starts) if (n > 1) info.repeatedSteps.push(`${name}: ${id} ×${n}`);
      }
      const seen = new Map<string, number>();
      for (const c of first.commands) if (isMutating(c.command)) seen.set(c.command, (seen.get(c.command) ?? 0) + 1);
      info.repeatedCommands = [...seen].filter(([, n]) => n > 1).map(([c, n]) => `${n}× ${c}`);
    } catch (e) {
      info.error = (e as Error).message;
    }

    progress('deploy: tearing down (registry-setup destroy --yes, then the bed cleanup)');
    const t = performance.now();
    try {
      const destroy = await bed.cli(['destroy', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, '--yes', '--json'], { env });
      if (destroy.exitCode !== 0) info.warnings.push(`destroy exited with ${destroy.exitCode}: ${String(destroy.stderr).trim().split('\n').pop()}`);
      await bed.cleanup();
      bed = undefined;
      removeDeployStackSync(); // whatever compose down left (nothing, normally)
      info.teardownSeconds = (performance.now() - t) / 1000;
    } catch (e) {
      info.warnings.push(`teardown: ${(e as Error).message.split('\n')[0]}`);
    }
    return info;
  } catch (e) {
    // never crash the bench: whatever went wrong outside the timed runs is one line
    info.error ??= `deploy bench: ${(e as Error).message}`;
    return info;
  } finally {
    await bed?.cleanup().catch(() => undefined);
    removeDeployStackSync();
    // This run's own tag: nothing else uses it (a failure only leaves the image behind).
    await ok('docker', ['image', 'rm', image], 60_000);
  }
}
