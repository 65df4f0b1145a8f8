// Registries with content for the web UI tests: htpasswd users, images with real-looking configs,
// a multi-arch index, an SBOM artifact whose subject is an image, and many repositories made
// cheaply by writing the registry's files directly.
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import type { RegistryConfig } from '../../src/registry/config.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, sha256, startTestRegistry, type TestRegistry } from '../registry/harness.js';

export const USER = 'alice';
export const PASSWORD = 'wonderland-7';
export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export interface UiRegistry extends TestRegistry {
  /** The htpasswd file (absent without auth). */
  htpasswd?: string;
}

/**
 * A temporary directory in memory (/dev/shm) when there is one: creating and removing tens of
 * thousands of small files on a disk mounted with `discard` takes minutes, on tmpfs seconds.
 */
export function fastTempDir(prefix: string): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    if (statfsSync('/dev/shm').bavail * statfsSync('/dev/shm').bsize > 1 << 30) return mkdtempSync(path.join('/dev/shm', prefix));
  } catch {
    // no usable tmpfs: the ordinary temp dir
  }
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A registry on a free port; with `auth`, alice (and bob) can sign in, and `fetch` sends alice's
 * Basic credentials. `fastDisk` puts the data directory in memory (for many-file fixtures).
 */
export async function startUiRegistry(opts: { auth?: boolean; config?: Partial<RegistryConfig>; fastDisk?: boolean } = {}): Promise<UiRegistry> {
  const dir = opts.fastDisk ? fastTempDir('rs-ui-') : opts.auth ? mkdtempSync(path.join(os.tmpdir(), 'rs-ui-')) : undefined;
  const config: Partial<RegistryConfig> = { ...opts.config };
  let headers: Record<string, string> = {};
  if (opts.auth) {
    config.htpasswd = path.join(dir!, 'htpasswd');
    writeFileSync(config.htpasswd, `${USER}:${bcrypt.hashSync(PASSWORD, 5)}\nbob:${bcrypt.hashSync('builder-9', 5)}\n`);
    headers = { Authorization: basic(USER, PASSWORD) };
  }
  if (opts.fastDisk) config.dataDir = path.join(dir!, 'data');
  const reg = await startTestRegistry(config, headers);
  return {
    ...reg,
    htpasswd: config.htpasswd,
    close: async () => {
      await reg.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ImageSpec {
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  labels?: Record<string, string>;
  exposedPorts?: string[];
  layers?: string[];
}

export interface Pushed {
  digest: string;
  size: number;
  configDigest: string;
  configSize: number;
  layers: { digest: string; size: number }[];
}

async function putManifest(reg: TestRegistry, name: string, ref: string, mediaType: string, doc: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const res = await reg.fetch(`/v2/${name}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': mediaType } });
  if (res.status !== 201) throw new Error(`PUT ${name}:${ref}: ${res.status} ${await res.text()}`);
  return { digest: sha256(bytes), size: bytes.length };
}

/** An OCI image with an image config as `docker build` writes it. `ref` is a tag, or '' to push by digest. */
export async function pushImageWithConfig(reg: TestRegistry, name: string, ref: string, spec: ImageSpec = {}): Promise<Pushed> {
  const config = Buffer.from(
    JSON.stringify({
      created: spec.created ?? '2024-05-01T12:00:00Z',
      architecture: spec.architecture ?? 'amd64',
      os: spec.os ?? 'linux',
      ...(spec.variant ? { variant: spec.variant } : {}),
      config: {
        Entrypoint: spec.entrypoint,
        Cmd: spec.cmd,
        Env: spec.env,
        Labels: spec.labels,
        ExposedPorts: spec.exposedPorts ? Object.fromEntries(spec.exposedPorts.map((p) => [p, {}])) : undefined,
        WorkingDir: '/app',
      },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const configDigest = await pushBlob(reg, name, config);
  const layers = [];
  for (const body of spec.layers ?? [`layer of ${name}:${ref} ${spec.architecture ?? 'amd64'}`]) {
    layers.push({ digest: await pushBlob(reg, name, body), size: Buffer.byteLength(body) });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  };
  const { digest, size } = await putManifest(reg, name, ref || sha256(Buffer.from(JSON.stringify(manifest))), OCI_MANIFEST, manifest);
  return { digest, size, configDigest, configSize: config.length, layers };
}

/** A multi-arch index over freshly pushed linux/amd64 and linux/arm64/v8 images. */
export async function pushIndex(reg: TestRegistry, name: string, tag: string): Promise<{ digest: string; children: Pushed[] }> {
  const amd = await pushImageWithConfig(reg, name, '', { architecture: 'amd64', created: '2024-06-01T08:00:00Z', layers: ['amd64 base layer', 'amd64 app'] });
  const arm = await pushImageWithConfig(reg, name, '', {
    architecture: 'arm64',
    variant: 'v8',
    created: '2024-06-02T09:30:00Z',
    layers: ['arm64 base layer', 'arm64 app layer'],
  });
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.size, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  };
  const { digest } = await putManifest(reg, name, tag, OCI_INDEX, index);
  return { digest, children: [amd, arm] };
}

export const SBOM_TYPE = 'application/spdx+json';

/** An SBOM artifact (empty config, one JSON layer) whose subject is `subject`; pushed by digest, untagged. */
export async function pushSbom(reg: TestRegistry, name: string, subject: { digest: string; size: number }): Promise<string> {
  const empty = await pushBlob(reg, name, '{}');
  const sbom = JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'sbom' });
  const layer = await pushBlob(reg, name, sbom);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SBOM_TYPE,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
    layers: [{ mediaType: SBOM_TYPE, digest: layer, size: Buffer.byteLength(sbom) }],
    subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
    annotations: { 'org.opencontainers.image.created': '2024-05-02T10:00:00Z' },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return (await putManifest(reg, name, sha256(bytes), OCI_MANIFEST, manifest)).digest;
}

/**
 * `count` repositories named by `nameOf(i)`, each with the tag `v1` pointing at one shared image
 * (so each has a size): written straight into the data directory, thousands per second.
 */
export function writeManyRepositories(dataDir: string, count: number, nameOf: (i: number) => string): { digest: string; size: number } {
  const root = path.join(dataDir, 'docker/registry/v2');
  const put = (p: string, data: string | Buffer) => {
    mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    writeFileSync(path.join(root, p), data);
  };
  const blobPath = (digest: string) => `blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: {} }));
  const layer = Buffer.alloc(1000, 7);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  const digest = sha256(manifest);
  for (const b of [config, layer, manifest]) put(blobPath(sha256(b)), b);
  for (let i = 0; i < count; i++) {
    const repo = `repositories/${nameOf(i)}/_manifests`;
    put(`${repo}/revisions/sha256/${digest.slice(7)}/link`, digest);
    put(`${repo}/tags/v1/current/link`, digest);
  }
  return { digest, size: config.length + layer.length };
}
