import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { pushImage, startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { freePort } from '../helpers/net.js';

const PROMETHEUS = '/usr/bin/prometheus';
const basic = (password: string) => ({ Authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` });

const missing = existsSync(PROMETHEUS) ? undefined : `${PROMETHEUS} is missing (apt-get install prometheus)`;
if (missing && process.env.CI) throw new Error(`CI: ${missing}`);

async function scrape(reg: TestRegistry): Promise<string> {
  const res = await fetch(`${reg.running.metricsUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  let dir: string;
  let reg: TestRegistry;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-metrics-'));
    writeFileSync(path.join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('right', 5)}\n`);
    writeFileSync(
      path.join(dir, 'gc.json'),
      JSON.stringify({ time: '2026-12-01T03:00:00.000Z', ok: true, dryRun: false, freedBytes: 12345, deletedBlobs: 3 }),
    );
    writeFileSync(path.join(dir, 'retention.json'), JSON.stringify({ time: '2026-12-01T04:00:00.000Z', ok: false, dryRun: false, deletedTags: 7, freedBytes: 0 }));
    writeFileSync(path.join(dir, 'renewal.json'), JSON.stringify({ lastAttempt: '2026-12-02T04:00:00.000Z', lastResult: 'failed', notAfter: '2027-01-01T00:00:00.000Z' }));
    reg = await startTestRegistry(
      { htpasswd: path.join(dir, 'htpasswd'), metricsListen: { host: '127.0.0.1', port: 0 }, stateDir: dir, metricsStorageIntervalMs: 200 },
      basic('right'),
    );
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves only /metrics on its own listener, never on the registry port', async () => {
    assert.ok(reg.running.metricsUrl && reg.running.metricsUrl !== reg.url);
    assert.equal((await fetch(`${reg.running.metricsUrl}/`)).status, 404);
    const onRegistry = await reg.fetch('/metrics');
    assert.equal(onRegistry.status, 404);
    assert.doesNotMatch(await onRegistry.text(), /registry_http_requests_total/);
  });

  it('counts requests, bytes, auth failures; storage from the background walk; gc and renewal from the state files', async () => {
    await pushImage(reg, 'metrics/app', 'v1', { layers: ['m'.repeat(3000)] });
    for (let i = 0; i < 2; i++) assert.equal((await reg.fetch('/v2/', { headers: basic('wrong') })).status, 401);
    // the walk runs every 200 ms here: wait until it has seen the push
    const deadline = Date.now() + 10_000;
    let text = await scrape(reg);
    while (sample(text, 'registry_storage_tags') !== 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      text = await scrape(reg);
    }
    assert.equal(sample(text, 'registry_storage_tags'), 1, text);
    assert.equal(sample(text, 'registry_storage_repositories'), 1);
    assert.equal(sample(text, 'registry_storage_blobs'), 3, 'config, layer and manifest');
    assert.ok(sample(text, 'registry_storage_blob_bytes')! > 3000);
    assert.equal(sample(text, 'registry_http_requests_total{route="manifest",method="PUT",status="201"}'), 1);
    assert.equal(sample(text, 'registry_auth_failures_total'), 2);
    assert.ok(sample(text, 'registry_http_request_bytes_total{route="upload"}')! >= 3000);
    assert.equal(sample(text, 'registry_http_request_duration_seconds_count{route="manifest",method="PUT"}'), 1);
    assert.equal(sample(text, 'registry_http_request_duration_seconds_bucket{route="manifest",method="PUT",le="+Inf"}'), 1);
    assert.equal(sample(text, 'registry_gc_last_run_timestamp_seconds'), Date.parse('2026-12-01T03:00:00.000Z') / 1000);
    assert.equal(sample(text, 'registry_gc_last_run_freed_bytes'), 12345);
    assert.equal(sample(text, 'registry_cert_renewal_last_success'), 0);
    assert.equal(sample(text, 'registry_retention_last_run_success'), 0);
    assert.equal(sample(text, 'registry_retention_last_run_deleted_tags'), 7);
    assert.equal(sample(text, 'registry_cert_expiry_timestamp_seconds'), Date.parse('2027-01-01T00:00:00.000Z') / 1000);
    assert.ok(sample(text, 'process_resident_memory_bytes')! > 0);
    assert.equal(sample(text, 'registry_http_requests_in_flight{route="upload"}'), 0);
  });

  it(
    "Debian's prometheus scrapes it and a PromQL query returns the requests this test made",
    { skip: missing ?? false, timeout: 90_000 },
    async () => {
      const metricsPort = new URL(reg.running.metricsUrl!).port;
      const promPort = await freePort();
      const promDir = path.join(dir, 'prometheus');
      const configFile = path.join(dir, 'prometheus.yml');
      writeFileSync(
        configFile,
        [
          'global:',
          '  scrape_interval: 1s',
          'scrape_configs:',
          '  - job_name: registry',
          '    static_configs:',
          `      - targets: ['127.0.0.1:${metricsPort}']`,
          '',
        ].join('\n'),
      );
      const prom: ManagedProcess = startProcess(
        PROMETHEUS,
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${promDir}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        { name: 'prometheus' },
      );
      try {
        await prom.waitForLine(/Server is ready to receive web requests/, 30_000, 'any');
        for (let i = 0; i < 7; i++) assert.equal((await reg.fetch('/v2/metrics/app/manifests/v1')).status, 200);
        for (let i = 0; i < 3; i++) assert.equal((await reg.fetch('/v2/metrics/app/manifests/missing')).status, 404);
        const query = 'sum by (status) (registry_http_requests_total{route="manifest",method="GET"})';
        const want = { '200': 7, '404': 3 };
        let got: Record<string, number> = {};
        let last = '';
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(query)}`);
          last = await res.text();
          const body = JSON.parse(last) as { data?: { result?: { metric: { status: string }; value: [number, string] }[] } };
          got = Object.fromEntries((body.data?.result ?? []).map((r) => [r.metric.status, Number(r.value[1])]));
          if (got['200'] === 7 && got['404'] === 3) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        assert.deepEqual(got, want, `last answer: ${last}\nprometheus log:\n${prom.logTail(20)}`);
        // the scrape itself succeeded (up == 1) for the registry's target
        const up = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=up`)).json() as { data: { result: { value: [number, string] }[] } };
        assert.equal(up.data.result[0]?.value[1], '1');
      } finally {
        await prom.stop(5_000);
      }
    },
  );
});

describe('metrics listener', () => {
  it('an address in use is one line naming --metrics-listen', async () => {
    const reg = await startTestRegistry({ metricsListen: { host: '127.0.0.1', port: 0 } });
    try {
      const taken = Number(new URL(reg.running.metricsUrl!).port);
      await assert.rejects(startTestRegistry({ metricsListen: { host: '127.0.0.1', port: taken } }), /--metrics-listen 127\.0\.0\.1:\d+ is already in use/);
    } finally {
      await reg.close();
    }
  });
});
