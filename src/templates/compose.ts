// compose.yaml, built as an object and stringified with the yaml library.
import { Document, isPair, isScalar, isSeq, visit } from 'yaml';
import { BLOB_BYTES_LOCATION, COMPOSE_PROJECT, CONTAINER_PATHS, HOST_LAYOUT, NGINX_HTTP_PORT, NGINX_HTTPS_PORT, NGINX_UID, RENEW_PATHS, RENEW_SERVICE, REGISTRY_ENV, NEXT_REGISTRY_PROFILE, NEXT_REGISTRY_SERVICE, REGISTRY_PORT, REGISTRY_UID, IMAGE_COMMANDS } from '../host/contract.js';
import { storageCaFile } from '../registry/storage/s3/settings.js';
import type { DeploySettings } from '../settings/settings.js';
import { registryImageTag } from './dockerfile.js';
import { RETENTION_SERVICE } from '../host/contract.js';
import { notifyCompose, observabilityEnvironment, retentionService } from './retention-service.js';
import { TemplateError } from './engine.js';
import { mirrorCompose } from './mirrors.js';


export interface ComposeOptions {
  /** registry-setup version: tags the registry image. */
  version: string;
  /** false only for local tests: the registry then runs without authentication. */
  auth: boolean;
  /** Host address the ports are published on (default: all interfaces). */
  publishAddress?: string;
  /** Health check timing of the registry (defaults: 30s / 5s / 3 / 10s). */
  healthcheck?: Partial<{ interval: string; timeout: string; retries: number; startPeriod: string }>;
  realm?: string;
  /** the access policy in auth/ (settings.access); the CI tokens file is wired whenever there is auth */
  accessControl?: boolean;
}

type ComposeSettings = Pick<DeploySettings, 'dataDir' | 'httpPort' | 'httpsPort' | 'nginxImage'> & Partial<Pick<DeploySettings, 'ui' | 'storage' | 'composeProject' | 'tls'>> &
  Partial<Pick<DeploySettings, 'mirrors' | 'mirrorTagTtl' | 'retention' | 'notify'>>;

/**
 * The storage URL as the registry container sees it: a `ca=<local file>` option points at the
 * uploaded copy instead (returned as caFile, to upload). The rest is passed on as written: the
 * settings checked it (an s3:// URL the registry parses, nothing compose would interpolate).
 */
export function storageForContainer(storage: string): { url: string; caFile?: string } {
  // the storage URL's own parser (the registry's) says which CA file is meant
  const caFile = storageCaFile(storage);
  if (caFile === undefined) return { url: storage };
  // the rest of the URL goes on exactly as written (compose.yaml stays byte-stable)
  const q = storage.indexOf('?');
  const params = storage
    .slice(q + 1)
    .split('&')
    .map((p) => (p.startsWith('ca=') ? `ca=${CONTAINER_PATHS.s3Ca}` : p));
  return { url: `${storage.slice(0, q)}?${params.join('&')}`, caFile };
}

const DURATION_RE = /^\d+(?:ms|s|m|h)$/;

/**
 * compose.yaml as a plain object. Works with `docker compose` (v2) and `docker-compose` 1.27+:
 * no `version:` key (v1.27+ then reads it as the Compose Specification; v2 warns about a version
 * key) and no top-level `name:` (v1 rejects it): the project name is given as `-p registry-setup`
 * on every invocation (see composeCommand in src/provision). Paths of files under settings.dir are
 * relative (`./auth`), which compose resolves against the directory of compose.yaml.
 */
