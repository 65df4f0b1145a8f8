import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CONFIG, type RegistryConfig } from '../../src/registry/config.js';
import { startRegistry, type RunningRegistry } from '../../src/registry/server.js';
import { freshBucket, type StorageKind } from '../helpers/s3-store.js';

export { storageKinds, type StorageKind } from '../helpers/s3-store.js';

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** RequestInit that also takes a Buffer body (Node's fetch does; its types lag). */
export type TestInit = Omit<RequestInit, 'body'> & { body?: BodyInit | Buffer | null };

export interface TestRegistry {
  url: string;
  dataDir: string;
  running: RunningRegistry;
  logs: string[];
  /** The access log: one JSON line per finished request. */
  accessLines: string[];
  storage: StorageKind;
  /** the registry's settings, to start a second registry over the same data */
  config: RegistryConfig;
  /** A stored file (`blobs/…`, `repositories/…`) read through the storage driver, or null. */
  stored(p: string): Promise<Buffer | null>;
  listStored(dir: string): Promise<string[]>;
  /** fetch relative to the registry, with optional default headers (e.g. Authorization). */
  fetch(pathname: string, init?: TestInit): Promise<Response>;
  close(): Promise<void>;
}

/** An upstream registry and a second one mirroring it under `up.example` (5 s upstream timeout). */
export async function startMirrorPair(): Promise<{ upstream: TestRegistry; mirror: TestRegistry }> {
  const upstream = await startTestRegistry();
  try {
    return { upstream, mirror: await startTestRegistry({ mirrors: [{ prefix: 'up.example', url: upstream.url }], mirrorTimeoutMs: 5_000 }) };
  } catch (err) {
    await upstream.close();
    throw err;
  }
}

/**
 * An in-process registry on a free loopback port with its own temporary data directory, or with
 * `storage: 's3'` its own bucket on the shared RGW (and an upload secret, as deployments have).
 */
export async function startTestRegistry(
  overrides: Partial<RegistryConfig> = {},
  headers: Record<string, string> = {},
  storage: StorageKind = overrides.s3 ? 's3' : 'filesystem',
): Promise<TestRegistry> {
  const dataDir = overrides.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'rs-data-'));
  const s3 =
    storage === 's3' && !overrides.s3
      ? await freshBucket(dataDir).then((b) => ({ s3: b.settings, s3CredentialsFile: b.credentialsFile, uploadSecret: 'test-upload-secret-0123456789' }))
      : {};
  const logs: string[] = [];
  const accessLines: string[] = [];
  const config = { ...DEFAULT_CONFIG, port: 0, shutdownGraceMs: 5000, ...s3, ...overrides, dataDir };
  const running = await startRegistry(config, (l) => logs.push(l), { accessLog: (l) => accessLines.push(l) });
  const driver = running.registry.driver;
  return {
    url: running.url,
    dataDir,
    running,
    logs,
    accessLines,
    storage,
    config,
    stored: (p) => driver.getContent(p),
    listStored: (dir) => driver.list(dir),
    fetch: (pathname, init = {}) =>
      fetch(running.url + pathname, {
        ...init,
        body: init.body as BodyInit | null | undefined,
        headers: { ...headers, ...(init.headers as Record<string, string>) },
        redirect: 'manual',
      }),
    close: async () => {
      await running.close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

/** Monolithic push of a blob (POST then PUT with the body); returns its digest. */
export async function pushBlob(reg: TestRegistry, name: string, data: Buffer | string): Promise<string> {
  const digest = sha256(data);
  const post = await reg.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`POST upload: ${post.status} ${await post.text()}`);
  const location = post.headers.get('location')!;
  const sep = location.includes('?') ? '&' : '?';
  const put = await reg.fetch(`${location}${sep}digest=${digest}`, {
    method: 'PUT',
    body: data,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`PUT upload: ${put.status} ${await put.text()}`);
  return digest;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Pushes config + layers and an image manifest referring to them; returns the manifest's bytes and digest. */
export async function pushImage(
  reg: TestRegistry,
  name: string,
  ref: string,
  opts: { layers?: string[]; mediaType?: string; extra?: Record<string, unknown>; configMediaType?: string } = {},
): Promise<{ digest: string; bytes: Buffer; layers: string[]; config: string }> {
  const mediaType = opts.mediaType ?? OCI_MANIFEST;
  const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, ref });
  const config = await pushBlob(reg, name, configBody);
  const layerBodies = opts.layers ?? [`layer of ${name}:${ref}`];
  const layers = [];
  for (const l of layerBodies) layers.push(await pushBlob(reg, name, l));
  const docker = mediaType === DOCKER_MANIFEST;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: opts.configMediaType ?? (docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json'),
      digest: config,
      size: Buffer.byteLength(configBody),
    },
    layers: layers.map((d, i) => ({
      mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: d,
      size: Buffer.byteLength(layerBodies[i]!),
    })),
    ...opts.extra,
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2));
  const res = await reg.fetch(`/v2/${name}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': mediaType } });
  if (res.status !== 201) throw new Error(`PUT manifest: ${res.status} ${await res.text()}`);
  return { digest: sha256(bytes), bytes, layers, config };
}

/** A request whose path is sent exactly as given (fetch would normalise `..` and `%2e`). */
export function rawRequest(reg: TestRegistry, method: string, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(reg.url);
    const req = http.request({ host: u.hostname, port: u.port, method, path: rawPath, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
