// One bare host: a container of the bare root image on a bridge network of its own, booted with
// systemd as PID 1. `--privileged` fails on this machine kind (the runner lacks CAP_SYS_RESOURCE);
// these options give systemd and a nested Docker engine (overlay2, iptables) what they need.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { run, type RunResult } from '../exec.js';
import { waitForSshBanner } from '../sshd.js';
import { INIT_PATH } from './root.js';

export const CONTAINER_OPTIONS = [
  '--cap-add', 'ALL',
  '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined',
  '--security-opt', 'apparmor=unconfined',
  '--security-opt', 'systempaths=unconfined',
  '--device-cgroup-rule', 'a *:* rwm',
  '--cgroupns=private',
  '--stop-signal', 'SIGRTMIN+3',
  '--stop-timeout', '30',
];

const BOOT_TIMEOUT_MS = 90_000;

// the host's own containers and their last log lines, once Docker is installed there
const CONTAINERS_SCRIPT = `command -v docker >/dev/null || exit 0
docker ps -a --format '{{.Names}}  {{.Status}}  {{.Image}}'
for c in $(docker ps -aq | head -n 5); do echo "--- $(docker inspect --format '{{.Name}}' "$c")"; docker logs --tail 10 "$c" 2>&1; done`;

export interface BareHostNetwork {
  name: string;
  /** this machine's address on the bridge: what the host reaches us at */
  gateway: string;
  remove(): Promise<void>;
}

export const BED_LABEL = 'io.registry-setup.test=bare-host';

/**
 * Removes bare hosts and networks a test process left behind when it was killed before its cleanup
 * (their names end in the pid of the process that made them, which is gone).
 */
export async function removeStale(): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const stale = (names: string) => names.split('\n').filter((n) => /^rs-bare-.*-(\d+)$/.test(n) && !alive(Number(/-(\d+)$/.exec(n)![1])));
  const containers = await run('docker', ['ps', '-a', '--filter', `label=${BED_LABEL}`, '--format', '{{.Names}}'], { allowFailure: true });
  for (const name of stale(containers.stdout.trim())) await run('docker', ['rm', '-f', '-v', name], { allowFailure: true, timeoutMs: 120_000 });
  const networks = await run('docker', ['network', 'ls', '--filter', `label=${BED_LABEL}`, '--format', '{{.Name}}'], { allowFailure: true });
  for (const name of stale(networks.stdout.trim())) await run('docker', ['network', 'rm', name], { allowFailure: true, timeoutMs: 60_000 });
}

export async function createNetwork(name: string): Promise<BareHostNetwork> {
  await run('docker', ['network', 'create', '--driver', 'bridge', '--label', BED_LABEL, name], { timeoutMs: 60_000 });
  const remove = async () => void (await run('docker', ['network', 'rm', name], { allowFailure: true, timeoutMs: 60_000 }));
  try {
    const gateway = (await run('docker', ['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', name])).stdout.trim();
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) throw new Error(`network ${name} has no IPv4 gateway (got "${gateway}")`);
    return { name, gateway, remove };
  } catch (e) {
    await remove();
    throw e;
  }
}

/** A file placed into the host's root before its first boot. */
export interface HostFile {
  path: string;
  content: string;
  mode: number;
}

