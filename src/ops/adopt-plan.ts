// What adopt records before switching and what it would do, from the discovery (pure), plus the
// read-only listing of the tags in the data directory. The tags are read from distribution's files
// (repositories/<name>/_manifests/tags/<tag>/current/link holds the digest), not through its API:
// that needs no password, and it is exactly what our registry reads from the same directory.
import { posix } from 'node:path';
import type { Argv } from '../provision/index.js';
import type { AdoptDiscovery } from './adopt-discover.js';

/** All tags are recorded up to this many; above it an even sample of this many. */
export const TAG_SAMPLE_LIMIT = 1000;

export interface TagDigest {
  repository: string;
  tag: string;
  digest: string;
}

/** distribution's repositories directory under the data directory on the host. */
export function repositoriesDir(dataHostPath: string): string {
  return posix.join(dataHostPath, 'docker/registry/v2/repositories');
}

/** `path:digest` for every tag's current link (grep -H prints the file name); nothing when there are no repositories yet. */
export function tagLinksArgv(dataHostPath: string): Argv {
  return ['sh', '-c', '[ -d "$1" ] || exit 0; find "$1" -path "*/_manifests/tags/*/current/link" -exec grep -H "" {} +', 'sh', repositoriesDir(dataHostPath)];
}

/** Pure: the tags in tagLinksArgv's output, sorted by repository and tag. */
export function parseTagLinks(output: string, dataHostPath: string): TagDigest[] {
  const root = `${repositoriesDir(dataHostPath)}/`;
  const out: TagDigest[] = [];
  for (const line of output.split('\n')) {
    const m = /^(.+)\/_manifests\/tags\/([^/]+)\/current\/link:(sha256:[0-9a-f]{64})\s*$/.exec(line);
    if (!m || !m[1]!.startsWith(root)) continue;
    out.push({ repository: m[1]!.slice(root.length), tag: m[2]!, digest: m[3]! });
  }
  return out.sort((a, b) => (a.repository === b.repository ? (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0) : a.repository < b.repository ? -1 : 1));
}

/** Pure: every tag when there are at most `limit`, otherwise `limit` of them spread evenly over the sorted list. */
export function sampleTags(tags: readonly TagDigest[], limit = TAG_SAMPLE_LIMIT): TagDigest[] {
  if (tags.length <= limit) return [...tags];
  const step = tags.length / limit;
  return Array.from({ length: limit }, (_, i) => tags[Math.floor(i * step)]!);
}

/** Pure: the switch, step by step, as adopt would carry it out (what --dry-run prints). */
export function adoptPlanSteps(d: AdoptDiscovery, installDir: string, tags: { total: number; sampled: number }): string[] {
  const r = d.registry;
  const old = [r, ...d.companions];
  const steps = [
    `record ${tags.sampled === tags.total ? `all ${tags.total} tags` : `${tags.sampled} of ${tags.total} tags`} with their digests, and what rollback needs (the old containers, nginx's configuration, certbot's timer state), in ${installDir}/state/adopt/`,
    `give the registry's uid read-write access to ${r.data.hostPath} with POSIX ACLs (setfacl), in place: no copy, owner and mode unchanged, so the old stack can come back`,
    r.htpasswd ? `carry over ${r.htpasswd.users.length} user(s) (${r.htpasswd.users.join(', ')}) from ${r.htpasswd.host.hostPath}, bcrypt hashes as they are` : 'no users to carry over (the old registry had no authentication)',
  ];
  const n = d.nginx;
  if (n?.certificate) {
    const renewal = n.certificate.letsencrypt ? "renewal by registry-setup's timer from now on (give --email, the ACME account's)" : 'kept as it is (tls custom: not from certbot, so nothing renews it)';
    steps.push(`carry over the certificate ${n.certificate.hostCertificate} for ${n.domain ?? 'the registry'}; ${renewal}`);
  }
  for (const t of d.certbot.timers) steps.push(`disable (not delete) certbot's ${t}`);
  for (const f of d.certbot.cron) steps.push(`disable (not delete) certbot's lines in ${f} (commented out with a #disabled-by-registry-setup# mark)`);
  steps.push(`stop (not remove) ${old.map((c) => c.name).join(', ')}`);
  if (n?.kind === 'host') steps.push('stop (not remove) the host\'s nginx for the ports it served the registry on');
  const ports = n?.httpsPort !== undefined ? `HTTPS port ${n.httpsPort}${n.httpPort !== undefined ? `, HTTP port ${n.httpPort}` : ''}` : `port ${r.ports.map((p) => p.hostPort).join(', ') || '(none published)'}`;
  steps.push(`start registry-setup's stack in ${installDir} as ${n?.domain ?? 'the same address'} on ${ports}, on the data in place`);
  steps.push('prove it: every recorded tag resolves to the same digest and a login with an existing password works; otherwise roll back on its own');
  return steps;
}

/** Pure: what was found, as lines for a person. */
export function describeDiscovery(d: AdoptDiscovery): string[] {
  const r = d.registry;
  const origin = r.compose ? `compose ${r.compose.flavour} project ${r.compose.project} (${r.compose.configFiles.join(', ') || r.compose.workingDir || 'no compose file recorded'})` : 'started with docker run';
  const lines = [
    `registry:     ${r.name} (${r.image}), ${origin}`,
    `data:         ${r.data.hostPath} (${r.data.kind === 'volume' ? `volume ${r.data.volume}` : 'bind mount'}, ${r.dataPath} in the container)`,
    `users:        ${r.htpasswd ? `${r.htpasswd.users.length} in ${r.htpasswd.host.hostPath}: ${r.htpasswd.users.join(', ')}` : 'none (no authentication)'}`,
  ];
  if (r.ports.length) lines.push(`published:    ${r.ports.map((p) => `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}->${p.containerPort}`).join(', ')}`);
  const n = d.nginx;
  if (n) {
    lines.push(`nginx:        ${n.kind === 'container' ? `container ${n.container!.name}` : 'the host package'}`);
    lines.push(`domain:       ${n.domain ?? '(no server_name)'}; HTTPS port ${n.httpsPort ?? '-'}, HTTP port ${n.httpPort ?? '-'}`);
    if (n.certificate) {
      const le = n.certificate.letsencrypt;
      lines.push(`certificate:  ${n.certificate.hostCertificate}${le ? (le.servedInPlace ? ` (certbot's ${le.name})` : ` (a copy of certbot's ${le.root}/live/${le.name}/)`) : ''}`);
    }
  } else lines.push('nginx:        none in front of the registry');
  lines.push(`certbot:      ${d.certbot.timers.length || d.certbot.cron.length ? [...d.certbot.timers, ...d.certbot.cron].join(', ') : 'no renewal set up'}`);
  for (const note of d.notes) lines.push(`note:         ${note}`);
  return lines;
}
