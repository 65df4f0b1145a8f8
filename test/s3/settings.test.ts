import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatStorageUrl, parseCredentials, parseStorageUrl } from '../../src/registry/storage/s3/settings.js';
import { configFromFlags } from '../../src/registry/serve-command.js';

describe('S3 storage settings', () => {
  it('reads bucket, prefix and options from an s3:// URL', () => {
    const s = parseStorageUrl('s3://my-bucket/team/registry/?endpoint=https://rgw.example.com:7480&region=eu-west-1&part-size=32MiB&redirect=true&ca=/etc/ca.pem');
    assert.deepEqual(s, {
      bucket: 'my-bucket',
      prefix: 'team/registry',
      endpoint: 'https://rgw.example.com:7480',
      region: 'eu-west-1',
      pathStyle: true,
      caFile: '/etc/ca.pem',
      partSize: 32 * 1024 * 1024,
      redirect: true,
    });
    assert.equal(parseStorageUrl(formatStorageUrl(s)).partSize, s.partSize);
    assert.deepEqual(parseStorageUrl(formatStorageUrl(s)), s);
    const aws = parseStorageUrl('s3://plain-bucket');
    assert.equal(aws.pathStyle, false);
    assert.equal(aws.prefix, '');
    assert.equal(aws.region, 'us-east-1');
  });

  it('refuses what it cannot use with one specific line', () => {
    const cases: [string, RegExp][] = [
      ['s3://AKIA:secret@bucket', /credentials file/],
      ['s3://Bad_Bucket', /not a valid bucket name/],
      ['gs://bucket', /only s3:\/\//],
      ['s3://bucket?unknown=1', /unknown option "unknown"/],
      ['s3://bucket?part-size=1MiB', /between 5MiB and 5GiB/],
      ['s3://bucket?endpoint=ftp://x', /not like https:\/\/host:port/],
      ['s3://bucket/a//b', /may not contain empty/],
    ];
    for (const [url, re] of cases) assert.throws(() => parseStorageUrl(url), re, url);
  });

  it('reads credentials files in its own and in the AWS spelling', () => {
    assert.deepEqual(parseCredentials('# test\naccess_key_id = AK\nsecret_access_key = "S K"\n', 'f'), { accessKeyId: 'AK', secretAccessKey: 'S K' });
    assert.deepEqual(parseCredentials('[default]\nAWS_ACCESS_KEY_ID=AK\nAWS_SECRET_ACCESS_KEY=SK\n', 'f'), { accessKeyId: 'AK', secretAccessKey: 'SK' });
    assert.throws(() => parseCredentials('access_key_id = AK\n', 'creds'), /creds: needs both/);
    // a malformed line is named by its number, never quoted: it may be the bare secret
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    assert.throws(
      () => parseCredentials(`access_key_id = AK\n${secret}\n`, 'creds'),
      (err: Error) => /^creds: line 2 is not "key = value"/.test(err.message) && !err.message.includes(secret.slice(0, 4)),
    );
  });

  it('serve flags: --storage picks the driver, and S3-only flags need it', () => {
    const c = configFromFlags({ storage: 's3://bkt/p?endpoint=http://127.0.0.1:7480', s3Redirect: true }, {});
    assert.equal(c.s3?.bucket, 'bkt');
    assert.equal(c.s3?.redirect, true);
    assert.equal(configFromFlags({ storage: '/srv/data' }, {}).dataDir, '/srv/data');
    assert.equal(configFromFlags({ storage: '/srv/data' }, {}).s3, undefined);
    assert.throws(() => configFromFlags({ s3Redirect: true }, {}), /--s3-redirect needs --storage/);
    assert.throws(() => configFromFlags({ s3Credentials: '/x' }, {}), /--s3-credentials needs --storage/);
    assert.equal(configFromFlags({}, { REGISTRY_STORAGE_URL: 's3://from-env' }).s3?.bucket, 'from-env');
  });
});

describe('serve --s3-credentials -', () => {
  it('reads the credentials from stdin, and a bad store is one line without a stack', async () => {
    const { spawnSync } = await import('node:child_process');
    const main = new URL('../../src/registry/main.ts', import.meta.url).pathname;
    const run = (input: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', main, 'serve', '--port', '0', '--storage', 's3://bucket?endpoint=http://127.0.0.1:9', '--s3-credentials', '-'], {
        input,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const incomplete = run('access_key_id = only-this\n');
    assert.equal(incomplete.status, 1);
    assert.equal(incomplete.stderr.trim(), 'registry: stdin: needs both access_key_id and secret_access_key');
    const unreachable = run('access_key_id = a\nsecret_access_key = b\n');
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr.trim(), /^registry: s3:\/\/bucket\?endpoint=http:\/\/127\.0\.0\.1:9: cannot reach the endpoint \(ECONNREFUSED\)$/);
    assert.doesNotMatch(unreachable.stderr, /secret|\bb\b.*\bat\b/);
  });
});
