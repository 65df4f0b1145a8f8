// The client configuration `status` prints for a deployment's mirrors: with the real name (and
// port), Docker's daemon.json only for a default Docker Hub mirror, containerd's hosts.toml per
// upstream with the prefix as the API root, and a registries.conf drop-in whose mirror location
// carries the prefix.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatMirrorSnippets, mirrorSnippets, upstreamName } from '../../src/ops/mirror-snippets.js';
import { formatStatus, type StatusReport } from '../../src/ops/status.js';

const hub = { prefix: 'docker.io', url: 'https://registry-1.docker.io', default: true };
const ghcr = { prefix: 'ghcr', url: 'https://ghcr.io' };
const plain = { ok: (s: string) => s, warn: (s: string) => s, fail: (s: string) => s };

describe('mirror client snippets', () => {
  test('no mirrors: nothing', () => {
    assert.equal(mirrorSnippets({ domain: 'r.example.com', httpsPort: 443 }), undefined);
    assert.equal(mirrorSnippets({ domain: 'r.example.com', httpsPort: 443, mirrors: [] }), undefined);
  });

  test('Docker Hub as default: daemon.json with the real name, and the Docker Hub only note', () => {
    const s = mirrorSnippets({ domain: 'r.example.com', httpsPort: 443, mirrors: [hub, ghcr] })!;
    assert.deepEqual(JSON.parse(s.docker!.content), { 'registry-mirrors': ['https://r.example.com'] });
    assert.match(s.docker!.note, /Docker Hub names only/);
    assert.deepEqual(s.mirrors.map((m) => m.pull), ['r.example.com/docker.io/<name>', 'r.example.com/ghcr/<name>']);
    assert.deepEqual(s.containerd.map((c) => c.file), ['/etc/containerd/certs.d/docker.io/hosts.toml', '/etc/containerd/certs.d/ghcr.io/hosts.toml']);
    assert.equal(
      s.containerd[1]!.content,
      'server = "https://ghcr.io"\n\n[host."https://r.example.com/v2/ghcr"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n',
    );
    assert.match(s.containerd[0]!.content, /^server = "https:\/\/registry-1\.docker\.io"\n\n\[host\."https:\/\/r\.example\.com\/v2\/docker\.io"\]/);
    assert.equal(
      s.registriesConf.content,
      '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n\n[[registry.mirror]]\nlocation = "r.example.com/docker.io"\n\n' +
        '[[registry]]\nprefix = "ghcr.io"\nlocation = "ghcr.io"\n\n[[registry.mirror]]\nlocation = "r.example.com/ghcr"\n',
    );
  });

  test('no daemon.json when the default mirror is not Docker Hub, or there is none; the port is kept', () => {
    for (const mirrors of [[{ ...ghcr, default: true }], [{ ...hub, default: undefined }]]) {
      const s = mirrorSnippets({ domain: 'r.example.com', httpsPort: 8443, mirrors })!;
      assert.equal(s.docker, undefined);
      assert.match(s.dockerNote!, /Docker Hub names only, and needs a Docker Hub mirror marked default: true; pull as r\.example\.com:8443\/<prefix>\/<name>/);
      assert.match(s.registriesConf.content, /location = "r\.example\.com:8443\//);
    }
    assert.equal(upstreamName('https://index.docker.io'), 'docker.io');
    assert.equal(upstreamName('http://127.0.0.1:5000'), '127.0.0.1:5000');
  });

  test('status prints them after the checks; --json carries them in the report', () => {
    const report = { url: 'https://r.example.com', target: 'root@h', dir: '/opt/registry-setup', checks: [], healthy: true, mirrors: mirrorSnippets({ domain: 'r.example.com', httpsPort: 443, mirrors: [hub] }) } as unknown as StatusReport;
    const text = formatStatus(report, plain);
    assert.match(text, /healthy\n\nMirrors \(pull-through cache\):\n  r\.example\.com\/docker\.io\/<name> +← https:\/\/registry-1\.docker\.io \(default/);
    assert.match(text, /Docker: \/etc\/docker\/daemon\.json\n    \{\n      "registry-mirrors": \[\n        "https:\/\/r\.example\.com"/);
    assert.match(text, /podman, buildah, skopeo: \/etc\/containers\/registries\.conf\.d\/50-registry-setup-mirrors\.conf/);
    assert.equal(formatMirrorSnippets(report.mirrors!).split('\n').some((l) => /\s$/.test(l)), false, 'no trailing blanks');
    assert.deepEqual(JSON.parse(JSON.stringify(report)).mirrors.docker.file, '/etc/docker/daemon.json');
  });
});
