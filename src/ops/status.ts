// `status`: what runs, which version, whether the URL answers, certificate, disk, content, and the
// last renewal and GC; every fact is turned into a check (ok / warn / fail) so that scripts get an
// exit code and humans a short list.
import { X509Certificate } from 'node:crypto';
import { formatBytes } from '../registry/format-bytes.js';
import { containerFor, type ContainerState } from '../deploy/stack.js';
import { publicUrl } from '../deploy/verify.js';
import { CONTAINER_PATHS, HOST_LAYOUT, IMAGE_COMMANDS } from '../host/contract.js';
import type { ExecResult } from '../remote/remote-host.js';
import { publicClient, type Deployment } from './deployment.js';
import { cliVersion, compareSemver } from './version.js';
import { formatMirrorSnippets, mirrorSnippets, type MirrorSnippets } from './mirror-snippets.js';
import { readRetentionFacts, retentionCheck } from './retention-status.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  id: 'containers' | 'version' | 'url' | 'certificate' | 'disk' | 'content' | 'renewal' | 'gc' | 'retention';
  status: CheckStatus;
  detail: string;
}

export interface StatusReport {
  target: string;
  dir: string;
  url: string;
  /** the bucket (s3://…) when the images are not on this host */
  storage?: string;
  healthy: boolean;
  checks: Check[];
  versions: { cli: string; deployed: string; image?: string };
  containers: { service: string; state: string; health: string; startedAt: string; image: string }[];
  reachability: { anonymous?: number; error?: string; connectTo?: string };
  certificate?: { subject: string; issuer: string; notAfter: string; daysLeft: number; selfSigned: boolean; error?: string };
  disk: { dataDir: string; dataBytes?: number; filesystemBytes?: number; availableBytes?: number; mount?: string; error?: string };
  content: { repositories?: number; tags?: number; error?: string };
  renewal: Record<string, unknown> | null;
  gc: Record<string, unknown> | null;
  /** with mirrors: the client configuration to pull through them (not a check) */
  mirrors?: MirrorSnippets;
  /** the last run of the retention rules (state/retention.json) */
  retention?: Record<string, unknown> | null;
}

/** Certificate thresholds: fail when fewer days are left than this, warn below the second. */
export const CERT_FAIL_DAYS = 7;
export const CERT_WARN_DAYS = 21;
/** Disk: fail below 2 % or 512 MiB free, warn below 10 %. */
const DISK_FAIL_FRACTION = 0.02;
const DISK_FAIL_BYTES = 512 * 1024 * 1024;
const DISK_WARN_FRACTION = 0.1;

const DISK_SCRIPT = ['du -sb -- "$1" 2>/dev/null | cut -f1', 'echo ---', 'df -B1 -P -- "$1" | tail -n 1'].join('\n');

// One find over the repositories: a line "R" per repository (a directory holding _manifests), "T"
// per tag; links, layers and uploads are pruned so that big registries stay cheap to count.
const CONTENT_SCRIPT = [
  '[ -d "$1" ] || exit 0',
  'find "$1" \\( -name _layers -o -name _uploads -o -path "*/_manifests/revisions" -o -path "*/_manifests/tags/*/index" \\) -prune' +
    ' -o -type d -name _manifests -printf "R\\n"' +
    ' -o -type f -path "*/_manifests/tags/*/current/link" -printf "T\\n"',
].join('\n');

function describeContainer(c: ContainerState | undefined, service: string): string {
  if (!c) return `${service} missing`;
  const health = c.health !== 'none' ? `, ${c.health}` : '';
  const since = c.state === 'running' && c.startedAt ? `, up ${formatAge(Date.parse(c.startedAt))}` : '';
  return `${service} ${c.state}${health}${since}`;
}

export function formatAge(since: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - since) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

function parseJson(raw: Buffer | null): Record<string, unknown> | null {
  if (!raw) return null;
  try {
    const doc = JSON.parse(raw.toString('utf8')) as unknown;
    return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : { error: 'not a JSON object' };
  } catch (err) {
    return { error: `unreadable: ${(err as Error).message}` };
  }
}

type ContentCount = { repositories: number; tags: number } | { error: string };

function countFromScript(out: ExecResult): ContentCount {
  if (out.code !== 0) return { error: out.stderr.trim().split('\n').slice(-1)[0] || `exit ${out.code}` };
  const lines = out.stdout.split('\n');
  return { repositories: lines.filter((l) => l === 'R').length, tags: lines.filter((l) => l === 'T').length };
}