export function composeDocument(settings: ComposeSettings, opts: ComposeOptions): Record<string, unknown> {
  // settings and version come checked (src/settings/resolve.ts, cliVersion): no second check here
  const { version } = opts;
  const dataDir = settings.dataDir.length > 1 ? settings.dataDir.replace(/\/+$/, '') : settings.dataDir;
  const { httpPort, httpsPort, nginxImage } = settings;
  // a publish address comes checked too: from the settings, or upgrade's flag through the same rule
  const publish = opts.publishAddress;
  const hc = { interval: '30s', timeout: '5s', retries: 3, startPeriod: '10s', ...opts.healthcheck };
  for (const d of [hc.interval, hc.timeout, hc.startPeriod]) {
    if (!DURATION_RE.test(d)) throw new TemplateError(`health check duration "${d}" is not like 30s`);
  }
  const realm = opts.realm ?? 'Registry Realm';
  if (/[$\n\r"]/.test(realm)) throw new TemplateError(`realm "${realm}" must not contain '$', quotes or newlines`);

  const s3 = settings.storage === undefined ? undefined : storageForContainer(settings.storage);
  const environment: Record<string, string> = {
    [REGISTRY_ENV.httpAddr]: `0.0.0.0:${REGISTRY_PORT}`,
    ...(s3
      ? { [REGISTRY_ENV.storageUrl]: s3.url, [REGISTRY_ENV.storageS3CredentialsFile]: CONTAINER_PATHS.s3Credentials }
      : { [REGISTRY_ENV.storageFilesystemRoot]: CONTAINER_PATHS.data }),
    [REGISTRY_ENV.storageDeleteEnabled]: 'true',
    // Signed upload URLs: any host sharing the secret (and the bucket) continues an upload.
    [REGISTRY_ENV.httpSecretFile]: CONTAINER_PATHS.uploadSecret,
    ...(settings.ui === false ? { [REGISTRY_ENV.uiEnabled]: 'false' } : {}),
    // nginx sends blob bytes from its read-only mount of the data directory (see buildNginxConf)
    ...(s3 ? {} : { [REGISTRY_ENV.httpAccelRedirect]: BLOB_BYTES_LOCATION }),
    ...observabilityEnvironment(),
    ...notifyCompose(settings.notify).environment,
  };
  // With a bucket there is no data directory at all. Files read once at start may be mounted alone:
  // they change only with a recreated container (deploy recreates it when they do).
  const registryVolumes = s3
    ? [
        `./${HOST_LAYOUT.s3Credentials}:${CONTAINER_PATHS.s3Credentials}:ro`,
        ...(s3.caFile ? [`./${HOST_LAYOUT.s3Ca}:${CONTAINER_PATHS.s3Ca}:ro`] : []),
      ]
    : [`${dataDir}:${CONTAINER_PATHS.data}`];
  if (opts.auth) {
    environment[REGISTRY_ENV.auth] = 'htpasswd';
    environment[REGISTRY_ENV.authHtpasswdPath] = CONTAINER_PATHS.htpasswd;
    environment[REGISTRY_ENV.authHtpasswdRealm] = realm;
    // The directory, not the file: a file replaced by rename stays visible in the container.
    registryVolumes.push(`./${HOST_LAYOUT.authDir}:${CONTAINER_PATHS.authDir}:ro`);
  }
  if (opts.auth && opts.accessControl) environment[REGISTRY_ENV.authAccessPath] = CONTAINER_PATHS.accessPolicy;
  // CI tokens on every deployment with users: without a policy a token is held to its own scope
  if (opts.auth) {
    environment[REGISTRY_ENV.authTokensPath] = CONTAINER_PATHS.ciTokens;
    environment[REGISTRY_ENV.authTokensUsagePath] = CONTAINER_PATHS.tokensUsage;
  }
  // Writable: `gc --state-file` run inside the container records its result here for `status`.
  registryVolumes.push(`./${HOST_LAYOUT.stateDir}:${CONTAINER_PATHS.stateDir}`, `./${HOST_LAYOUT.uploadSecret}:${CONTAINER_PATHS.uploadSecret}:ro`);
  // The pull-through cache (mirrors:): its variables and the credentials directory.
  const mirror = mirrorCompose(settings.mirrors, settings.mirrorTagTtl);
  Object.assign(environment, mirror.environment);
  registryVolumes.push(...mirror.volumes);
  registryVolumes.push(...notifyCompose(settings.notify).volumes);
  const hardening = {
    read_only: true,
    security_opt: ['no-new-privileges:true'],
    cap_drop: ['ALL'],
    tmpfs: [`${CONTAINER_PATHS.temp}:size=64m,mode=1777`],
  };
  const logging = { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } };
  const prefix = publish === undefined ? '' : `${publish}:`;

  const doc: { 'x-registry-setup': unknown; services: Record<string, Record<string, unknown>> } = {
    'x-registry-setup': {
      version,
      // compose v1 has no `name:`; run every compose command with `-p <project>`.
      project: settings.composeProject ?? COMPOSE_PROJECT,
    },
    services: {
      registry: {
        build: { context: `./${HOST_LAYOUT.buildDir}` },
        image: registryImageTag(version),
        user: `${REGISTRY_UID}:${REGISTRY_UID}`,
        ...hardening,
        environment,
        volumes: registryVolumes,
        healthcheck: {
          test: ['CMD', 'node', CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.healthcheck],
          interval: hc.interval,
          timeout: hc.timeout,
          retries: hc.retries,
          start_period: hc.startPeriod,
        },
        // the registry lets in-flight requests finish for up to 30 s after SIGTERM
        stop_grace_period: '40s',
        restart: 'unless-stopped',
        logging,
      },
      nginx: {
        image: nginxImage,
        user: `${NGINX_UID}:${NGINX_UID}`,
        ...hardening,
        command: ['nginx', '-c', CONTAINER_PATHS.nginxConf, '-g', 'daemon off;'],
        volumes: [
          `./${HOST_LAYOUT.nginxDir}:${CONTAINER_PATHS.nginxConfDir}:ro`,
          `./${HOST_LAYOUT.tlsDir}:${CONTAINER_PATHS.tlsDir}:ro`,
          `./${HOST_LAYOUT.webroot}:${CONTAINER_PATHS.webroot}:ro`,
          // read-only: nginx sends blob bytes the registry names (X-Accel-Redirect)
          ...(s3 ? [] : [`${dataDir}:${CONTAINER_PATHS.data}:ro`]),
        ],
        // the data directory is 0750 for the registry's uid and group
        ...(s3 ? {} : { group_add: [String(REGISTRY_UID)] }),
        ports: [`${prefix}${httpPort}:${NGINX_HTTP_PORT}`, `${prefix}${httpsPort}:${NGINX_HTTPS_PORT}`],
        depends_on: ['registry'],
        restart: 'unless-stopped',
        logging,
      },
      ...(settings.tls === 'letsencrypt' ? { [RENEW_SERVICE]: renewService(version, hardening, logging) } : {}),
      ...(settings.retention ? { [RETENTION_SERVICE]: retentionService({ image: registryImageTag(version), dataDir, s3, hardening, logging }) } : {}),
    },
  };
  doc.services = { ...doc.services, [NEXT_REGISTRY_SERVICE]: nextRegistryService(doc.services.registry!) };
  return doc;
}

/**
 * The upgrade's second slot: the registry service as it is (same image, mounts, hardening, health
 * check; no ports), built by the `registry` service and started only by `upgrade` (a profile).
 */
function nextRegistryService(registry: Record<string, unknown>): Record<string, unknown> {
  const { build: _build, ...rest } = registry;
  return { ...rest, profiles: [NEXT_REGISTRY_PROFILE] };
}

/**
 * The host-side renewal (run by the systemd timer through `compose run`, which gives it this
 * service's settings). It reads and replaces files of three owners: nginx's private key (0600),
 * the registry's state/ and root's acme/. So it runs as root with only the capabilities that takes
 * (ignore file permissions, keep the key's owner), on the compose network to reach nginx:8080.
 * A profile keeps `up` from starting it.
 */
function renewService(version: string, hardening: Record<string, unknown>, logging: Record<string, unknown>): Record<string, unknown> {
  return {
    image: registryImageTag(version),
    profiles: [RENEW_SERVICE],
    user: '0:0',
    ...hardening,
    cap_add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'],
    volumes: [
      `./${HOST_LAYOUT.acmeDir}:${RENEW_PATHS.acmeDir}`,
      `./${HOST_LAYOUT.tlsDir}:${RENEW_PATHS.tlsDir}`,
      `./${HOST_LAYOUT.webroot}:${RENEW_PATHS.webroot}`,
      `./${HOST_LAYOUT.stateDir}:${RENEW_PATHS.stateDir}`,
    ],
    logging,
  };
}

/**
 * compose.yaml text. Stringified as YAML 1.1 so that every string PyYAML (compose v1) would read as
 * something else (`22:22` as a base-60 number, `yes`/`on` as booleans) comes out quoted.
 */
export function buildCompose(settings: ComposeSettings, opts: ComposeOptions): string {
  const header = '# Generated by registry-setup: edits are overwritten on the next deploy.\n' + `# Run compose with the project name: -p ${settings.composeProject ?? COMPOSE_PROJECT}\n`;
  const doc = new Document(composeDocument(settings, opts), { version: '1.1', aliasDuplicateObjects: false });
  // Quote the values that look like numbers with colons, as compose's documentation advises.
  visit(doc, {
    Pair(_key, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || (pair.key.value !== 'ports' && pair.key.value !== 'user')) return undefined;
      const scalars = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const s of scalars) if (isScalar(s)) s.type = 'QUOTE_DOUBLE';
      return undefined;
    },
  });
  return header + doc.toString({ lineWidth: 0 });
}
