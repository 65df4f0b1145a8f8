// One Ceph RGW per test process, and a fresh bucket for every registry a test starts.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { parseStorageUrl, type S3Settings } from '../../src/registry/storage/s3/settings.js';
import { rgwAvailable, rgwClient, startRgw, type Rgw } from './rgw.js';

let shared: Promise<Rgw> | undefined;

// Registered when the test file imports this module, so it runs after the file's last test
// (the daemons would otherwise keep the test process alive).
after(async () => {
  if (shared) await (await shared.catch(() => null))?.stop();
});

export type StorageKind = 'filesystem' | 's3';

/** Every storage driver the registry tests run against (RGW is installed by .ci/run). */
export function storageKinds(): StorageKind[] {
  return rgwAvailable() === null ? ['filesystem', 's3'] : ['filesystem'];
}

/** Why S3 variants are missing on this machine, for a skip message; null when they run. */
export function s3Missing(): string | null {
  return rgwAvailable();
}

export function sharedRgw(): Promise<Rgw> {
  shared ??= startRgw();
  return shared;
}

export const s3Client = rgwClient;

export interface TestBucket {
  rgw: Rgw;
  bucket: string;
  settings: S3Settings;
  /** `s3://bucket/prefix?endpoint=…` */
  url: string;
  /** a credentials file in the registry's format (mode 0600) */
  credentialsFile: string;
}

/** A new empty bucket on the shared RGW; `dir` receives the credentials file. */
export async function freshBucket(dir: string, opts: { prefix?: string; query?: string } = {}): Promise<TestBucket> {
  const rgw = await sharedRgw();
  const bucket = `test-${randomBytes(6).toString('hex')}`;
  const client = s3Client(rgw);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  const credentialsFile = path.join(dir, `s3-credentials-${bucket}`);
  writeFileSync(credentialsFile, `access_key_id = ${rgw.accessKey}\nsecret_access_key = ${rgw.secretKey}\n`, { mode: 0o600 });
  const url = `s3://${bucket}${opts.prefix ? `/${opts.prefix}` : ''}?endpoint=${rgw.endpoint}${opts.query ? `&${opts.query}` : ''}`;
  return { rgw, bucket, settings: parseStorageUrl(url), url, credentialsFile };
}

/** Two in-process registries on one fresh bucket sharing an upload secret, as replicas behind one name. */
export async function startReplicaPair<R>(
  dir: string,
  start: (config: { s3: S3Settings; s3CredentialsFile: string; uploadSecret: string }) => Promise<R>,
  opts: { prefix?: string; query?: string } = {},
): Promise<{ bucket: TestBucket; a: R; b: R }> {
  const bucket = await freshBucket(dir, opts);
  const shared = { s3: bucket.settings, s3CredentialsFile: bucket.credentialsFile, uploadSecret: 'replicas-share-this-secret' };
  return { bucket, a: await start(shared), b: await start(shared) };
}
