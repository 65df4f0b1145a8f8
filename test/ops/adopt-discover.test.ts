// adopt's discovery on recorded facts: `docker inspect` and `nginx -T` recorded from the classic
// stack of test/bench/classic-stack (docker-compose 1.29, paths renamed to a user's home), and
// variants of it made by editing those records (compose v2, plain `docker run` with a named volume
// and the host's nginx package, two registries, two domains, things adopt cannot take over).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdoptAmbiguity, AdoptError, discoverStack } from '../../src/ops/adopt-discover.js';
import { certbotCronArgv, certbotCronArgvFor, containerFileArgv, gatherAdoptFacts, HOST_NGINX_CONFIG_ARGV, looksLikeNginx, looksLikeRegistry, registryConfigPath, type AdoptFacts, type InspectedContainer } from '../../src/ops/adopt-facts.js';
import type { Executor } from '../../src/deploy/executor.js';
import type { ExecResult } from '../../src/remote/index.js';
import { nginxServers } from '../../src/ops/nginx-config.js';
import { adoptPlanSteps, describeDiscovery, parseTagLinks, sampleTags, tagLinksArgv, TAG_SAMPLE_LIMIT } from '../../src/ops/adopt-plan.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const recorded = JSON.parse(readFileSync(path.join(here, 'fixtures', 'classic-stack-v1.inspect.json'), 'utf8')) as InspectedContainer[];
const nginxT = readFileSync(path.join(here, 'fixtures', 'classic-stack.nginx-T.txt'), 'utf8');
const HTPASSWD = 'admin:$2y$05$37Krh.Ism72REP9yfe/7pO5yd8y.87sh4K1rtvd2H7zULIp6HNn4q\nci:$2y$05$37Krh.Ism72REP9yfe/7pO5yd8y.87sh4K1rtvd2H7zULIp6HNn4q\n';
const REGISTRY_CONFIG = 'version: 0.1\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const [REGISTRY, NGINX] = [recorded[0]!, recorded[1]!];

/** The classic stack as recorded; `edit` changes copies of its containers. */
function classicFacts(edit?: (registry: InspectedContainer, nginx: InspectedContainer) => void): AdoptFacts {
  const [registry, nginx] = [clone(REGISTRY), clone(NGINX)];
  edit?.(registry, nginx);
  return {
    containers: [registry, nginx],
    nginxConfigs: { [nginx.Id]: nginxT },
    registryConfigs: { [registry.Id]: REGISTRY_CONFIG },
    htpasswd: { [registry.Id]: HTPASSWD },
    letsencryptLive: [],
    certbotTimers: {},
    certbotCron: [],
  };
}

/** Another container from a record: a new id and name. */
function another(c: InspectedContainer, name: string, edit?: (c: InspectedContainer) => void): InspectedContainer {
  const x = clone(c);
  x.Id = `${name.replace(/[^a-f0-9]/g, 'a').padEnd(12, '0')}${'f'.repeat(52)}`;
  x.Name = `/${name}`;
  edit?.(x);
  return x;
}

