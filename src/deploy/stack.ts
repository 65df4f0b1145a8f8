import { composeArgv, nginxReloadArgv, registryHealthcheckArgv, type ComposeTarget } from '../provision/index.js';
import { COMPOSE_PROJECT } from '../host/contract.js';
import type { Executor } from './executor.js';

export interface ContainerState {
  id: string;
  service: string;
  state: string;
  health: string;
  startedAt: string;
  image: string;
  /** the container's labels (the image's labels included, e.g. io.registry-setup.version) */
  labels?: Record<string, string>;
  /** bind mounts and volumes: where they are mounted inside the container */
  mounts?: string[];
}

/** Our containers, found by the compose project label (works for compose v1 and v2 alike). */
export async function listContainers(exec: Executor, project = COMPOSE_PROJECT): Promise<ContainerState[]> {
  const ids = await exec.run(['docker', 'ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`], { allowFailure: true });
  const list = ids.stdout.split('\n').filter(Boolean);
  if (ids.code !== 0 || list.length === 0) return [];
  // Full JSON rather than a --format template: a template fails on containers without a health check.
  const r = await exec.run(['docker', 'inspect', ...list], { allowFailure: true });
  let docs: InspectDoc[] = [];
  try {
    docs = JSON.parse(r.stdout || '[]') as InspectDoc[];
  } catch {
    return [];
  }
  return docs.map((d) => ({
    id: d.Id,
    service: d.Config?.Labels?.['com.docker.compose.service'] ?? '',
    state: d.State?.Status ?? 'unknown',
    health: d.State?.Health?.Status ?? 'none',
    startedAt: d.State?.StartedAt ?? '',
    image: d.Config?.Image ?? '',
    labels: d.Config?.Labels ?? {},
    mounts: (d.Mounts ?? []).map((m) => m.Destination ?? ''),
  }));
}

interface InspectDoc {
  Id: string;
  Config?: { Image?: string; Labels?: Record<string, string> };
  State?: { Status?: string; StartedAt?: string; Health?: { Status?: string } };
  Mounts?: { Destination?: string }[];
}

export function containerFor(containers: ContainerState[], service: string): ContainerState | undefined {
  return containers.find((c) => c.service === service);
}

/** Both services exist and run; with `healthy`, the registry's health check passes too. */
export function stackRunning(containers: ContainerState[], opts: { healthy?: boolean } = {}): boolean {
  const registry = containerFor(containers, 'registry');
  const nginx = containerFor(containers, 'nginx');
  if (!registry || !nginx || registry.state !== 'running' || nginx.state !== 'running') return false;
  return !opts.healthy || registry.health === 'healthy' || registry.health === 'none';
}

/**
 * Polls the registry's own health check inside its container (Docker's health status only
 * updates every interval) until it passes, with a deadline; the error names the last state.
 */
export async function waitHealthy(exec: Executor, target: ComposeTarget, timeoutMs: number): Promise<ContainerState[]> {
  const deadline = Date.now() + timeoutMs;
  let last: ContainerState[] = [];
  let lastCheck = '';
  for (;;) {
    last = await listContainers(exec, target.project);
    if (stackRunning(last)) {
      const check = await exec.run(registryHealthcheckArgv(target), { allowFailure: true, timeoutMs: 20_000 });
      if (check.code === 0) return last;
      lastCheck = (check.stderr || check.stdout).trim().split('\n').slice(-1)[0] ?? '';
    }
    const registry = containerFor(last, 'registry');
    // exited, or crashing and being restarted (e.g. a bucket it cannot use): its log says why
    if (registry && (registry.state === 'exited' || registry.state === 'dead' || registry.state === 'restarting')) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const describe = last.map((c) => `${c.service}: ${c.state}${c.health !== 'none' ? `/${c.health}` : ''}`).join(', ') || 'no containers';
  const logs = await serviceLogTail(exec, target, 'registry', 15);
  throw new Error(`the registry did not become healthy (${describe}${lastCheck ? `; ${lastCheck}` : ''}); its last log lines:\n${logs}`);
}

/** Last lines of a service's log, for failure messages. */
export async function serviceLogTail(exec: Executor, target: ComposeTarget, service: string, lines = 20): Promise<string> {
  const r = await exec.run(composeArgv(target, 'logs', '--no-color', '--tail', String(lines), service), { allowFailure: true });
  return (r.stdout + r.stderr).trim();
}

export async function reloadNginx(exec: Executor, target: ComposeTarget): Promise<void> {
  await exec.run(nginxReloadArgv(target));
}

export async function imageExists(exec: Executor, image: string): Promise<boolean> {
  return (await exec.run(['docker', 'image', 'inspect', '--format', '{{.Id}}', image], { allowFailure: true })).code === 0;
}
