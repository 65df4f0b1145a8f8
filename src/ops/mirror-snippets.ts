// What clients put in their configuration to pull through the deployment's mirrors, printed by
// `status` with the deployment's real name: Docker's daemon.json (Docker Hub only: Docker applies
// registry-mirrors to Docker Hub names and nothing else), containerd's hosts.toml per upstream, and
// one registries.conf drop-in for podman, buildah, skopeo and CRI-O.
import type { DeploySettings, MirrorEntry } from '../settings/settings.js';

/** Docker Hub's registry hosts: clients call the registry itself `docker.io`. */
const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io', 'registry.hub.docker.com']);

export interface ClientFile {
  file: string;
  content: string;
}

export interface MirrorSnippets {
  mirrors: { prefix: string; upstream: string; url: string; default: boolean; pull: string }[];
  /** only with a default mirror of Docker Hub */
  docker?: ClientFile & { note: string };
  /** why there is no daemon.json snippet, when there is none */
  dockerNote?: string;
  containerd: ClientFile[];
  registriesConf: ClientFile;
}

/** The name clients give the upstream (`docker.io` for Docker Hub, else its host[:port]). */
export function upstreamName(url: string): string {
  const host = new URL(url).host;
  return DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host;
}

const isDockerHub = (m: MirrorEntry): boolean => upstreamName(m.url) === 'docker.io';

/** Undefined when the deployment has no mirrors. */
export function mirrorSnippets(settings: Pick<DeploySettings, 'domain' | 'httpsPort' | 'mirrors'>): MirrorSnippets | undefined {
  const list = settings.mirrors ?? [];
  if (list.length === 0) return undefined;
  const registry = `${settings.domain}${settings.httpsPort === 443 ? '' : `:${settings.httpsPort}`}`;
  // one configuration per upstream: the first mirror of an upstream is the one clients use
  const byUpstream = new Map<string, MirrorEntry>();
  for (const m of list) if (!byUpstream.has(upstreamName(m.url))) byUpstream.set(upstreamName(m.url), m);

  const def = list.find((m) => m.default);
  const hubDefault = def && isDockerHub(def) ? def : undefined;
  const docker = hubDefault
    ? {
        file: '/etc/docker/daemon.json',
        content: `${JSON.stringify({ 'registry-mirrors': [`https://${registry}`] }, null, 2)}\n`,
        note: `Docker applies registry-mirrors to Docker Hub names only (docker pull alpine goes through ${registry}); pull the other mirrors as ${registry}/<prefix>/<name>. Restart dockerd after the change.`,
      }
    : undefined;
  const dockerNote = docker
    ? undefined
    : `no daemon.json snippet: Docker's registry-mirrors serves Docker Hub names only, and needs a Docker Hub mirror marked default: true; pull as ${registry}/<prefix>/<name> instead`;

  const containerd = [...byUpstream].map(([name, m]) => ({
    file: `/etc/containerd/certs.d/${name.replace(':', '_')}/hosts.toml`,
    content: [
      `server = "${name === 'docker.io' ? 'https://registry-1.docker.io' : m.url}"`,
      '',
      // override_path: the path is the API root, so names arrive under the mirror's prefix
      `[host."https://${registry}/v2/${m.prefix}"]`,
      '  capabilities = ["pull", "resolve"]',
      '  override_path = true',
      '',
    ].join('\n'),
  }));

  const registriesConf = {
    file: '/etc/containers/registries.conf.d/50-registry-setup-mirrors.conf',
    content: [...byUpstream]
      .map(([name, m]) => [`[[registry]]`, `prefix = "${name}"`, `location = "${name}"`, '', '[[registry.mirror]]', `location = "${registry}/${m.prefix}"`, ''].join('\n'))
      .join('\n'),
  };

  return {
    mirrors: list.map((m) => ({ prefix: m.prefix, upstream: upstreamName(m.url), url: m.url, default: Boolean(m.default), pull: `${registry}/${m.prefix}/<name>` })),
    ...(docker ? { docker } : { dockerNote }),
    containerd,
    registriesConf,
  };
}

/** The human form: each mirror, then each client's file with its content indented. */
export function formatMirrorSnippets(s: MirrorSnippets): string {
  const lines = ['', 'Mirrors (pull-through cache):'];
  for (const m of s.mirrors) lines.push(`  ${m.pull.padEnd(40)} ← ${m.url}${m.default ? ' (default: also unprefixed names)' : ''}`);
  const file = (title: string, f: ClientFile) => {
    lines.push('', `${title}: ${f.file}`);
    for (const l of f.content.replace(/\n$/, '').split('\n')) lines.push(l ? `    ${l}` : '');
  };
  if (s.docker) {
    file('Docker', s.docker);
    lines.push(`  ${s.docker.note}`);
  } else lines.push('', `Docker: ${s.dockerNote}`);
  for (const c of s.containerd) file('containerd (config_path = "/etc/containerd/certs.d")', c);
  file('podman, buildah, skopeo', s.registriesConf);
  lines.push('', '  The registry asks for a login for these pulls like for any other (docker login / podman login).');
  return `${lines.join('\n')}\n`;
}
