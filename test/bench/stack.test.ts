// The stack bench's parts that can be proven in seconds: ratios and targets across rounds; the
// cgroup reader and the docker-proxy finder against a real container; and the classic stack fixture
// answering as the guide's setup does (auth required, a push works, 413 over 1000m). The full
// `--stack` run deploys our stack too and takes minutes: npm test never runs it (the quick bench
// test already times a deploy through the same test bed).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { run } from '../helpers/exec.js';
import { basicAuth, freePort } from '../helpers/net.js';
import { ensureNodeImage } from '../helpers/standin-images.js';
import { pullInThreads } from './pull-workers.js';
import { RegistryApi } from './api.js';
import { ContainerCgroup, containerPid, dockerProxies, parseProcCgroup } from './cgroup.js';
import { BlobSource, HttpTarget, MiB, sha256 } from './client.js';
import type { Metric } from './scenarios.js';
import { PEAK_MEMORY_KERNEL, PEAK_MEMORY_SAMPLED, ratios, stackSkipReason, summarize, type StackRound } from './stack.js';
import { putLarge } from './stack-scenarios.js';
import { startClassicStack, STACK_USER } from './stacks.js';

const rate = (value: number): Metric => ({ value, unit: 'MiB/s', better: 'higher' });
const ms = (value: number): Metric => ({ value, unit: 'ms', better: 'lower' });
const mib = (value: number): Metric => ({ value, unit: 'MiB', better: 'lower' });

function round(n: number, ours: Record<string, Metric>, classic: Record<string, Metric>): StackRound {
  const figures = { ours, classic };
  return { round: n, firstBy: {}, figures, ratio: ratios(figures) };
}

test('ratios are ours/classic per round, none for HTTP statuses; targets are met only when every round meets them', () => {
  const status = (value: number): Metric => ({ value, unit: '', better: 'info' });
  const rounds = [
    round(1, { 'big pull MiB/s': rate(300), 'manifest GET p99 ms': ms(40), [PEAK_MEMORY_KERNEL]: mib(200), [PEAK_MEMORY_SAMPLED]: mib(190), 'status': status(201) }, { 'big pull MiB/s': rate(100), 'manifest GET p99 ms': ms(100), [PEAK_MEMORY_KERNEL]: mib(100), [PEAK_MEMORY_SAMPLED]: mib(100), 'status': status(413) }),
    round(2, { 'big pull MiB/s': rate(200), 'manifest GET p99 ms': ms(60), [PEAK_MEMORY_KERNEL]: mib(150), [PEAK_MEMORY_SAMPLED]: mib(140), 'status': status(201) }, { 'big pull MiB/s': rate(100), 'manifest GET p99 ms': ms(100), [PEAK_MEMORY_KERNEL]: mib(100), [PEAK_MEMORY_SAMPLED]: mib(100), 'status': status(413) }),
  ];
  assert.equal(rounds[0]!.ratio['big pull MiB/s'], 3);
  assert.equal(rounds[0]!.ratio.status, null);
  const { summary, targets } = summarize(rounds);
  const pull = summary.find((s) => s.figure === 'big pull MiB/s')!;
  assert.deepEqual(pull.ratio, { median: 2.5, min: 2, max: 3 });
  assert.equal(pull.ours, 250);
  assert.equal(summary.find((s) => s.figure === 'status')!.ratio, null);
  const verdict = Object.fromEntries(targets.map((t) => [t.figure, t.met]));
  // judged on the kernel's peak where there is one, not a second time on the sampled one
  assert.deepEqual(verdict, { 'big pull MiB/s': 'met', 'manifest GET p99 ms': 'partly', [PEAK_MEMORY_KERNEL]: 'missed' });
});

test('parseProcCgroup reads v1 controller lines and the v2 line', () => {
  const paths = parseProcCgroup('4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n');
  assert.equal(paths.get('memory'), '/docker/abc');
  assert.equal(paths.get('cpuacct'), '/docker/abc');
  assert.equal(paths.get(''), '/docker/abc');
});

async function dockerSkipReason(): Promise<string | undefined> {
  const r = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { allowFailure: true, timeoutMs: 20_000 }).catch(() => undefined);
  const reason = r?.code === 0 ? undefined : 'dockerd is not reachable';
  if (reason && process.env.CI) throw new Error(`CI: ${reason}`);
  return reason;
}