/** A bucket is counted by the registry container itself: it has the storage settings and credentials. */
async function countInBucket(d: Deployment, registry: ContainerState | undefined): Promise<ContentCount> {
  if (registry?.state !== 'running') return { error: 'the registry container is not running' };
  const argv = ['docker', 'exec', registry.id, 'node', CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.count];
  const r = await d.host.exec(argv, { sudo: true, allowFailure: true, timeoutMs: 120_000 });
  if (r.code === 0) {
    try {
      const doc = JSON.parse(r.stdout) as { repositories?: unknown; tags?: unknown };
      if (typeof doc.repositories === 'number' && typeof doc.tags === 'number') return { repositories: doc.repositories, tags: doc.tags };
    } catch {
      // an image older than the count command prints its usage instead: said below
    }
  }
  const why = r.stderr.trim().split('\n').slice(-1)[0]?.replace(/^registry: /, '');
  return { error: r.code === 0 || /unknown command|too many arguments/.test(why ?? '') ? 'the registry image cannot count yet (run registry-setup upgrade)' : why || `exit ${r.code}` };
}

export async function collectStatus(d: Deployment): Promise<StatusReport> {
  const settings = d.settings;
  const bucket = settings.storage;
  const repositories = `${settings.dataDir.replace(/\/+$/, '')}/docker/registry/v2/repositories`;
  // With a bucket, the host only holds the install directory: that is what is measured.
  const measured = bucket ? d.dir : settings.dataDir;
  // Independent reads, in parallel over the one SSH connection.
  const listed = d.containers();
  const [containers, certPem, diskOut, counted, renewalRaw, gcRaw, reach] = await Promise.all([
    listed,
    d.host.readFile(d.path(HOST_LAYOUT.certificate), { sudo: true }).catch(() => null),
    d.exec.run(['sh', '-c', DISK_SCRIPT, 'sh', measured], { allowFailure: true, timeoutMs: 120_000 }),
    bucket
      ? listed.then((c) => countInBucket(d, containerFor(c, 'registry')))
      : d.exec.run(['sh', '-c', CONTENT_SCRIPT, 'sh', repositories], { allowFailure: true, timeoutMs: 120_000 }).then(countFromScript),
    d.host.readFile(d.path(HOST_LAYOUT.renewalState), { sudo: true }).catch(() => null),
    d.host.readFile(d.path(HOST_LAYOUT.gcState), { sudo: true }).catch(() => null),
    (async (): Promise<StatusReport['reachability']> => {
      try {
        const { client, connectTo } = await publicClient(d);
        const anonymous = (await client.request('GET', '/v2/', { auth: false })).status;
        return { anonymous, ...(connectTo ? { connectTo } : {}) };
      } catch (err) {
        return { error: (err as Error).message };
      }
    })(),
  ]);

  const checks: Check[] = [];
  const report: StatusReport = {
    target: settings.target,
    dir: d.dir,
    url: publicUrl(settings),
    ...(bucket ? { storage: bucket } : {}),
    healthy: true,
    checks,
    versions: { cli: cliVersion(), deployed: d.record.registrySetupVersion },
    containers: containers.map((c) => ({ service: c.service, state: c.state, health: c.health, startedAt: c.startedAt, image: c.image })),
    reachability: reach,
    disk: { dataDir: measured },
    content: {},
    renewal: parseJson(renewalRaw),
    gc: parseJson(gcRaw),
  };

  // containers
  const registry = containerFor(containers, 'registry');
  const nginx = containerFor(containers, 'nginx');
  const registryOk = registry?.state === 'running' && (registry.health === 'healthy' || registry.health === 'none');
  const nginxOk = nginx?.state === 'running';
  checks.push({
    id: 'containers',
    status: registryOk && nginxOk ? 'ok' : registry?.state === 'running' && registry.health === 'starting' && nginxOk ? 'warn' : 'fail',
    detail: `${describeContainer(registry, 'registry')}; ${describeContainer(nginx, 'nginx')}`,
  });

  // versions
  const imageVersion = registry?.labels?.['io.registry-setup.version'];
  if (imageVersion) report.versions.image = imageVersion;
  const cli = report.versions.cli;
  const deployed = report.versions.deployed;
  const order = compareSemver(cli, deployed);
  let versionStatus: CheckStatus = 'ok';
  const notes: string[] = [];
  if (imageVersion && imageVersion !== deployed) {
    versionStatus = 'warn';
    notes.push(`the running image is ${imageVersion}: run registry-setup upgrade`);
  }
  if (order !== null && order > 0) notes.push(`this CLI is newer: registry-setup upgrade moves the registry to ${cli}`);
  if (order !== null && order < 0) {
    versionStatus = 'warn';
    notes.push(`this CLI is older than the deployment: update registry-setup to ${deployed} or later`);
  }
  checks.push({
    id: 'version',
    status: versionStatus,
    detail: `deployed ${deployed}${imageVersion ? ` (image ${imageVersion})` : ''}, this CLI ${cli}${notes.length ? `; ${notes.join('; ')}` : ''}`,
  });

  // reachability from here
  if (reach.anonymous === 401) checks.push({ id: 'url', status: 'ok', detail: `${report.url}/v2/ answers 401 without credentials${reach.connectTo ? ` (reached at ${reach.connectTo})` : ''}` });
  else if (reach.anonymous !== undefined) checks.push({ id: 'url', status: 'fail', detail: `${report.url}/v2/ answered ${reach.anonymous} without credentials, expected 401` });
  else checks.push({ id: 'url', status: 'fail', detail: `${report.url}/v2/ is not reachable from here: ${reach.error}` });

  // certificate
  if (!certPem) {
    checks.push({ id: 'certificate', status: 'fail', detail: `${d.path(HOST_LAYOUT.certificate)} is missing` });
  } else {
    try {
      const cert = new X509Certificate(certPem);
      const notAfter = new Date(cert.validTo);
      const daysLeft = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
      const selfSigned = cert.subject === cert.issuer;
      report.certificate = { subject: cert.subject.replace(/\n/g, ', '), issuer: cert.issuer.replace(/\n/g, ', '), notAfter: notAfter.toISOString(), daysLeft, selfSigned };
      const status: CheckStatus = daysLeft < CERT_FAIL_DAYS ? 'fail' : daysLeft < CERT_WARN_DAYS ? 'warn' : 'ok';
      const who = selfSigned ? 'self-signed' : `issued by ${cert.issuer.split('\n').find((l) => l.startsWith('O=') || l.startsWith('CN='))?.replace(/^\w+=/, '') ?? 'a CA'}`;
      checks.push({
        id: 'certificate',
        status,
        detail: daysLeft < 0 ? `${who}, EXPIRED on ${notAfter.toISOString().slice(0, 10)}` : `${who}, valid until ${notAfter.toISOString().slice(0, 10)} (${daysLeft} days left)`,
      });
    } catch (err) {
      report.certificate = { subject: '', issuer: '', notAfter: '', daysLeft: -1, selfSigned: false, error: (err as Error).message };
      checks.push({ id: 'certificate', status: 'fail', detail: `${d.path(HOST_LAYOUT.certificate)} cannot be parsed: ${(err as Error).message}` });
    }
  }

  // disk
  const [duPart = '', dfPart = ''] = diskOut.stdout.split('---\n');
  const dataBytes = Number.parseInt(duPart.trim(), 10);
  const df = dfPart.trim().split(/\s+/);
  if (diskOut.code === 0 && df.length >= 6 && Number.isFinite(dataBytes)) {
    const size = Number(df[1]);
    const avail = Number(df[3]);
    Object.assign(report.disk, { dataBytes, filesystemBytes: size, availableBytes: avail, mount: df.slice(5).join(' ') });
    const fraction = size > 0 ? avail / size : 0;
    const status: CheckStatus = fraction < DISK_FAIL_FRACTION || avail < DISK_FAIL_BYTES ? 'fail' : fraction < DISK_WARN_FRACTION ? 'warn' : 'ok';
    const what = bucket ? `${d.dir} ${formatBytes(dataBytes)} (the images are in the bucket)` : `data ${formatBytes(dataBytes)}`;
    checks.push({ id: 'disk', status, detail: `${what}; ${formatBytes(avail)} free of ${formatBytes(size)} (${Math.round(fraction * 100)} %) on ${report.disk.mount}` });
  } else {
    report.disk.error = (diskOut.stderr || diskOut.stdout).trim().split('\n').slice(-1)[0] || `exit ${diskOut.code}`;
    checks.push({ id: 'disk', status: 'fail', detail: `cannot measure ${measured}: ${report.disk.error}` });
  }

  // content
  if ('error' in counted) {
    report.content.error = counted.error;
    checks.push({ id: 'content', status: 'warn', detail: `cannot count repositories${bucket ? ` in ${bucket}` : ''}: ${counted.error}` });
  } else {
    Object.assign(report.content, counted);
    const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
    const where = bucket ? ` in ${bucket}` : '';
    checks.push({ id: 'content', status: 'ok', detail: `${n(counted.repositories, 'repository', 'repositories')}, ${n(counted.tags, 'tag', 'tags')}${where}` });
  }

  // last certificate renewal (written by the ACME renewal on the host)
  const renewal = report.renewal;
  if (!renewal) {
    checks.push({
      id: 'renewal',
      status: settings.tls === 'letsencrypt' ? 'warn' : 'ok',
      detail: settings.tls === 'letsencrypt' ? 'no renewal recorded yet' : `none (${settings.tls} certificate: renew it yourself)`,
    });
  } else {
    const result = String(renewal.lastResult ?? renewal.error ?? 'unknown');
    const when = typeof renewal.lastAttempt === 'string' ? renewal.lastAttempt : undefined;
    checks.push({
      id: 'renewal',
      status: result === 'failed' || renewal.error ? 'warn' : 'ok',
      detail: `${when ? `${when} (${formatAge(Date.parse(when))} ago)` : 'unknown time'}: ${result}${typeof renewal.error === 'string' ? ` (${renewal.error})` : ''}`,
    });
  }

  // last GC (written by `gc --state-file`, see src/ops/gc.ts)
  const gc = report.gc;
  if (!gc) {
    checks.push({ id: 'gc', status: 'ok', detail: `never run (registry-setup gc ${settings.target} frees unreferenced blobs)` });
  } else {
    const when = typeof gc.time === 'string' ? gc.time : undefined;
    const ok = gc.ok === true;
    const what = ok
      ? `${gc.dryRun ? 'dry run, would free' : 'freed'} ${formatBytes(Number(gc.freedBytes ?? 0))} (${Number(gc.deletedBlobs ?? 0)} blobs)`
      : `failed: ${String(gc.error ?? 'unknown error')}`;
    checks.push({ id: 'gc', status: ok ? 'ok' : 'warn', detail: `${when ? `${when} (${formatAge(Date.parse(when))} ago)` : 'unknown time'}: ${what}` });
  }
  if (registry && !(registry.mounts ?? []).includes(CONTAINER_PATHS.stateDir) && registry.state === 'running') {
    const gcCheck = checks.find((c) => c.id === 'gc')!;
    gcCheck.detail += '; this deployment cannot record GC results yet (run registry-setup upgrade)';
  }

  // last retention run (the daily timer's, see src/ops/retention-status.ts): a failed or missed one fails
  const retentionFacts = await readRetentionFacts(d);
  report.retention = retentionFacts.record;
  checks.push({ id: 'retention', ...retentionCheck(retentionFacts) });

  report.healthy = !checks.some((c) => c.status === 'fail');
  const snippets = mirrorSnippets(settings);
  if (snippets) report.mirrors = snippets;
  return report;
}

