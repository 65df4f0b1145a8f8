// What `adopt` reads on a host before deciding anything, and the read-only commands that read it.
// Gathering is kept apart from deciding (adopt-discover.ts, pure) so that the decisions can be
// tested on facts recorded from real hosts, and so that a dry run provably changes nothing: every
// command here only reads (docker ps/inspect, nginx -T, cat, systemctl is-enabled/is-active, ls).
import YAML from 'yaml';
import type { Argv } from '../provision/index.js';
import type { Executor } from '../deploy/executor.js';
import { OpsError } from './errors.js';

/** The parts of `docker inspect <container>` discovery reads (Docker's own field names). */
export interface InspectedContainer {
  Id: string;
  Name: string;
  Path?: string;
  Args?: string[];
  State: { Status: string; Running?: boolean };
  Config: { Image: string; Env?: string[] | null; Labels?: Record<string, string> | null; Cmd?: string[] | null; Entrypoint?: string[] | null };
  Mounts?: { Type: string; Name?: string; Source: string; Destination: string; RW?: boolean }[] | null;
  HostConfig?: { PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null; RestartPolicy?: { Name?: string } } | null;
  NetworkSettings?: { Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null; Networks?: Record<string, { Aliases?: string[] | null }> | null } | null;
}

/** Everything discovery looks at; each field is the raw output of one read-only command. */
export interface AdoptFacts {
  /** `docker inspect` of every container, running or stopped */
  containers: InspectedContainer[];
  /** `nginx -T` per nginx container id, and `host` for a host-package nginx (absent when none runs) */
  nginxConfigs: Record<string, string>;
  /** the registry's configuration file per registry container id (`docker exec … cat`), when readable */
  registryConfigs: Record<string, string>;
  /** the htpasswd file per registry container id, as the container reads it */
  htpasswd: Record<string, string>;
  /** names under /etc/letsencrypt/live (certbot's certificates) */
  letsencryptLive: string[];
  /** certbot's systemd timers: unit → `systemctl is-enabled` word (enabled, disabled, masked…) */
  certbotTimers: Record<string, string>;
  /** cron files that run certbot (e.g. /etc/cron.d/certbot) */
  certbotCron: string[];
}

/** Every container id, running or not. */
export const CONTAINER_IDS_ARGV: Argv = ['docker', 'ps', '-aq', '--no-trunc'];

/** The host package's nginx configuration (`nginx -T`), only when its systemd service is active. */
export const HOST_NGINX_CONFIG_ARGV: Argv = ['sh', '-c', 'command -v nginx >/dev/null && systemctl is-active --quiet nginx && nginx -T 2>/dev/null'];

/** certbot's timers: the Debian package's and the snap's. */
export const CERTBOT_TIMERS = ['certbot.timer', 'snap.certbot.renew.timer'] as const;

/** cron files that may run `certbot renew` (the Debian package ships /etc/cron.d/certbot). */
const CERTBOT_CRON_CANDIDATES = ['/etc/cron.d/certbot', '/etc/crontab', '/var/spool/cron/crontabs/root'];

/** the cron files among the arguments that mention certbot, one per line */
export const certbotCronArgv: Argv = ['sh', '-c', 'for f in "$@"; do [ -f "$f" ] && grep -qs "^[^#]*certbot" "$f" && printf "%s\\n" "$f"; done; exit 0', 'sh', ...CERTBOT_CRON_CANDIDATES];

/** certbot's configuration directory by default (certbot --config-dir changes it). */
export const CERTBOT_ROOT = '/etc/letsencrypt';

/** A certificate file in certbot's layout: <root>/live/<name>/fullchain.pem (cert.pem, chain.pem). */
export const CERTBOT_LIVE_RE = /^(\/.+)\/live\/([^/]+)\/(?:fullchain|cert|chain)\.pem$/;

/**
 * For a certbot root elsewhere than /etc/letsencrypt (a --config-dir under another etc/): the cron
 * files of that etc/ too, as /etc/letsencrypt has /etc/cron.d/certbot and /etc/crontab beside it.
 */
export function certbotCronArgvFor(root: string): Argv {
  const etc = root.replace(/\/+$/, '').replace(/\/[^/]+$/, '') || '/';
  const beside = [`${etc}/cron.d/certbot`, `${etc}/crontab`].filter((f) => !CERTBOT_CRON_CANDIDATES.includes(f));
  return [...certbotCronArgv, ...beside];
}

/** distribution's configuration file: the last argument of `serve`, else registry:2's default. */
export function registryConfigPath(c: InspectedContainer): string {
  const args = [...(c.Config.Entrypoint ?? []), ...(c.Config.Cmd ?? [])];
  const i = args.indexOf('serve');
  const path = i >= 0 ? args[i + 1] : undefined;
  return path && path.startsWith('/') ? path : '/etc/docker/registry/config.yml';
}

/**
 * A file as the container sees it (mounted or in its image), without running anything inside it:
 * registry images need not have `cat` (registry:2 has, a distroless one has not). `docker cp … -`
 * writes a tar stream; tar -xO prints the one file in it.
 */