export interface BareHost {
  name: string;
  /** the host's address on its network (what SSH and the registry's ports are reached at) */
  address: string;
  /** `docker exec` as root; stdin from `input`; throws on a non-zero exit unless allowFailure */
  exec(argv: string[], opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<RunResult>;
  /** waits until systemd finished booting (running or degraded) and sshd answers */
  waitBooted(): Promise<string>;
  /** docker stop (systemd shuts down) + docker start; waits for the boot again */
  reboot(): Promise<void>;
  /** what explains a failure: systemd's state, failed units, the journal's tail, the container log */
  diagnostics(journalLines?: number): Promise<string>;
  remove(): Promise<void>;
}

async function address(name: string, network: string): Promise<string> {
  const ip = (await run('docker', ['inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name])).stdout.trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`container ${name} has no address on ${network} (got "${ip}")`);
  return ip;
}

/** Files go in as a tar stream through `docker cp`, owned by root, with their modes. */
async function copyIn(name: string, staging: string, files: HostFile[]): Promise<void> {
  for (const f of files) {
    const dest = join(staging, f.path);
    await mkdir(join(dest, '..'), { recursive: true, mode: 0o755 });
    await writeFile(dest, f.content, { mode: f.mode });
    await chmod(dest, f.mode);
  }
  // directories the tar carries keep the modes the root already has for them
  await chmod(staging, 0o755);
  for (const dir of ['root', 'root/.ssh']) await chmod(join(staging, dir), 0o700).catch(() => undefined);
  const tar = await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', staging, '-cf', '-', '.'], { timeoutMs: 60_000 });
  await run('docker', ['cp', '-', `${name}:/`], { input: tar.stdoutBytes, timeoutMs: 60_000 });
}

export async function startHost(opts: { name: string; image: string; network: BareHostNetwork; hostname: string; addHosts: Record<string, string>; files: HostFile[]; staging: string }): Promise<BareHost> {
  const { name, network } = opts;
  await run(
    'docker',
    [
      'create', '--name', name, '--hostname', opts.hostname, '--network', network.name,
      '--label', BED_LABEL,
      ...Object.entries(opts.addHosts).flatMap(([host, ip]) => ['--add-host', `${host}:${ip}`]),
      ...CONTAINER_OPTIONS, opts.image, INIT_PATH,
    ],
    { timeoutMs: 5 * 60_000 },
  );
  let ip = '';
  const exec: BareHost['exec'] = (argv, o = {}) => run('docker', ['exec', ...(o.input !== undefined ? ['-i'] : []), name, ...argv], { input: o.input, allowFailure: o.allowFailure, timeoutMs: o.timeoutMs ?? 120_000 });

  const diagnostics = async (journalLines = 50): Promise<string> => {
    const parts: string[] = [];
    const state = await run('docker', ['inspect', '--format', '{{.State.Status}} exit={{.State.ExitCode}} {{.State.Error}}', name], { allowFailure: true });
    parts.push(`container ${name}: ${state.stdout.trim() || state.stderr.trim()}`);
    if (state.stdout.startsWith('running')) {
      const sys = await exec(['sh', '-c', 'systemctl is-system-running; systemctl --failed --no-legend --no-pager; journalctl --no-pager -n "$1"', 'sh', String(journalLines)], { allowFailure: true, timeoutMs: 30_000 });
      parts.push(`systemd and journal (last ${journalLines} lines):\n${sys.stdout}${sys.stderr}`);
      const containers = await exec(['sh', '-c', CONTAINERS_SCRIPT], { allowFailure: true, timeoutMs: 30_000 });
      if (containers.stdout.trim()) parts.push(`containers on the host:\n${containers.stdout}${containers.stderr}`);
    }
    const log = await run('docker', ['logs', '--tail', '30', name], { allowFailure: true });
    parts.push(`container log:\n${log.stdout}${log.stderr}`);
    return parts.join('\n');
  };

  const waitBooted = async (): Promise<string> => {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    let last = '';
    for (;;) {
      // --wait blocks until start-up finished; bounded by the exec timeout
      const r = await exec(['systemctl', 'is-system-running', '--wait'], { allowFailure: true, timeoutMs: Math.max(1_000, deadline - Date.now()) }).catch((e: Error) => ({ stdout: '', stderr: e.message }) as RunResult);
      last = `${r.stdout}${r.stderr}`.trim();
      if (/^(running|degraded)$/m.test(r.stdout)) break;
      if (Date.now() >= deadline) throw new Error(`${name} did not finish booting within ${BOOT_TIMEOUT_MS / 1000} s (last: ${last})\n${await diagnostics()}`);
      await delay(200);
    }
    ip = await address(name, network.name);
    await waitForSshBanner(ip, 22, Math.max(1_000, deadline - Date.now())).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await diagnostics()}`);
    });
    return last;
  };

  try {
    await copyIn(name, opts.staging, opts.files);
    await run('docker', ['start', name], { timeoutMs: 60_000 });
    await waitBooted();
  } catch (e) {
    const why = await diagnostics().catch(() => '');
    await run('docker', ['rm', '-f', '-v', name], { allowFailure: true, timeoutMs: 120_000 });
    throw new Error(`${(e as Error).message}\n${why}`);
  }

  return {
    name,
    get address() {
      return ip;
    },
    exec,
    waitBooted,
    diagnostics,
    async reboot() {
      const before = ip;
      await run('docker', ['stop', name], { timeoutMs: 60_000 });
      await run('docker', ['start', name], { timeoutMs: 60_000 });
      await waitBooted();
      if (ip !== before) throw new Error(`${name} came back at ${ip}, not ${before}`);
    },
    async remove() {
      await run('docker', ['rm', '-f', '-v', name], { allowFailure: true, timeoutMs: 120_000 });
    },
  };
}