type Colors = { ok: (s: string) => string; warn: (s: string) => string; fail: (s: string) => string };

/**
 * Several hosts: one row each (state, certificate, version), then every check that is not ok,
 * named by host, and the overall verdict.
 */
export function formatStatusTable(rows: { host: string; report: StatusReport }[], color: Colors): string {
  const cells = rows.map(({ host, report: r }) => {
    const failed = r.checks.filter((c) => c.status === 'fail').map((c) => c.id);
    return [
      host,
      r.url,
      r.healthy ? 'healthy' : `UNHEALTHY (${failed.join(', ')})`,
      r.certificate && !r.certificate.error ? `${r.certificate.daysLeft} days left` : 'none',
      `${r.versions.deployed}${r.versions.image && r.versions.image !== r.versions.deployed ? ` (image ${r.versions.image})` : ''}`,
    ];
  });
  const table = [['HOST', 'URL', 'STATE', 'CERTIFICATE', 'VERSION'], ...cells];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const lines = table.map((row, n) =>
    row
      .map((cell, i) => {
        const padded = i === row.length - 1 ? cell : cell.padEnd(widths[i]!);
        return n > 0 && i === 2 ? (rows[n - 1]!.report.healthy ? color.ok(padded) : color.fail(padded)) : padded;
      })
      .join('  ')
      .trimEnd(),
  );
  const mark = { ok: color.ok('✔'), warn: color.warn('!'), fail: color.fail('✖') };
  for (const { host, report } of rows) {
    for (const c of report.checks) if (c.status !== 'ok') lines.push(`  ${mark[c.status]} ${host} ${c.id}: ${c.detail}`);
  }
  const sick = rows.filter((r) => !r.report.healthy).map((r) => r.host);
  lines.push(sick.length === 0 ? color.ok(`healthy (${rows.length} hosts)`) : color.fail(`UNHEALTHY: ${sick.join(', ')}`));
  // the hosts serve one registry: its mirrors once
  const mirrors = rows[0]?.report.mirrors;
  return `${lines.join('\n')}\n${mirrors ? formatMirrorSnippets(mirrors) : ''}`;
}

export function formatStatus(r: StatusReport, color: Colors): string {
  const mark = { ok: color.ok('✔'), warn: color.warn('!'), fail: color.fail('✖') };
  const lines = [`${r.url}  (${r.target}, ${r.dir})`];
  for (const c of r.checks) lines.push(`  ${mark[c.status]} ${c.id.padEnd(12)} ${c.detail}`);
  lines.push(r.healthy ? color.ok('healthy') : color.fail(`UNHEALTHY: ${r.checks.filter((c) => c.status === 'fail').map((c) => c.id).join(', ')}`));
  return `${lines.join('\n')}\n${r.mirrors ? formatMirrorSnippets(r.mirrors) : ''}`;
}