export function containerFileArgv(id: string, path: string): Argv {
  return ['sh', '-c', 'docker cp "$1:$2" - | tar -xO', 'sh', id, path];
}

/** auth.htpasswd.path of a registry configuration file, when it names one (discovery reports a file that is not YAML). */
function htpasswdPathIn(config: string | undefined): string | undefined {
  if (config === undefined) return undefined;
  try {
    const path = (YAML.parse(config) as { auth?: { htpasswd?: { path?: unknown } } } | null)?.auth?.htpasswd?.path;
    return typeof path === 'string' ? path : undefined;
  } catch {
    return undefined;
  }
}

/** The container's environment as a map (later entries win, as Docker does). */
export function containerEnv(c: InspectedContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.Config.Env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  return env;
}

/** A registry:2 / distribution container, by its image or the program it runs. */
export function looksLikeRegistry(c: InspectedContainer): boolean {
  const image = c.Config.Image.replace(/@.*$/, '');
  const repo = image.replace(/:[^/:]*$/, '');
  const last = repo.split('/').at(-1) ?? '';
  if (repo.startsWith('registry-setup/')) return false; // ours: nothing to adopt
  const program = [...(c.Config.Entrypoint ?? []), c.Path ?? ''].join(' ');
  return last === 'registry' || last === 'distribution' || /(^|\/)(registry|docker-registry)( |$)/.test(program);
}

/** An nginx container, by its image or the program it runs. */
export function looksLikeNginx(c: InspectedContainer): boolean {
  const repo = c.Config.Image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  if (repo.startsWith('registry-setup/')) return false;
  const program = [...(c.Config.Entrypoint ?? []), ...(c.Config.Cmd ?? []), c.Path ?? ''].join(' ');
  return (repo.split('/').at(-1) ?? '') === 'nginx' || /(^|\/)nginx( |$)/.test(program);
}

/**
 * `docker inspect` of the containers that still exist: one removed since `docker ps` makes docker
 * exit 1 ("No such object") but it still prints the others.
 */
async function inspectContainers(exec: Executor, ids: string[]): Promise<InspectedContainer[]> {
  const r = await exec.run(['docker', 'inspect', ...ids], { allowFailure: true, timeoutMs: 120_000 });
  try {
    return JSON.parse(r.stdout) as InspectedContainer[];
  } catch {
    throw new OpsError(`docker inspect failed on the host: ${r.stderr.trim().split('\n').slice(-1)[0] ?? `exit code ${r.code}`}`);
  }
}

/**
 * Reads the facts. Read-only throughout: a command that fails leaves its fact empty (a host without
 * certbot has no timer, a stopped nginx container has no `nginx -T`).
 */
export async function gatherAdoptFacts(exec: Executor): Promise<AdoptFacts> {
  const ids = (await exec.run(CONTAINER_IDS_ARGV)).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  const containers = ids.length === 0 ? [] : await inspectContainers(exec, ids);
  const facts: AdoptFacts = { containers, nginxConfigs: {}, registryConfigs: {}, htpasswd: {}, letsencryptLive: [], certbotTimers: {}, certbotCron: [] };
  const ok = async (argv: Argv): Promise<string | undefined> => {
    const r = await exec.run(argv, { allowFailure: true, timeoutMs: 60_000 });
    return r.code === 0 ? r.stdout : undefined;
  };
  for (const c of containers) {
    const running = c.State.Status === 'running';
    if (looksLikeRegistry(c) && running) {
      const config = await ok(containerFileArgv(c.Id, registryConfigPath(c)));
      if (config !== undefined) facts.registryConfigs[c.Id] = config;
      const htpasswdPath = containerEnv(c).REGISTRY_AUTH_HTPASSWD_PATH ?? htpasswdPathIn(config);
      if (htpasswdPath) {
        const text = await ok(containerFileArgv(c.Id, htpasswdPath));
        if (text !== undefined) facts.htpasswd[c.Id] = text;
      }
    }
    if (looksLikeNginx(c) && running) {
      const r = await exec.run(['docker', 'exec', c.Id, 'nginx', '-T'], { allowFailure: true, timeoutMs: 60_000 });
      if (r.code === 0) facts.nginxConfigs[c.Id] = r.stdout;
    }
  }
  // a host-package nginx, when its service runs (pgrep would also see the nginx of every container)
  const hostNginx = await ok(HOST_NGINX_CONFIG_ARGV);
  if (hostNginx) facts.nginxConfigs.host = hostNginx;
  const live = await ok(['ls', '-1', '/etc/letsencrypt/live']);
  facts.letsencryptLive = (live ?? '').split('\n').map((l) => l.trim()).filter((l) => l && l !== 'README');
  for (const unit of CERTBOT_TIMERS) {
    const r = await exec.run(['systemctl', 'is-enabled', unit], { allowFailure: true, timeoutMs: 30_000 });
    const word = r.stdout.trim();
    if (word && word !== 'not-found' && !/No such file|not found|Failed to/i.test(`${r.stdout}${r.stderr}`)) facts.certbotTimers[unit] = word;
  }
  facts.certbotCron = ((await ok(certbotCronArgv)) ?? '').split('\n').filter(Boolean);
  return facts;
}
