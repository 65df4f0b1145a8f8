// Templates and compose.yaml: placeholder rules, nginx.conf validated by a real nginx (`nginx -t`,
// on the host with paths redirected, and inside the stand-in nginx image with the real mounts,
// user and read-only root), compose.yaml validated by `docker-compose config` (v1.29).
// Compose v2 (the `docker compose` plugin) is not installed on this machine, so the file is not
// checked with v2 here; it avoids everything v2 rejects or warns about (no `version:` key).
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  CONTAINER_PATHS,
  TemplateError,
  buildCompose,
  buildDockerfile,
  buildNginxConf,
  composeDocument,
  renderString,
  renderTemplate,
  storageForContainer,
  templatesDir,
} from '../../src/templates/render.js';
import { selfSignedOpensslArgv } from '../../src/provision/index.js';
import { run } from '../helpers/exec.js';
import { ensureNginxImage } from '../helpers/standin-images.js';
import { TempDirs } from '../helpers/tmp.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

async function have(cmd: string, args: string[]): Promise<boolean> {
  return run(cmd, args, { allowFailure: true, timeoutMs: 30_000 }).then(
    (r) => r.code === 0,
    () => false,
  );
}
const hasNginx = await have('/usr/sbin/nginx', ['-v']);
const hasCompose = await have('docker-compose', ['version', '--short']);
const hasDocker = await have('docker', ['info', '--format', '{{.ServerVersion}}']);
const isRoot = process.getuid?.() === 0;
const need = (ok: boolean, what: string): string | false => (ok ? false : process.env.CI ? false : `${what} is not available`);

async function throwawayCert(dir: string, domain: string): Promise<void> {
  const argv = selfSignedOpensslArgv(domain, { certificate: join(dir, 'fullchain.pem'), privateKey: join(dir, 'privkey.pem') }, 2);
  await run(argv[0]!, argv.slice(1));
}

describe('renderString', () => {
  test('replaces placeholders in one pass', () => {
    assert.equal(renderString('a {{x}} b {{ y }} {{x}}', { x: '{{y}}', y: 2 }), 'a {{y}} b 2 {{y}}');
  });
  test('a placeholder without a value throws', () => {
    assert.throws(() => renderString('{{a}} {{b}}', { a: 1 }, 't'), (e: unknown) => e instanceof TemplateError && /t: no value for placeholder \{\{b\}\}/.test(e.message));
  });
  test('a value the template does not use throws', () => {
    assert.throws(() => renderString('{{a}}', { a: 1, typo: 2 }), /unknown placeholder\(s\) \{\{typo\}\}/);
  });
  test('a malformed placeholder throws', () => {
    assert.throws(() => renderString('{{a-b}}', {}), /malformed placeholder/);
    assert.throws(() => renderString('{{}}', {}), /malformed placeholder/);
  });
  test('templates are found and each renders with exactly its values', () => {
    assert.match(templatesDir(), /templates$/);
    assert.throws(() => renderTemplate('Dockerfile.tmpl', {}), /no value for placeholder/);
    assert.throws(() => renderTemplate('../package.json', {}), /bad template name/);
  });
});

