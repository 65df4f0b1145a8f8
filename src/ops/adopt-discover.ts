// Pure: from the facts read on a host (adopt-facts.ts), the hand-built registry stack adopt would
// take over: the registry container (compose v1/v2 project or plain `docker run`), its data
// directory on the host, its htpasswd file and users, the nginx in front of it (a container or the
// host's package), the domain and ports it serves, the certificate and who renews it. Nothing is
// guessed: where the facts allow two answers, discovery stops with an AdoptAmbiguity naming the
// flag that picks one (and the choices, for a question on a terminal).
import { posix } from 'node:path';
import YAML from 'yaml';
import { parseHtpasswd, HtpasswdError } from '../registry/auth/htpasswd.js';
import { CERTBOT_LIVE_RE, CERTBOT_ROOT, containerEnv, looksLikeNginx, looksLikeRegistry, type AdoptFacts, type InspectedContainer } from './adopt-facts.js';
import { nginxServers, NginxConfigError, type NginxServer } from './nginx-config.js';
import { OpsError } from './errors.js';

/** Something adopt cannot take over (the message says why and what to do). */
export class AdoptError extends OpsError {
  override name = 'AdoptError';
}

/** Two or more answers: the flag that picks one, and the answers. */
export class AdoptAmbiguity extends AdoptError {
  override name = 'AdoptAmbiguity';
  constructor(
    readonly flag: string,
    readonly what: string,
    readonly choices: string[],
  ) {
    super(`found ${choices.length} ${what} (${choices.join(', ')}): pass ${flag} ${choices.map((c) => `'${c}'`).join(' or ')}`);
  }
}

export interface AdoptChoices {
  /** the registry container's name or id */
  container?: string;
  /** the domain among nginx's server_names */
  domain?: string;
}

export interface ComposeOrigin {
  project: string;
  service: string;
  workingDir?: string;
  configFiles: string[];
  /** `v1` (docker-compose 1.x) or `v2` (docker compose) by com.docker.compose.version */
  flavour: 'v1' | 'v2';
}

export interface HostMount {
  kind: 'bind' | 'volume';
  /** the path on the host (a named volume's _data directory) */
  hostPath: string;
  volume?: string;
}