describe('adopt: discovering the classic stack (recorded from docker-compose 1.29)', () => {
  it('finds the registry, its project, data, users, nginx, domain, port and certificate', () => {
    const d = discoverStack(classicFacts());
    assert.equal(d.registry.name, 'registry-stack_registry_1');
    assert.deepEqual(d.registry.compose, {
      project: 'registry-stack',
      service: 'registry',
      workingDir: '/home/ubuntu/registry-stack',
      configFiles: ['/home/ubuntu/registry-stack/compose.yaml'],
      flavour: 'v1',
    });
    assert.equal(d.registry.dataPath, '/data', 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY overrides the config file');
    assert.deepEqual(d.registry.data, { kind: 'bind', hostPath: '/home/ubuntu/registry-stack/registry/data' });
    assert.deepEqual(d.registry.htpasswd, { path: '/auth/registry.password', host: { kind: 'bind', hostPath: '/home/ubuntu/registry-stack/registry/registry.password' }, users: ['admin', 'ci'] });
    assert.equal(d.registry.realm, 'Registry Realm');
    assert.deepEqual(d.registry.ports, [{ containerPort: 5000, hostPort: 32768, hostIp: '127.0.0.1' }]);
    assert.equal(d.nginx?.kind, 'container');
    assert.equal(d.nginx?.container?.name, 'registry-stack_nginx_1');
    assert.equal(d.nginx?.domain, 'registry.example.com');
    assert.equal(d.nginx?.httpsPort, 39537, 'the host port nginx’s 443 is published on');
    assert.equal(d.nginx?.httpPort, undefined, 'the guide has no port-80 server');
    assert.deepEqual(d.nginx?.certificate, {
      certificate: '/etc/nginx/certs/fullchain.pem',
      key: '/etc/nginx/certs/privkey.pem',
      hostCertificate: '/home/ubuntu/registry-stack/nginx/certs/fullchain.pem',
      hostKey: '/home/ubuntu/registry-stack/nginx/certs/privkey.pem',
    });
    assert.deepEqual(d.companions.map((c) => c.name), ['registry-stack_nginx_1']);
    assert.ok(d.notes.some((n) => n.includes('no plain-HTTP port')), d.notes.join('\n'));
  });

  it('compose v2 is told from v1 by com.docker.compose.version', () => {
    const d = discoverStack(classicFacts((r) => (r.Config.Labels!['com.docker.compose.version'] = '2.24.5')));
    assert.equal(d.registry.compose?.flavour, 'v2');
  });

  it('certbot: a copy of /etc/letsencrypt/live/<domain>/ is named, and enabled timers and cron files are listed', () => {
    const facts = { ...classicFacts(), letsencryptLive: ['registry.example.com'], certbotTimers: { 'certbot.timer': 'enabled', 'snap.certbot.renew.timer': 'disabled' }, certbotCron: ['/etc/cron.d/certbot'] };
    const d = discoverStack(facts);
    assert.deepEqual(d.nginx?.certificate?.letsencrypt, { name: 'registry.example.com', servedInPlace: false, root: '/etc/letsencrypt' });
    assert.deepEqual(d.certbot, { timers: ['certbot.timer'], cron: ['/etc/cron.d/certbot'] });
  });

  it('a stack of plain docker run: named volume, the registry’s config file, nginx from the host package serving certbot’s files in place', () => {
    const registry = another(REGISTRY, 'registry', (c) => {
      c.Config.Labels = {};
      c.Config.Env = ['PATH=/usr/bin'];
      c.Mounts = [{ Type: 'volume', Name: 'registry-data', Source: '/var/lib/docker/volumes/registry-data/_data', Destination: '/var/lib/registry', RW: true }, { Type: 'bind', Source: '/etc/registry', Destination: '/auth', RW: false }];
      c.NetworkSettings = { Ports: { '5000/tcp': [{ HostIp: '127.0.0.1', HostPort: '5000' }] }, Networks: { bridge: { Aliases: null } } };
    });
    const hostConf = `events {}\nhttp {\n  server { listen 80; server_name registry.example.org; location /.well-known/acme-challenge/ { root /var/www/html; } location / { return 301 https://$host$request_uri; } }\n  server {\n    listen 443 ssl http2; listen [::]:443 ssl;\n    server_name registry.example.org;\n    ssl_certificate "/etc/letsencrypt/live/registry.example.org/fullchain.pem"; # managed by Certbot\n    ssl_certificate_key /etc/letsencrypt/live/registry.example.org/privkey.pem;\n    location /v2/ { proxy_pass http://localhost:5000; }\n  }\n}\n`;
    const config = `${REGISTRY_CONFIG}auth:\n  htpasswd:\n    realm: basic-realm\n    path: /auth/htpasswd\n`;
    const d = discoverStack({ containers: [registry], nginxConfigs: { host: hostConf }, registryConfigs: { [registry.Id]: config }, htpasswd: { [registry.Id]: HTPASSWD }, letsencryptLive: ['registry.example.org'], certbotTimers: { 'certbot.timer': 'enabled' }, certbotCron: [] });
    assert.equal(d.registry.compose, undefined);
    assert.equal(d.registry.dataPath, '/var/lib/registry');
    assert.deepEqual(d.registry.data, { kind: 'volume', hostPath: '/var/lib/docker/volumes/registry-data/_data', volume: 'registry-data' });
    assert.deepEqual(d.registry.htpasswd?.host, { kind: 'bind', hostPath: '/etc/registry/htpasswd' });
    assert.equal(d.registry.realm, 'basic-realm');
    assert.equal(d.nginx?.kind, 'host');
    assert.equal(d.nginx?.domain, 'registry.example.org');
    assert.equal(d.nginx?.httpsPort, 443);
    assert.equal(d.nginx?.httpPort, 80);
    assert.deepEqual(d.nginx?.certificate?.letsencrypt, { name: 'registry.example.org', servedInPlace: true, root: '/etc/letsencrypt' });
    assert.equal(d.nginx?.certificate?.hostKey, '/etc/letsencrypt/live/registry.example.org/privkey.pem');
    assert.deepEqual(d.companions, []);
  });

  it('certbot under another root (--config-dir): the root is read off the live/<name>/ path; its cron files are looked for beside it', () => {
    const conf = (cert: string, key: string) => `events {}\nhttp {\n  server {\n    listen 443 ssl;\n    server_name registry.example.org;\n    ssl_certificate ${cert};\n    ssl_certificate_key ${key};\n    location /v2/ { proxy_pass http://localhost:5000; }\n  }\n}\n`;
    const registry = another(REGISTRY, 'registry', (c) => {
      c.Config.Labels = {};
      c.Config.Env = ['PATH=/usr/bin'];
      c.Mounts = [{ Type: 'bind', Source: '/srv/registry', Destination: '/var/lib/registry', RW: true }, { Type: 'bind', Source: '/etc/registry', Destination: '/auth', RW: false }];
      c.NetworkSettings = { Ports: { '5000/tcp': [{ HostIp: '127.0.0.1', HostPort: '5000' }] }, Networks: { bridge: { Aliases: null } } };
    });
    const config = `${REGISTRY_CONFIG}auth:\n  htpasswd:\n    realm: basic-realm\n    path: /auth/htpasswd\n`;
    const facts = (c: string, k: string): AdoptFacts => ({ containers: [registry], nginxConfigs: { host: conf(c, k) }, registryConfigs: { [registry.Id]: config }, htpasswd: { [registry.Id]: HTPASSWD }, letsencryptLive: [], certbotTimers: {}, certbotCron: [] });
    const le = (c: string, k: string) => discoverStack(facts(c, k)).nginx?.certificate?.letsencrypt;
    assert.deepEqual(le('/srv/etc/letsencrypt/live/registry.example.org/fullchain.pem', '/srv/etc/letsencrypt/live/registry.example.org/privkey.pem'), { name: 'registry.example.org', servedInPlace: true, root: '/srv/etc/letsencrypt' });
    // not certbot's shape: a key elsewhere, or a file name certbot does not write
    assert.equal(le('/srv/live/registry/fullchain.pem', '/srv/keys/privkey.pem'), undefined);
    assert.equal(le('/srv/live/registry/server.crt', '/srv/live/registry/server.key'), undefined);
    assert.deepEqual(certbotCronArgvFor('/etc/letsencrypt'), certbotCronArgv, 'the default root adds nothing');
    assert.deepEqual(certbotCronArgvFor('/srv/etc/letsencrypt/').slice(certbotCronArgv.length), ['/srv/etc/cron.d/certbot', '/srv/etc/crontab']);
  });

  it('two running registries stop with --container naming both; --container picks one', () => {
    const facts = classicFacts();
    facts.containers.push(another(REGISTRY, 'other-registry', (c) => (c.Config.Labels = {})));
    assert.throws(() => discoverStack(facts), (e: unknown) => e instanceof AdoptAmbiguity && e.flag === '--container' && /registry-stack_registry_1/.test(e.message) && /other-registry/.test(e.message) && /pass --container/.test(e.message));
    assert.equal(discoverStack(facts, { container: 'registry-stack_registry_1' }).registry.id, REGISTRY.Id);
    assert.throws(() => discoverStack(facts, { container: 'nope' }), /--container nope: no such container/);
    assert.throws(() => discoverStack(facts, { container: 'registry-stack_nginx_1' }), /runs nginx:latest, not a registry/);
  });

  it('a stopped registry is not guessed at: the user is told to start it', () => {
    assert.throws(() => discoverStack(classicFacts((r) => (r.State.Status = 'exited'))), /is not running: start it first/);
  });

  it('two domains stop with --domain naming both; --domain picks one; a domain nginx does not serve is refused', () => {
    const facts = classicFacts();
    facts.nginxConfigs[NGINX.Id] = nginxT.replace('server_name registry.example.com;', 'server_name registry.example.com docker.example.com;');
    assert.throws(() => discoverStack(facts), (e: unknown) => e instanceof AdoptAmbiguity && e.flag === '--domain' && e.choices.join() === 'registry.example.com,docker.example.com');
    assert.equal(discoverStack(facts, { domain: 'docker.example.com' }).nginx?.domain, 'docker.example.com');
    assert.throws(() => discoverStack(facts, { domain: 'x.example.com' }), /--domain x.example.com: nginx serves the registry as registry.example.com, docker.example.com/);
  });

  it('an nginx on another network (another stack proxying to its own registry:5000) is not this registry’s', () => {
    const facts = classicFacts();
    const foreign = another(NGINX, 'someone-elses-nginx', (c) => (c.NetworkSettings!.Networks = { 'other_default': { Aliases: ['nginx'] } }));
    facts.containers.push(foreign);
    facts.nginxConfigs[foreign.Id] = nginxT.replace('registry.example.com', 'other.example.com');
    const d = discoverStack(facts);
    assert.equal(d.nginx?.container?.name, 'registry-stack_nginx_1');
    assert.equal(d.nginx?.domain, 'registry.example.com');
  });

  it('what adopt cannot take over is one line saying why', () => {
    assert.throws(() => discoverStack(classicFacts((r) => (r.Mounts = r.Mounts!.filter((m) => m.Destination !== '/data')))), (e: unknown) => e instanceof AdoptError && /keeps its data \(\/data\) inside the container.*docker cp/.test(e.message));
    assert.throws(() => discoverStack(classicFacts((r) => r.Config.Env!.push('REGISTRY_STORAGE=s3'))), /"s3" driver; adopt takes over filesystem storage only/);
    const md5 = classicFacts();
    md5.htpasswd[REGISTRY.Id] = 'old:$apr1$abc$def\n';
    assert.throws(() => discoverStack(md5), /user "old".*htpasswd -B/);
    assert.throws(() => discoverStack({ ...classicFacts(), containers: [clone(NGINX)] }), /no registry:2 \(distribution\) container on the host/);
  });

  it('no nginx in front: a note says the registry keeps its own published port', () => {
    const facts = classicFacts();
    facts.nginxConfigs = {};
    const d = discoverStack(facts);
    assert.equal(d.nginx, undefined);
    assert.ok(d.notes.some((n) => n.includes('same port (32768)')), d.notes.join('\n'));
  });
});

describe('adopt: reading facts', () => {
  it('tells registries and nginx from other containers, ours excluded', () => {
    assert.equal(looksLikeRegistry(REGISTRY), true);
    assert.equal(looksLikeRegistry(NGINX), false);
    assert.equal(looksLikeNginx(NGINX), true);
    assert.equal(looksLikeRegistry(another(REGISTRY, 'x', (c) => (c.Config.Image = 'ghcr.io/distribution/distribution:3.0.0'))), true);
    assert.equal(looksLikeRegistry(another(REGISTRY, 'x', (c) => ((c.Config.Image = 'registry-setup/registry:0.1.0'), (c.Config.Entrypoint = ['node']), (c.Path = 'node')))), false);
  });

  it('the configuration file is serve’s argument; files are read with docker cp, not by running cat in the container', () => {
    assert.equal(registryConfigPath(REGISTRY), '/etc/docker/registry/config.yml');
    assert.equal(registryConfigPath(another(REGISTRY, 'x', (c) => (c.Config.Cmd = ['serve', '/etc/registry/config.yaml']))), '/etc/registry/config.yaml');
    assert.deepEqual(containerFileArgv('abc', '/auth/x'), ['sh', '-c', 'docker cp "$1:$2" - | tar -xO', 'sh', 'abc', '/auth/x']);
  });

  it('nginx: upstreams resolved, quotes and comments, listen forms', () => {
    const [s] = nginxServers(`http { upstream up { server reg:5000; server reg2; } server { listen 127.0.0.1:8443 ssl; listen 8080; server_name "a.example" b.example; # c.example\n location / { proxy_pass http://up/; } location /x { proxy_pass https://other; } } }`);
    assert.deepEqual(s, { names: ['a.example', 'b.example'], listens: [{ port: 8443, ssl: true, address: '127.0.0.1' }, { port: 8080, ssl: false }], proxiesTo: ['reg:5000', 'reg2:80', 'other:443'] });
    assert.throws(() => nginxServers('http { server { listen 80; }'), /not closed/);
  });
});

describe('adopt: the tags recorded and the plan', () => {
  const data = '/home/ubuntu/registry-stack/registry/data';
  const repos = `${data}/docker/registry/v2/repositories`;
  const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

  it('reads tags from distribution’s tag links (grep -H output), not revisions or layer links', () => {
    const out = [
      `${repos}/team/app/_manifests/tags/v1/current/link:${digest(1)}`,
      `${repos}/team/app/_manifests/tags/latest/current/link:${digest(1)}`,
      `${repos}/base/_manifests/tags/multi/current/link:${digest(2)}`,
      `${repos}/base/_manifests/tags/multi/index/sha256/${'0'.repeat(63)}2/link:${digest(2)}`,
      `${repos}/base/_layers/sha256/${'0'.repeat(63)}3/link:${digest(3)}`,
      '',
    ].join('\n');
    assert.deepEqual(parseTagLinks(out, data), [
      { repository: 'base', tag: 'multi', digest: digest(2) },
      { repository: 'team/app', tag: 'latest', digest: digest(1) },
      { repository: 'team/app', tag: 'v1', digest: digest(1) },
    ]);
    assert.deepEqual(tagLinksArgv(data).slice(-1), [repos]);
  });

  it('records every tag up to 1,000, then 1,000 spread over all of them', () => {
    const tags = Array.from({ length: 2500 }, (_, i) => ({ repository: `r${String(i).padStart(4, '0')}`, tag: 't', digest: digest(i) }));
    assert.equal(sampleTags(tags.slice(0, 999)).length, 999);
    assert.equal(sampleTags(tags.slice(0, 1000)).length, 1000);
    const s = sampleTags(tags);
    assert.equal(s.length, TAG_SAMPLE_LIMIT);
    assert.equal(new Set(s.map((t) => t.repository)).size, TAG_SAMPLE_LIMIT, 'no tag twice');
    assert.equal(s[0], tags[0]);
    assert.ok(s.at(-1)!.repository >= 'r2490', 'the sample reaches the end of the list');
  });

  it('the plan names the data in place, the users, certbot’s timer disabled not deleted, the old containers stopped not removed', () => {
    const facts = { ...classicFacts(), letsencryptLive: ['registry.example.com'], certbotTimers: { 'certbot.timer': 'enabled' } };
    const plan = adoptPlanSteps(discoverStack(facts), '/opt/registry-setup', { total: 3, sampled: 3 });
    const text = plan.join('\n');
    assert.match(plan[0]!, /^record all 3 tags .* in \/opt\/registry-setup\/state\/adopt\/$/);
    assert.match(text, /read-write access to \/home\/ubuntu\/registry-stack\/registry\/data with POSIX ACLs/);
    assert.match(text, /carry over 2 user\(s\) \(admin, ci\)/);
    assert.match(text, /disable \(not delete\) certbot's certbot\.timer/);
    assert.match(text, /stop \(not remove\) registry-stack_registry_1, registry-stack_nginx_1/);
    assert.match(text, /as registry\.example\.com on HTTPS port 39537/);
    assert.match(describeDiscovery(discoverStack(facts)).join('\n'), /a copy of certbot's \/etc\/letsencrypt\/live\/registry\.example\.com\//);
  });
});

describe('adopt: gathering the facts only reads', () => {
  /** A host answering from the recorded classic stack; every argv it was asked to run. */
  function fakeHost(opts: { goneMidway?: boolean } = {}) {
    const ran: string[][] = [];
    const answer = (argv: string[]): ExecResult => {
      const line = argv.join(' ');
      if (line.startsWith('docker ps -aq')) return { code: 0, stdout: `${REGISTRY.Id}\n${NGINX.Id}\n${opts.goneMidway ? 'deadbeef\n' : ''}`, stderr: '' };
      if (argv[0] === 'docker' && argv[1] === 'inspect') return { code: opts.goneMidway ? 1 : 0, stdout: JSON.stringify(recorded), stderr: opts.goneMidway ? 'Error: No such object: deadbeef' : '' };
      if (argv[0] === 'sh' && argv[2]?.startsWith('docker cp')) return { code: 0, stdout: argv[5] === '/auth/registry.password' ? HTPASSWD : REGISTRY_CONFIG, stderr: '' };
      if (line === `docker exec ${NGINX.Id} nginx -T`) return { code: 0, stdout: nginxT, stderr: '' };
      if (line === 'ls -1 /etc/letsencrypt/live') return { code: 0, stdout: 'README\nregistry.example.com\n', stderr: '' };
      if (line === 'systemctl is-enabled certbot.timer') return { code: 0, stdout: 'enabled\n', stderr: '' };
      if (line === 'systemctl is-enabled snap.certbot.renew.timer') return { code: 1, stdout: '', stderr: 'Failed to get unit file state for snap.certbot.renew.timer: No such file or directory' };
      return { code: 1, stdout: '', stderr: '' };
    };
    const exec = { run: async (argv: string[]) => (ran.push(argv), answer(argv)) } as unknown as Executor;
    return { exec, ran };
  }

  it('reads the classic stack’s facts with read-only commands', async () => {
    const { exec, ran } = fakeHost();
    const facts = await gatherAdoptFacts(exec);
    assert.deepEqual(facts.htpasswd, { [REGISTRY.Id]: HTPASSWD });
    assert.deepEqual(facts.registryConfigs, { [REGISTRY.Id]: REGISTRY_CONFIG });
    assert.deepEqual(facts.nginxConfigs, { [NGINX.Id]: nginxT });
    assert.deepEqual(facts.letsencryptLive, ['registry.example.com']);
    assert.deepEqual(facts.certbotTimers, { 'certbot.timer': 'enabled' });
    assert.equal(discoverStack(facts).nginx?.certificate?.letsencrypt?.name, 'registry.example.com');
    const readOnly = [/^docker ps -aq/, /^docker inspect /, /^docker exec \S+ nginx -T$/, /^ls -1 /, /^systemctl is-enabled /, /^sh -c docker cp "\$1:\$2" - \| tar -xO sh /, /^sh -c command -v nginx .* nginx -T/, /^sh -c for f in .* grep -qs/];
    for (const argv of ran) assert.ok(readOnly.some((re) => re.test(argv.join(' '))), `not a read-only command: ${argv.join(' ')}`);
    assert.deepEqual(HOST_NGINX_CONFIG_ARGV, ran.find((a) => a.join(' ').includes('command -v nginx')));
  });

  it('a container removed between docker ps and docker inspect leaves the others', async () => {
    const facts = await gatherAdoptFacts(fakeHost({ goneMidway: true }).exec);
    assert.equal(facts.containers.length, 2);
  });

  it('certbot’s cron files: only those running certbot, comments ignored', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rs-adopt-cron-'));
    try {
      writeFileSync(path.join(dir, 'certbot'), '0 */12 * * * root test -x /usr/bin/certbot && perl -e "sleep int(rand(43200))" && certbot -q renew\n');
      writeFileSync(path.join(dir, 'crontab'), '# 0 0 * * * certbot renew\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n');
      const argv = [...certbotCronArgv.slice(0, 4), path.join(dir, 'certbot'), path.join(dir, 'crontab'), path.join(dir, 'missing')];
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
      assert.equal(r.status, 0);
      assert.equal(r.stdout, `${path.join(dir, 'certbot')}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
