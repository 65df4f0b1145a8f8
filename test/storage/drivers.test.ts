// The storage driver contract (driver-contract.ts) run against every driver the registry
// registers, each opened the way the registry opens it (by its settings, through openStorage).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStorage } from '../../src/registry/storage/open.js';
import { FilesystemDriver } from '../../src/registry/storage/filesystem/driver.js';
import { S3Driver } from '../../src/registry/storage/s3/driver.js';
import { freshBucket, s3Missing } from '../helpers/s3-store.js';
import { driverContract } from './driver-contract.js';

driverContract('file (a data directory)', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rs-contract-'));
  const driver = await openStorage({ dataDir });
  if (!(driver instanceof FilesystemDriver)) throw new Error('a data directory did not open the filesystem driver');
  return {
    driver,
    reopen: () => openStorage({ dataDir }),
    cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});

// CI installs Ceph; only a machine without it skips the S3 half, and says why.
const s3Skip = process.env.CI ? false : (s3Missing() ?? false);

driverContract(
  's3 (Ceph RGW)',
  async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rs-contract-s3-'));
    // S3's smallest part size, so a few MiB make parts and a tail
    const bucket = await freshBucket(dataDir, { prefix: 'contract', query: 'part-size=5MiB' });
    const config = { dataDir, s3: bucket.settings, s3CredentialsFile: bucket.credentialsFile };
    const driver = await openStorage(config);
    if (!(driver instanceof S3Driver)) throw new Error('an s3:// URL did not open the S3 driver');
    await driver.check();
    return {
      driver,
      reopen: () => openStorage(config),
      cleanup: async () => {
        driver.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
  { skip: s3Skip },
);