export interface PublishedPort {
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface FoundContainer {
  id: string;
  name: string;
  image: string;
  compose?: ComposeOrigin;
  ports: PublishedPort[];
}

export interface FoundRegistry extends FoundContainer {
  /** where the registry keeps its data, in the container and on the host */
  dataPath: string;
  data: HostMount;
  htpasswd?: { path: string; host: HostMount; users: string[] };
  realm?: string;
}

export interface FoundCertificate {
  /** as nginx names them */
  certificate: string;
  key: string;
  /** the same files on the host */
  hostCertificate: string;
  hostKey: string;
  /**
   * certbot's name when the files are (or are copies of) <root>/live/<name>/, and its configuration
   * directory: /etc/letsencrypt, or another (certbot --config-dir) read off the path nginx serves
   */
  letsencrypt?: { name: string; servedInPlace: boolean; root: string };
}

export interface FoundNginx {
  /** `container` (with the container) or the host's own nginx package */
  kind: 'container' | 'host';
  container?: FoundContainer;
  domain?: string;
  httpsPort?: number;
  httpPort?: number;
  certificate?: FoundCertificate;
}

export interface AdoptDiscovery {
  registry: FoundRegistry;
  nginx?: FoundNginx;
  /** certbot's renewal as found: enabled timers and cron files that run it */
  certbot: { timers: string[]; cron: string[] };
  /** the other containers of the registry's compose project (nginx among them) */
  companions: FoundContainer[];
  /** things the user should know that do not stop adopt */
  notes: string[];
}

const containerName = (c: InspectedContainer): string => c.Name.replace(/^\//, '');

function composeOrigin(c: InspectedContainer): ComposeOrigin | undefined {
  const l = c.Config.Labels ?? {};
  const project = l['com.docker.compose.project'];
  if (!project) return undefined;
  const workingDir = l['com.docker.compose.project.working_dir'];
  return {
    project,
    service: l['com.docker.compose.service'] ?? '',
    ...(workingDir ? { workingDir } : {}),
    configFiles: (l['com.docker.compose.project.config_files'] ?? '').split(',').map((f) => f.trim()).filter(Boolean),
    flavour: (l['com.docker.compose.version'] ?? '').startsWith('1.') ? 'v1' : 'v2',
  };
}

function publishedPorts(c: InspectedContainer): PublishedPort[] {
  const ports = c.NetworkSettings?.Ports ?? c.HostConfig?.PortBindings ?? {};
  const out: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const containerPort = Number(key.split('/')[0]);
    if (!key.endsWith('/tcp') && key.includes('/')) continue;
    for (const b of bindings ?? []) {
      const hostPort = Number(b.HostPort);
      if (!Number.isInteger(hostPort) || hostPort <= 0) continue;
      // Docker lists an IPv4 and an IPv6 binding of the same port: one is enough here
      if (out.some((p) => p.containerPort === containerPort && p.hostPort === hostPort)) continue;
      out.push({ containerPort, hostPort, ...(b.HostIp && b.HostIp !== '0.0.0.0' && b.HostIp !== '::' ? { hostIp: b.HostIp } : {}) });
    }
  }
  return out.sort((a, b) => a.containerPort - b.containerPort || a.hostPort - b.hostPort);
}

function found(c: InspectedContainer): FoundContainer {
  const compose = composeOrigin(c);
  return { id: c.Id, name: containerName(c), image: c.Config.Image, ...(compose ? { compose } : {}), ports: publishedPorts(c) };
}

/** The host path a path inside the container lives at: the mount with the longest matching destination. */
export function hostPathOf(c: InspectedContainer, inside: string): HostMount | undefined {
  const mounts = (c.Mounts ?? []).filter((m) => inside === m.Destination || inside.startsWith(`${m.Destination.replace(/\/$/, '')}/`));
  const m = mounts.sort((a, b) => b.Destination.length - a.Destination.length)[0];
  if (!m || (m.Type !== 'bind' && m.Type !== 'volume')) return undefined;
  const rest = inside.slice(m.Destination.replace(/\/$/, '').length);
  return { kind: m.Type, hostPath: posix.join(m.Source, rest), ...(m.Name && m.Type === 'volume' ? { volume: m.Name } : {}) };
}

interface RegistryConfig {
  driver: string;
  rootDirectory: string;
  htpasswdPath?: string;
  realm?: string;
}

/** distribution's settings that matter here: its config file, overridden by REGISTRY_* variables as distribution does. */
function registryConfig(c: InspectedContainer, configText: string | undefined): RegistryConfig {
  let doc: Record<string, any> = {};
  if (configText !== undefined) {
    try {
      doc = (YAML.parse(configText) as Record<string, any>) ?? {};
    } catch (e) {
      throw new AdoptError(`the configuration file of ${containerName(c)} is not valid YAML (${(e as Error).message.split('\n')[0]}); fix it or give the settings as REGISTRY_* variables`);
    }
  }
  const env = containerEnv(c);
  const storage = (doc.storage ?? {}) as Record<string, any>;
  const notDrivers = new Set(['cache', 'delete', 'maintenance', 'redirect', 'tag']);
  const driver = env.REGISTRY_STORAGE ?? Object.keys(storage).find((k) => !notDrivers.has(k)) ?? 'filesystem';
  const rootDirectory = env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? storage.filesystem?.rootdirectory ?? '/var/lib/registry';
  const auth = env.REGISTRY_AUTH ?? Object.keys(doc.auth ?? {})[0];
  const htpasswdPath = auth === 'htpasswd' ? (env.REGISTRY_AUTH_HTPASSWD_PATH ?? doc.auth?.htpasswd?.path) : undefined;
  const realm = auth === 'htpasswd' ? (env.REGISTRY_AUTH_HTPASSWD_REALM ?? doc.auth?.htpasswd?.realm) : undefined;
  if (auth && auth !== 'htpasswd') throw new AdoptError(`${containerName(c)} authenticates with "${auth}"; adopt takes over htpasswd authentication only`);
  return { driver, rootDirectory: String(rootDirectory), ...(htpasswdPath ? { htpasswdPath: String(htpasswdPath) } : {}), ...(realm ? { realm: String(realm) } : {}) };
}

function pickRegistry(facts: AdoptFacts, choices: AdoptChoices): InspectedContainer {
  const all = facts.containers.filter(looksLikeRegistry);
  if (choices.container !== undefined) {
    const want = choices.container.replace(/^\//, '');
    const c = all.find((x) => containerName(x) === want || x.Id === want || (want.length >= 12 && x.Id.startsWith(want)));
    if (!c) {
      const any = facts.containers.find((x) => containerName(x) === want || x.Id.startsWith(want));
      throw new AdoptError(any ? `--container ${want}: runs ${any.Config.Image}, not a registry:2 (distribution)` : `--container ${want}: no such container on the host (${all.length ? `registries: ${all.map(containerName).join(', ')}` : 'no registry container there'})`);
    }
    if (c.State.Status !== 'running') throw new AdoptError(`the registry container ${want} is ${c.State.Status}: start it first, so that what it serves can be recorded and checked after the switch`);
    return c;
  }
  const running = all.filter((c) => c.State.Status === 'running');
  if (running.length === 1) return running[0]!;
  if (running.length > 1) throw new AdoptAmbiguity('--container', 'running registry containers', running.map(containerName));
  if (all.length > 0) throw new AdoptError(`the registry container ${all.map(containerName).join(', ')} is not running: start it first, so that what it serves can be recorded and checked after the switch`);
  throw new AdoptError('no registry:2 (distribution) container on the host, running or stopped; nothing to adopt');
}

function discoverRegistry(facts: AdoptFacts, c: InspectedContainer, notes: string[]): FoundRegistry {
  const config = registryConfig(c, facts.registryConfigs[c.Id]);
  const name = containerName(c);
  if (config.driver !== 'filesystem') throw new AdoptError(`${name} stores its data with the "${config.driver}" driver; adopt takes over filesystem storage only`);
  const data = hostPathOf(c, config.rootDirectory);
  if (!data) throw new AdoptError(`${name} keeps its data (${config.rootDirectory}) inside the container, not in a volume or bind mount; adopt cannot take it over in place (copy it out with docker cp first)`);
  let htpasswd: FoundRegistry['htpasswd'];
  if (config.htpasswdPath) {
    const host = hostPathOf(c, config.htpasswdPath);
    if (!host) throw new AdoptError(`${name} reads its users from ${config.htpasswdPath} inside the container, not from a mounted file; adopt cannot carry them over`);
    const text = facts.htpasswd[c.Id];
    if (text === undefined) throw new AdoptError(`could not read ${config.htpasswdPath} in ${name}`);
    let users: string[];
    try {
      users = [...parseHtpasswd(text, config.htpasswdPath).keys()];
    } catch (e) {
      if (e instanceof HtpasswdError) throw new AdoptError(e.message);
      throw e;
    }
    htpasswd = { path: config.htpasswdPath, host, users };
  } else notes.push(`${name} has no authentication: the adopted registry will ask for a login; create users with registry-setup users add`);
  return { ...found(c), dataPath: config.rootDirectory, data, ...(htpasswd ? { htpasswd } : {}), ...(config.realm ? { realm: config.realm } : {}) };
}

/** The names a container answers to on a network, per network it is on. */
function networkNames(c: InspectedContainer): Map<string, Set<string>> {
  const base = [containerName(c), c.Id.slice(0, 12), c.Config.Labels?.['com.docker.compose.service']].filter((n): n is string => !!n);
  return new Map(Object.entries(c.NetworkSettings?.Networks ?? {}).map(([net, n]) => [net, new Set([...base, ...(n.Aliases ?? [])])]));
}

/**
 * Does the nginx server proxy to this registry? From a container: by a name the registry has on a
 * network both are on, port 5000; from the host: to a port the registry publishes on loopback.
 */
function proxiesToRegistry(s: NginxServer, registry: InspectedContainer, registryPorts: PublishedPort[], nginx: InspectedContainer | undefined): boolean {
  const fromHost = nginx === undefined;
  const shared = nginx ? [...networkNames(registry)].filter(([net]) => net in (nginx.NetworkSettings?.Networks ?? {})) : [];
  const names = new Set(shared.flatMap(([, n]) => [...n]));
  return s.proxiesTo.some((t) => {
    const i = t.lastIndexOf(':');
    const host = t.slice(0, i);
    const port = Number(t.slice(i + 1));
    if (fromHost) return ['127.0.0.1', 'localhost', '[::1]'].includes(host) && registryPorts.some((p) => p.hostPort === port);
    return names.has(host) && port === 5000;
  });
}

function discoverNginx(facts: AdoptFacts, registryContainer: InspectedContainer, registry: FoundRegistry, choices: AdoptChoices, notes: string[]): FoundNginx | undefined {
  const candidates: { where: string; container?: InspectedContainer; servers: NginxServer[]; all: NginxServer[] }[] = [];
  for (const [where, text] of Object.entries(facts.nginxConfigs)) {
    const container = where === 'host' ? undefined : facts.containers.find((c) => c.Id === where);
    if (where !== 'host' && (!container || !looksLikeNginx(container))) continue;
    let servers: NginxServer[];
    try {
      servers = nginxServers(text);
    } catch (e) {
      if (e instanceof NginxConfigError) throw new AdoptError(`the nginx configuration of ${container ? containerName(container) : 'the host'} cannot be read: ${e.message}`);
      throw e;
    }
    const ours = servers.filter((s) => proxiesToRegistry(s, registryContainer, registry.ports, container));
    if (ours.length) candidates.push({ where, ...(container ? { container } : {}), servers: ours, all: servers });
  }
  if (candidates.length === 0) {
    notes.push(`no nginx proxies to ${registry.name}: the adopted registry is served on ${registry.ports.length ? `the same port (${registry.ports.map((p) => p.hostPort).join(', ')})` : 'the ports you give'}`);
    return undefined;
  }
  if (candidates.length > 1) throw new AdoptError(`${candidates.length} nginx instances proxy to ${registry.name} (${candidates.map((c) => (c.container ? containerName(c.container) : 'the host package')).join(', ')}); stop the one that is not in use and run adopt again`);
  const n = candidates[0]!;
  const tls = n.servers.filter((s) => s.listens.some((l) => l.ssl));
  const named = (tls.length ? tls : n.servers).flatMap((s) => s.names).filter((d) => d !== '_' && d !== '' && !d.startsWith('~') && !d.includes('*'));
  const domains = [...new Set(named)];
  let domain: string | undefined;
  if (choices.domain !== undefined) {
    if (!domains.includes(choices.domain)) throw new AdoptError(`--domain ${choices.domain}: nginx serves the registry as ${domains.length ? domains.join(', ') : 'no name (server_name _)'}, not ${choices.domain}`);
    domain = choices.domain;
  } else if (domains.length > 1) throw new AdoptAmbiguity('--domain', 'domains nginx serves the registry under', domains);
  else domain = domains[0];
  const server = (tls.length ? tls : n.servers).find((s) => domain === undefined || s.names.includes(domain))!;
  const container = n.container ? found(n.container) : undefined;
  // nginx's listen ports inside its container → the ports the host publishes them on
  const onHost = (port: number): number | undefined => (container ? container.ports.find((p) => p.containerPort === port)?.hostPort : port);
  const tlsListen = server.listens.find((l) => l.ssl);
  // plain HTTP: the registry's own server, or the same name's server beside it (a redirect, ACME's webroot)
  const plain = n.all.filter((s) => n.servers.includes(s) || (domain !== undefined && s.names.includes(domain))).flatMap((s) => s.listens).find((l) => !l.ssl);
  const httpsPort = tlsListen ? onHost(tlsListen.port) : undefined;
  const httpPort = plain ? onHost(plain.port) : undefined;
  if (tlsListen && httpsPort === undefined) throw new AdoptError(`nginx listens on ${tlsListen.port} in ${container?.name}, but the port is not published on the host`);
  let certificate: FoundCertificate | undefined;
  if (server.certificate && server.certificateKey) {
    const map = (p: string): string | undefined => (n.container ? hostPathOf(n.container, p)?.hostPath : p);
    const hostCertificate = map(server.certificate);
    const hostKey = map(server.certificateKey);
    if (!hostCertificate || !hostKey) throw new AdoptError(`nginx's certificate ${server.certificate} is inside its container, not in a mounted directory; adopt cannot carry it over`);
    // certbot's shape: <root>/live/<name>/fullchain.pem (or cert.pem, chain.pem) beside privkey.pem
    const live = CERTBOT_LIVE_RE.exec(hostCertificate);
    const inPlace = live && posix.dirname(hostKey) === posix.dirname(hostCertificate) ? { name: live[2]!, servedInPlace: true, root: live[1]! } : undefined;
    const copied = !inPlace && domain && facts.letsencryptLive.includes(domain) ? { name: domain, servedInPlace: false, root: CERTBOT_ROOT } : undefined;
    const letsencrypt = inPlace ?? copied;
    certificate = { certificate: server.certificate, key: server.certificateKey, hostCertificate, hostKey, ...(letsencrypt ? { letsencrypt } : {}) };
  }
  if (!plain) notes.push('nginx serves no plain-HTTP port: Let\'s Encrypt renewal (HTTP-01) after the switch needs one reachable on port 80');
  return { kind: n.container ? 'container' : 'host', ...(container ? { container } : {}), ...(domain ? { domain } : {}), ...(httpsPort !== undefined ? { httpsPort } : {}), ...(httpPort !== undefined ? { httpPort } : {}), ...(certificate ? { certificate } : {}) };
}

/** The stack adopt would take over, or an AdoptError / AdoptAmbiguity saying why not. */
export function discoverStack(facts: AdoptFacts, choices: AdoptChoices = {}): AdoptDiscovery {
  const notes: string[] = [];
  const picked = pickRegistry(facts, choices);
  const registry = discoverRegistry(facts, picked, notes);
  const nginx = discoverNginx(facts, picked, registry, choices, notes);
  const project = registry.compose?.project;
  const companions = project
    ? facts.containers.filter((c) => c.Id !== registry.id && c.Config.Labels?.['com.docker.compose.project'] === project).map(found)
    : nginx?.container
      ? [nginx.container]
      : [];
  const timers = Object.entries(facts.certbotTimers).filter(([, state]) => state === 'enabled').map(([unit]) => unit);
  if (nginx?.certificate && !nginx.certificate.letsencrypt) notes.push(`the certificate ${nginx.certificate.hostCertificate} is not certbot's: after the switch registry-setup renews it with Let's Encrypt`);
  return { registry, ...(nginx ? { nginx } : {}), certbot: { timers, cron: facts.certbotCron }, companions, notes };
}