const base = { domain: 'registry.example.com', httpsPort: 443 };
/** nginx.conf without its comments */
const code = (conf: string): string => conf.split('\n').map((l) => l.replace(/#.*$/, '')).join('\n');

describe('nginx.conf', () => {
  test('https mode has the settings that matter', () => {
    const conf = buildNginxConf({ mode: 'https', ...base });
    for (const line of [
      'pid /tmp/nginx.pid;',
      'client_body_temp_path /tmp/client_temp;',
      'proxy_temp_path /tmp/proxy_temp;',
      'fastcgi_temp_path /tmp/fastcgi_temp;',
      'uwsgi_temp_path /tmp/uwsgi_temp;',
      'scgi_temp_path /tmp/scgi_temp;',
      'listen 8080;',
      'listen 8443 ssl;',
      'server_name registry.example.com;',
      'ssl_certificate /etc/registry-setup/tls/fullchain.pem;',
      'ssl_certificate_key /etc/registry-setup/tls/privkey.pem;',
      'ssl_protocols TLSv1.2 TLSv1.3;',
      'client_max_body_size 0;',
      'proxy_request_buffering off;',
      'proxy_buffering off;',
      'proxy_http_version 1.1;',
      'proxy_read_timeout 900s;',
      'proxy_send_timeout 900s;',
      'proxy_set_header X-Forwarded-Proto $scheme;',
      'proxy_set_header Host $http_host;',
      'proxy_set_header X-Real-IP $remote_addr;',
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'proxy_hide_header Docker-Distribution-Api-Version;',
      'add_header Docker-Distribution-Api-Version registry/2.0 always;',
      'resolver 127.0.0.11 valid=10s ipv6=off;',
      // kept-alive connections to the registry; the by-name lookup as the backup
      'upstream registry_upstream {',
      'server registry:5000 max_fails=1 fail_timeout=10s;',
      'server 127.0.0.1:8081 backup;',
      'keepalive 32;',
      'proxy_pass http://registry_upstream;',
      'listen 127.0.0.1:8081;',
      'set $registry_by_name http://registry:5000;',
      'proxy_pass $registry_by_name;',
      'proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;',
      'proxy_buffer_size 64k;',
      'client_body_buffer_size 256k;',
      'root /var/www/acme;',
      'location ^~ /.well-known/acme-challenge/ {',
      'return 301 https://$host$request_uri;',
    ]) {
      assert.ok(conf.split('\n').some((l) => l.trim() === line), `missing: ${line}\n${conf}`);
    }
    assert.doesNotMatch(code(conf), /http2/);
    assert.doesNotMatch(code(conf), /^\s*user\s/m, 'no user directive: nginx does not run as root');
    assert.doesNotMatch(conf, /\{\{|\}\}/);
    assert.doesNotMatch(conf, /_registry_blob_bytes/, 'no blob location unless nginx has the data directory');
  });

  test('with the data directory: an internal location sends blob bytes the registry names', () => {
    const conf = buildNginxConf({ mode: 'https', ...base, blobBytesDir: '/var/lib/registry' });
    const block = conf.slice(conf.indexOf('location ^~ /_registry_blob_bytes/ {'));
    for (const line of ['internal;', 'alias /var/lib/registry/;', 'sendfile on;', 'etag off;', 'add_header Docker-Content-Digest $upstream_http_docker_content_digest;', 'add_header ETag $upstream_http_etag;', 'error_page 404 = @blob_unknown;']) {
      assert.ok(block.split('\n').some((l) => l.trim() === line), `missing: ${line}\n${block}`);
    }
    assert.throws(() => buildNginxConf({ mode: 'https', ...base, blobBytesDir: 'relative' }), /absolute path/);
  });

  test('the redirect carries the public https port when it is not 443', () => {
    assert.match(buildNginxConf({ mode: 'https', ...base, httpsPort: 8443 }), /return 301 https:\/\/\$host:8443\$request_uri;/);
  });

  test('http-only mode: challenges and 503, no TLS', () => {
    const conf = buildNginxConf({ mode: 'http-only', ...base });
    assert.match(conf, /listen 8080;/);
    assert.match(conf, /location \^~ \/\.well-known\/acme-challenge\//);
    assert.match(conf, /return 503 /);
    assert.doesNotMatch(code(conf), /ssl|8443|return 301|proxy_pass/);
  });

  test('refuses values that could change the file structure', () => {
    // the domain and the HTTPS port are settings, refused by the settings (test/settings/rules.test.ts)
    assert.throws(() => buildNginxConf({ mode: 'https', ...base, listen: { http: 0 } }), /not a port number/);
    assert.throws(() => buildNginxConf({ mode: 'https', ...base, paths: { tlsDir: '/x y' } }), /absolute path/);
  });

  test('passes nginx -t on the host (paths redirected to a temp dir)', { skip: need(hasNginx, '/usr/sbin/nginx') }, async () => {
    for (const mode of ['https', 'http-only'] as const) {
      const dir = await tmp.make('rs-nginx-t-');
      await mkdir(join(dir, 'tls'));
      await mkdir(join(dir, 'webroot'));
      await mkdir(join(dir, 'temp'));
      await throwawayCert(join(dir, 'tls'), base.domain);
      // the registry's name is looked up when nginx loads the file: here it is this machine
      const conf = buildNginxConf({ mode, ...base, paths: { tlsDir: join(dir, 'tls'), webroot: join(dir, 'webroot'), tempDir: join(dir, 'temp') }, upstream: { host: '127.0.0.1' }, blobBytesDir: dir });
      await writeFile(join(dir, 'nginx.conf'), conf);
      // stdout to a file: nginx opens /dev/stdout for the access log, which fails on the socket node gives it
      const r = await run('sh', ['-c', 'exec /usr/sbin/nginx -t -c "$1" >"$2"', 'sh', join(dir, 'nginx.conf'), join(dir, 'stdout')], { allowFailure: true });
      assert.equal(r.code, 0, `nginx -t (${mode}) failed:\n${r.stderr}`);
      assert.match(r.stderr, /test is successful/);
    }
  });

  test(
    'passes nginx -t inside the stand-in nginx image as uid 101 on a read-only root',
    { skip: need(hasDocker && isRoot, 'a docker engine (as root)'), timeout: 300_000 },
    async () => {
      const image = await ensureNginxImage();
      for (const mode of ['https', 'http-only'] as const) {
        const dir = await tmp.make('rs-nginx-ct-');
        for (const d of ['nginx', 'tls', 'webroot']) await mkdir(join(dir, d));
        await throwawayCert(join(dir, 'tls'), base.domain);
        await chown(join(dir, 'tls', 'privkey.pem'), 101, 101);
        await chmod(join(dir, 'tls', 'privkey.pem'), 0o600);
        await writeFile(join(dir, 'nginx', 'nginx.conf'), buildNginxConf({ mode, ...base, blobBytesDir: CONTAINER_PATHS.data }), { mode: 0o644 });
        const r = await run(
          'docker',
          [
            'run', '--rm', '--read-only', '--user', '101:101', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true',
            '--tmpfs', '/tmp:size=64m,mode=1777', '--network', 'none', '--add-host', 'registry:127.0.0.1',
            '-v', `${join(dir, 'nginx')}:${CONTAINER_PATHS.nginxConfDir}:ro`,
            '-v', `${join(dir, 'tls')}:${CONTAINER_PATHS.tlsDir}:ro`,
            '-v', `${join(dir, 'webroot')}:${CONTAINER_PATHS.webroot}:ro`,
            image, 'nginx', '-t', '-c', CONTAINER_PATHS.nginxConf,
          ],
          { allowFailure: true, timeoutMs: 120_000 },
        );
        assert.equal(r.code, 0, `nginx -t in the container (${mode}) failed:\n${r.stderr}`);
        assert.match(r.stderr, /test is successful/);
      }
    },
  );
});

const composeSettings = { dataDir: '/srv/registry-data', httpPort: 80, httpsPort: 443, nginxImage: 'nginx:1.27-alpine' };

describe('compose.yaml', () => {
  test('the services as specified', () => {
    const doc = parse(buildCompose(composeSettings, { version: '1.2.3', auth: true }));
    assert.equal(doc.version, undefined, 'no version key');
    assert.equal(doc.name, undefined, 'no name key (compose v1 rejects it)');
    const { registry, nginx } = doc.services;
    assert.deepEqual(registry.build, { context: './build' });
    assert.equal(registry.image, 'registry-setup/registry:1.2.3');
    assert.equal(registry.user, '1000:1000');
    assert.equal(registry.read_only, true);
    assert.deepEqual(registry.security_opt, ['no-new-privileges:true']);
    assert.deepEqual(registry.cap_drop, ['ALL']);
    assert.deepEqual(registry.tmpfs, ['/tmp:size=64m,mode=1777']);
    assert.equal(registry.ports, undefined, 'the registry publishes no port');
    assert.deepEqual(registry.environment, {
      REGISTRY_HTTP_ADDR: '0.0.0.0:5000',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/registry',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_HTTP_SECRETFILE: '/etc/registry-setup/upload-secret',
      REGISTRY_HTTP_ACCELREDIRECT: '/_registry_blob_bytes/',
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_PATH: '/etc/registry-setup/auth/htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
      // CI tokens on every deployment with users (with or without access:)
      REGISTRY_AUTH_TOKENS_PATH: '/etc/registry-setup/auth/tokens.yaml',
      REGISTRY_AUTH_TOKENS_USAGEPATH: '/var/lib/registry-setup/state/tokens-usage.json',
      // access-log client addresses from nginx, state records in metrics, metrics on the compose network
      REGISTRY_HTTP_TRUSTPROXY: 'true',
      REGISTRY_STATE_DIRECTORY: '/var/lib/registry-setup/state',
      REGISTRY_METRICS_ADDR: '0.0.0.0:5001',
    });
    assert.deepEqual(registry.volumes, [
      '/srv/registry-data:/var/lib/registry',
      './auth:/etc/registry-setup/auth:ro',
      './state:/var/lib/registry-setup/state',
      './upload-secret:/etc/registry-setup/upload-secret:ro',
    ]);
    assert.deepEqual(registry.healthcheck.test, ['CMD', 'node', '/app/registry.mjs', 'healthcheck']);
    assert.equal(registry.restart, 'unless-stopped');

    assert.equal(nginx.image, 'nginx:1.27-alpine');
    assert.equal(nginx.user, '101:101');
    assert.equal(nginx.read_only, true);
    assert.deepEqual(nginx.cap_drop, ['ALL']);
    assert.deepEqual(nginx.command, ['nginx', '-c', '/etc/registry-setup/nginx/nginx.conf', '-g', 'daemon off;']);
    // the data directory read-only, for the blob bytes nginx sends itself; its group for the 0750 directory
    assert.deepEqual(nginx.volumes, ['./nginx:/etc/registry-setup/nginx:ro', './tls:/etc/registry-setup/tls:ro', './webroot:/var/www/acme:ro', '/srv/registry-data:/var/lib/registry:ro']);
    assert.deepEqual(nginx.group_add, ['1000']);
    assert.deepEqual(nginx.ports, ['80:8080', '443:8443']);
    assert.deepEqual(nginx.depends_on, ['registry']);
    assert.equal(nginx.restart, 'unless-stopped');
    assert.equal(doc.services.renew, undefined, 'no renew service without Let\'s Encrypt');
  });

  test("with Let's Encrypt: a renew service that up never starts, root with three capabilities, no ports", () => {
    const { renew, registry } = parse(buildCompose({ ...composeSettings, tls: 'letsencrypt' }, { version: '1.2.3', auth: true })).services;
    assert.equal(renew.image, registry.image, 'the image the registry service builds');
    assert.equal(renew.build, undefined);
    assert.deepEqual(renew.profiles, ['renew']);
    assert.equal(renew.user, '0:0');
    assert.equal(renew.read_only, true);
    assert.deepEqual(renew.security_opt, ['no-new-privileges:true']);
    assert.deepEqual(renew.cap_drop, ['ALL']);
    // nginx's private key is 0600 uid 101, state/ belongs to the registry, acme/ to root
    assert.deepEqual(renew.cap_add, ['CHOWN', 'DAC_OVERRIDE', 'FOWNER']);
    assert.deepEqual(renew.volumes, ['./acme:/acme', './tls:/tls', './webroot:/webroot', './state:/state']);
    assert.equal(renew.ports, undefined);
    assert.equal(renew.restart, undefined);
  });

  test('without auth, no htpasswd variables or mount; publish address and quoting', () => {
    const text = buildCompose({ ...composeSettings, httpPort: 22, httpsPort: 23 }, { version: '1.2.3', auth: false, publishAddress: '127.0.0.1' });
    const doc = parse(text);
    assert.equal(doc.services.registry.environment.REGISTRY_AUTH, undefined);
    assert.deepEqual(doc.services.registry.volumes, ['/srv/registry-data:/var/lib/registry', './state:/var/lib/registry-setup/state', './upload-secret:/etc/registry-setup/upload-secret:ro']);
    assert.deepEqual(doc.services.nginx.ports, ['127.0.0.1:22:8080', '127.0.0.1:23:8443']);
    // compose v1 reads YAML 1.1, where an unquoted 22:22-like value is a base-60 number
    assert.match(text, /- "127\.0\.0\.1:22:8080"/);
    assert.match(text, /user: "1000:1000"/);
    assert.doesNotMatch(text, /&a\d|\*a\d/, 'no YAML anchors');
  });

  test('with a bucket: the storage URL, read-only credentials and secret, no data directory, in nginx neither', () => {
    const storage = 's3://images/team?endpoint=https://s3.internal:9000&ca=/home/me/s3-ca.pem&region=eu-1';
    const text = buildCompose({ ...composeSettings, storage, composeProject: 'rs-a' }, { version: '1.2.3', auth: true });
    const doc = parse(text);
    const { registry, nginx } = doc.services;
    const filesystem = parse(buildCompose(composeSettings, { version: '1.2.3', auth: true })).services;
    const { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: _data, REGISTRY_HTTP_ACCELREDIRECT: _accel, ...sameEnv } = filesystem.registry.environment;
    assert.deepEqual(registry.environment, {
      ...sameEnv,
      REGISTRY_STORAGE_URL: 's3://images/team?endpoint=https://s3.internal:9000&ca=/etc/registry-setup/s3-ca.pem&region=eu-1',
      REGISTRY_STORAGE_S3_CREDENTIALSFILE: '/etc/registry-setup/s3-credentials',
    });
    assert.ok(sameEnv.REGISTRY_HTTP_SECRETFILE, 'upload URLs are signed with and without a bucket');
    assert.deepEqual(registry.volumes, [
      './s3-credentials:/etc/registry-setup/s3-credentials:ro',
      './s3-ca.pem:/etc/registry-setup/s3-ca.pem:ro',
      ...filesystem.registry.volumes.filter((v: string) => !v.startsWith('/srv/registry-data:')),
    ]);
    assert.ok(!JSON.stringify(registry).includes('/srv/registry-data'), 'no data directory');
    // everything else as without a bucket: non-root, read-only, no capabilities, only nginx publishes
    const rest = (svc: Record<string, unknown>) => ({ ...svc, environment: undefined, volumes: undefined });
    assert.deepEqual(rest(registry), rest(filesystem.registry));
    // nginx: the same, but without the data directory (the registry sends blob bytes from the bucket)
    const { volumes: fsVolumes, group_add: _group, ...fsNginx } = filesystem.nginx;
    assert.deepEqual({ ...nginx, volumes: undefined }, { ...fsNginx, volumes: undefined });
    assert.deepEqual(nginx.volumes, fsVolumes.filter((v: string) => !v.startsWith('/srv/registry-data:')));
    assert.equal(doc['x-registry-setup'].project, 'rs-a');
    assert.match(text, /^# Run compose with the project name: -p rs-a$/m);
    // without ca= the URL passes through untouched, and there is no CA mount
    const plain = parse(buildCompose({ ...composeSettings, storage: 's3://images' }, { version: '1', auth: true })).services.registry;
    assert.equal(plain.environment.REGISTRY_STORAGE_URL, 's3://images');
    assert.ok(!plain.volumes.some((v: string) => v.includes('s3-ca')));
  });

  test('storageForContainer rewrites only ca=', () => {
    assert.deepEqual(storageForContainer('s3://b/p?ca=%2Fx%2Fca.pem&endpoint=http://h:1'), { url: 's3://b/p?ca=/etc/registry-setup/s3-ca.pem&endpoint=http://h:1', caFile: '/x/ca.pem' });
    assert.deepEqual(storageForContainer('s3://b?region=x'), { url: 's3://b?region=x' });
    // what compose would interpolate is refused by the settings (test/settings/rules.test.ts)
  });

  test('takes a checked publish address as given: the settings refuse a bad one', () => {
    // data directory, ports, images and the publish address (deploy's settings and upgrade's flag)
    // are refused by the settings, the version by cliVersion (test/settings/rules.test.ts,
    // test/cli/errors.test.ts, test/ops/ops.test.ts): the renderer does not check them again
    const nginx = (composeDocument(composeSettings, { version: '1', auth: true, publishAddress: '[::1]' }).services as Record<string, { ports: string[] }>).nginx;
    assert.deepEqual(nginx.ports, ['[::1]:80:8080', '[::1]:443:8443']);
  });

  test('passes docker-compose (v1.29) config, with and without auth, with a bucket', { skip: need(hasCompose, 'docker-compose') }, async () => {
    for (const auth of [true, false]) {
      const dir = await tmp.make('rs-compose-');
      const file = join(dir, 'compose.yaml');
      await mkdir(join(dir, 'build')); // v1 checks that the build context exists
      const storage = auth ? undefined : 's3://images/p?endpoint=http://172.17.0.1:7480&ca=/tmp/ca.pem';
      await writeFile(file, buildCompose({ ...composeSettings, storage, tls: auth ? 'letsencrypt' : 'self-signed' }, { version: '0.1.0', auth, publishAddress: auth ? undefined : '127.0.0.1' }));
      const r = await run('docker-compose', ['-p', 'registry-setup', '-f', file, 'config'], { allowFailure: true, timeoutMs: 60_000 });
      assert.equal(r.code, 0, `docker-compose config failed:\n${r.stderr}`);
      assert.equal(r.stderr.trim(), '', 'no warnings');
      const resolved = parse(r.stdout);
      assert.deepEqual(resolved.services.nginx.volumes.map((v: string) => v.split(':')[0]), [...['nginx', 'tls', 'webroot'].map((d) => join(dir, d)), ...(storage ? [] : [composeSettings.dataDir])]);
      // v1 prints ports as `{published, target}` or as `addr:published:target/tcp`
      const ports = JSON.stringify(resolved.services.nginx.ports);
      for (const re of auth ? [/"published":80,"target":8080/, /"published":443,"target":8443/] : [/"127\.0\.0\.1:80:8080\/tcp"/, /"127\.0\.0\.1:443:8443\/tcp"/]) assert.match(ports, re);
      assert.deepEqual(resolved.services.nginx.command, ['nginx', '-c', '/etc/registry-setup/nginx/nginx.conf', '-g', 'daemon off;']);
      assert.equal(resolved.services.registry.user, '1000:1000');
      assert.deepEqual(resolved.services.renew?.cap_add, auth ? ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'] : undefined);
      if (storage) assert.equal(resolved.services.registry.environment.REGISTRY_STORAGE_URL, 's3://images/p?endpoint=http://172.17.0.1:7480&ca=/etc/registry-setup/s3-ca.pem');
    }
  });
});

describe('Dockerfile', () => {
  test('FROM the node image, bundle in /app, uid 1000, version label', () => {
    const text = buildDockerfile({ nodeImage: 'node:22-bookworm-slim' }, '0.1.0');
    assert.match(text, /^FROM node:22-bookworm-slim$/m);
    assert.match(text, /^COPY registry\/ \/app\/$/m);
    assert.match(text, /^USER 1000:1000$/m);
    assert.match(text, /^ENTRYPOINT \["node", "\/app\/registry\.mjs"\]$/m);
    assert.match(text, /^CMD \["serve"\]$/m);
    assert.match(text, /io\.registry-setup\.version="0\.1\.0"/);
  });
  test('the template file on disk is what is rendered', async () => {
    const raw = await readFile(join(templatesDir(), 'Dockerfile.tmpl'), 'utf8');
    assert.match(raw, /FROM \{\{nodeImage\}\}/);
  });
});