test('a container\'s cgroup gives its CPU seconds and memory, and its published port\'s docker-proxy is found', { timeout: 120_000 }, async (t) => {
  const why = await dockerSkipReason();
  if (why) {
    t.skip(why);
    return;
  }
  const name = `rs-stackbench-cg-${process.pid}-${randomBytes(3).toString('hex')}`;
  const image = await ensureNodeImage();
  const port = await freePort();
  // 64 MiB touched, 1.5 s of CPU (not of wall time: the machine may be busy), then idle, listening on the published port
  const script = "const b=Buffer.alloc(64<<20,1);while(process.cpuUsage().user<1.5e6){}require('http').createServer((q,s)=>s.end(String(b[0]))).listen(80)";
  // a network of its own: the default bridge is shared with everyone on this machine
  await run('docker', ['network', 'create', name], { timeoutMs: 60_000 });
  try {
    await run('docker', ['run', '-d', '--name', name, '--network', name, '-p', `127.0.0.1:${port}:80`, image, 'node', '-e', script], { timeoutMs: 60_000 });
    const cg = new ContainerCgroup('probe', await containerPid(name));
    const deadline = Date.now() + 60_000;
    while (cg.cpuSeconds() < 1.2 && Date.now() < deadline) await delay(100);
    assert.ok(cg.cpuSeconds() >= 1.2, `CPU seconds ${cg.cpuSeconds()} after the busy loop`);
    assert.ok(cg.cpuSeconds() < 30, `CPU seconds ${cg.cpuSeconds()} are seconds, not micro- or nanoseconds`);
    const pss = cg.pss();
    assert.ok(pss.anon >= 64 * MiB, `Pss_Anon ${pss.anon / MiB} MiB holds the 64 MiB buffer`);
    assert.ok(pss.file > 0 && pss.anon + pss.file <= pss.total + MiB, `PSS ${pss.total / MiB} MiB = anon ${pss.anon / MiB} + file ${pss.file / MiB} MiB`);
    assert.ok(cg.anonBytes() >= 64 * MiB, `anonymous memory ${cg.anonBytes() / MiB} MiB holds the 64 MiB buffer`);
    assert.ok(cg.memoryBytes() >= cg.anonBytes(), 'charged memory includes the anonymous memory');
    const peak = cg.peakBytes();
    if (peak !== undefined) assert.ok(peak >= 64 * MiB, `peak ${peak / MiB} MiB`);
    // a file written (and synced) inside the container is page cache charged to it, until reclaimed
    await run('docker', ['exec', name, 'node', '-e', "const fs=require('fs');const fd=fs.openSync('/tmp/cache',  'w');fs.writeSync(fd,Buffer.alloc(96<<20,2));fs.fsyncSync(fd)"], { timeoutMs: 60_000 });
    const cached = cg.memoryBytes();
    assert.ok(cached >= cg.anonBytes() + 90 * MiB, `charged ${cached / MiB} MiB after writing 96 MiB (anon ${cg.anonBytes() / MiB} MiB)`);
    cg.reclaim();
    assert.ok(cg.memoryBytes() < cached - 80 * MiB, `charged ${cg.memoryBytes() / MiB} MiB after reclaim, ${cached / MiB} MiB before`);
    const proxies = dockerProxies([port]);
    // dockerd with --iptables=false (this test bed) runs one per published port; with iptables it may run none
    const iptablesOff = (await run('ps', ['-o', 'args=', '-C', 'dockerd'], { allowFailure: true })).stdout.includes('--iptables=false');
    if (iptablesOff) assert.equal(proxies.length, 1, `one docker-proxy for 127.0.0.1:${port}`);
    assert.equal(dockerProxies([1]).length, 0, 'no docker-proxy for a port nobody published');
  } finally {
    await run('docker', ['rm', '-f', name], { allowFailure: true, timeoutMs: 60_000 });
    await run('docker', ['network', 'rm', name], { allowFailure: true, timeoutMs: 60_000 });
  }
});

test('the classic stack fixture asks for credentials, takes a push with them, and refuses a body over 1000m with 413', { timeout: 240_000 }, async (t) => {
  const why = await stackSkipReason({ curl: false }); // the classic stack alone needs no curl
  if (why && process.env.CI) throw new Error(`CI: ${why}`);
  if (why) {
    t.skip(why);
    return;
  }
  const password = randomBytes(12).toString('base64url');
  const stack = await startClassicStack(password, () => undefined);
  try {
    const status = await new Promise<number>((resolve, reject) => {
      https.get(`${stack.url}/v2/`, { ca: stack.ca, family: 4 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 401, 'no credentials: 401 from distribution behind nginx');
    assert.equal(stack.authorization, basicAuth(STACK_USER, password));
    const http = new HttpTarget('classic', stack.url, { maxSockets: 2, authorization: stack.authorization, ca: stack.ca });
    try {
      const api = new RegistryApi(http);
      const data = randomBytes(4096);
      await api.pushMonolithic('smoke/small', data, sha256(data));
      await api.getBlob('smoke/small', { digest: sha256(data), size: data.length });
      // the big pull's threads: each checks size and sha256 of what it pulled
      const job = { path: `/v2/smoke/small/blobs/${sha256(data)}`, digest: sha256(data), size: data.length };
      const target = { label: 'classic', url: stack.url, ca: stack.ca, authorization: stack.authorization };
      assert.equal(await pullInThreads(target, [job, job, job], 2), 3 * data.length);
      await assert.rejects(pullInThreads(target, [job, { ...job, digest: sha256(Buffer.from('other')) }], 2), /sha256 of the body is sha256:[0-9a-f]{64}, expected/);
      const big = new BlobSource(1001 * MiB, Buffer.from('over 1000m\n'), randomBytes(MiB));
      const upload = await api.startUpload('smoke/big');
      const t0 = performance.now();
      // the digest is never checked: nginx answers from the Content-Length alone
      const answer = await putLarge(stack, `${upload.pathname}${upload.search}${upload.search ? '&' : '?'}digest=sha256:${'0'.repeat(64)}`, big);
      assert.equal(answer, 413);
      assert.ok(performance.now() - t0 < 60_000, 'the 413 comes without the body being sent');
    } finally {
      http.close();
    }
  } finally {
    await stack.stop();
  }
});
