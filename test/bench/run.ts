// Benchmark entry point: `node --import tsx test/bench/run.ts [--quick] [--scenarios a,b] ...`
// (npm run bench builds dist/registry/ first). Starts our registry and distribution on fresh
// data dirs under one parent, drives both with the same client, interleaved scenario by scenario,
// once without auth and once with the same bcrypt htpasswd file; prints a table and writes JSON.
// When Ceph RGW is installed, the throughput scenarios also run on our registry with the S3
// driver against a fresh RGW per pass (the S3 column; see s3.ts). Last (in --quick runs too, or
// alone with --scenarios deploy; --no-deploy skips it), `registry-setup deploy` is timed against
// this machine: a first deploy and an unchanged re-run (see deploy.ts).
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../helpers/exec.js';
import { distributionBinary, ourRegistryBundle, repoRoot } from '../helpers/registries.js';
import { RegistryApi } from './api.js';
import { HttpTarget } from './client.js';
import { CLIENT_CPU, compare, OTHER_CPU, renderReport, writeResult, type Baselines, type BenchResult, type PassResult, type RegistryResult } from './report.js';
import { planS3, S3_KIND, S3_LABEL, S3Store, startOursOnS3, type S3Info, type S3Plan } from './s3.js';
import { Content, FULL, QUICK, SCENARIOS, type Params, type RegistryState, type Scenario } from './scenarios.js';
import { renderMirrorReport, runMirrorBench, type MirrorBenchResult } from './mirror.js';
import { renderPolicyReport, runPolicyBench, type PolicyBenchResult } from './policy.js';
import { emptyDeployInfo, removeDeployStackSync, runDeployBench, type DeployInfo } from './deploy.js';
import { renderStack, runStackBench, type StackInfo } from './stack.js';
import { renderBareDeploy, runBareDeployBench, type BareDeployInfo } from './bare-deploy.js';
import {
  clientCeiling,
  diskCeiling,
  KINDS,
  machineBusySeconds,
  makeHtpasswd,
  startServers,
  stopServers,
  syncAll,
  type Credentials,
  type Server,
  type ServerKind,
} from './servers.js';

/** The deploy timing's --scenarios id (not a registry scenario: it runs once, after the passes). */
const DEPLOY = 'deploy';
/** The pull-through cache comparison (mirror.ts): its own servers, after the registry passes. */
const MIRROR = 'mirror';
/** The "with policy" pass (policy.ts): ours with a 50-glob access policy vs distribution with htpasswd. */
const POLICY = 'policy';
/** The stack bench's --scenarios id (ours deployed vs the classic stack; see stack.ts). */
const STACK = 'stack';
/** The bare-host first deploy's --scenarios id (see bare-deploy.ts). */
const BARE_DEPLOY = 'bare-deploy';
const DEFAULT_ROUNDS = 2;

const USAGE = `usage: node --import tsx test/bench/run.ts [options]   (or: npm run bench -- [options])

  --scenarios a,b   run only these (default: all): ${SCENARIOS.map((s) => s.id).join(', ')}, ${MIRROR}, ${POLICY}, ${STACK}, ${DEPLOY}, ${BARE_DEPLOY}
                    (${POLICY}: ours with an access policy of 50 globs and 20 users vs distribution
                    2.8 with htpasswd: small-blob HEAD/GET and manifest GET by tag; about 2 minutes)
                    (${MIRROR}: serve --mirror vs distribution 2.8 proxy mode on one upstream: cold,
                    warm and 16 concurrent cold pulls of a 4 × 64 MiB image; about 2 minutes)
                    (${DEPLOY}: time \`registry-setup deploy\` to this machine, a first deploy and an
                    unchanged re-run; needs dockerd and sshd; runs last, about 40 s, --quick or not)
                    (${STACK}: the deployed stack vs the classic hand-built stack, both over HTTPS
                    with auth; needs dockerd, sshd, docker-compose; about 10 min, in full runs only
                    unless selected or --stack)
                    (${BARE_DEPLOY}: a first deploy onto a bare Debian 12 host of the bare-host test
                    bed, Docker installed by the deploy, and a re-run; about 3 min, in full runs
                    only unless selected; --no-deploy skips it too)
  --stack           only the stack bench (same as --scenarios ${STACK}; with --quick: a small smoke)
  --rounds N        rounds of the stack bench, A B then B A (default ${DEFAULT_ROUNDS})
  --no-stack        skip the stack bench
  --passes a,b      noauth, auth (default: both)
  --quick           small sizes and 1 s phases: proves the harness works, measures little
  --no-deploy       skip the ${DEPLOY} timing
  --no-mirror       skip the ${MIRROR} comparison
  --no-policy       skip the ${POLICY} pass
  --no-s3           skip the S3 column (ours on the S3 driver against Ceph RGW, in the
                    throughput scenarios ${SCENARIOS.filter((s) => s.s3).map((s) => s.id).join(', ')}; on when RGW is installed)
  --out DIR         where the JSON goes (default: bench/results)
  --dir DIR         parent of the data dirs, on the filesystem to measure (default: ${os.tmpdir()})
  -h, --help`;

const PASSES = ['noauth', 'auth'] as const;
/** Sockets per agent: the highest concurrency any scenario uses. */
const MAX_CONCURRENCY = 32;

interface Options {
  /** registry scenarios (may be empty when only the deploy timing runs) */
  scenarios: Scenario[];
  /** run the deploy timing; otherwise why not */
  deploy: true | { skipped: string };
  mirror: boolean;
  policy: boolean;
  /** run the stack bench; otherwise why not */
  stack: true | { skipped: string };
  /** run the bare-host deploy timing; otherwise why not */
  bareDeploy: true | { skipped: string };
  rounds: number;
  passes: string[];
  quick: boolean;
  noS3: boolean;
  out: string;
  dir: string;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      scenarios: { type: 'string' },
      passes: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-s3': { type: 'boolean', default: false },
      'no-deploy': { type: 'boolean', default: false },
      'no-mirror': { type: 'boolean', default: false },
      'no-policy': { type: 'boolean', default: false },
      stack: { type: 'boolean', default: false },
      'no-stack': { type: 'boolean', default: false },
      rounds: { type: 'string' },
      out: { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  let scenarios = [...SCENARIOS];
  // --quick runs the deploy timing as it is: one deploy and one re-run have no smaller size.
  let deploy: Options['deploy'] = true;
  let mirror = !values['no-mirror'];
  let policy = !values['no-policy'];
  // The stack bench takes minutes: part of a full run, in a quick run only when asked for.
  let stack: Options['stack'] = values.quick ? { skipped: 'not selected in a --quick run (--stack or --scenarios stack selects it)' } : true;
  let bareDeploy: Options['bareDeploy'] = values.quick ? { skipped: `not selected in a --quick run (--scenarios ${BARE_DEPLOY} selects it)` } : true;
  if (values.stack && values.scenarios !== undefined) throw new UsageError('--stack runs the stack bench alone: use --scenarios ...,stack to add it to others');
  const selection = values.stack ? STACK : values.scenarios;
  if (selection !== undefined) {
    const wanted = list(selection);
    mirror = mirror && wanted.includes(MIRROR);
    policy = policy && wanted.includes(POLICY);
    const unknown = wanted.filter((id) => id !== DEPLOY && id !== MIRROR && id !== POLICY && id !== STACK && id !== BARE_DEPLOY && !SCENARIOS.some((s) => s.id === id));
    if (unknown.length > 0 || wanted.length === 0) throw new UsageError(`unknown scenario(s): ${unknown.join(', ') || '(none given)'}`);
    scenarios = SCENARIOS.filter((s) => wanted.includes(s.id));
    deploy = wanted.includes(DEPLOY) ? true : { skipped: `not selected (${values.stack ? '--stack' : `--scenarios ${selection}`})` };
    stack = wanted.includes(STACK) ? true : { skipped: `not selected (--scenarios ${selection})` };
    bareDeploy = wanted.includes(BARE_DEPLOY) ? true : { skipped: `not selected (${values.stack ? '--stack' : `--scenarios ${selection}`})` };
  }
  if (values['no-deploy']) {
    bareDeploy = { skipped: '--no-deploy' };
    if (scenarios.length === 0 && stack !== true && !mirror && !policy) throw new UsageError(`--no-deploy with --scenarios ${DEPLOY} leaves nothing to run`);
    deploy = { skipped: '--no-deploy' };
  }
  if (values['no-stack']) {
    if (scenarios.length === 0 && deploy !== true) throw new UsageError('--no-stack with --stack leaves nothing to run');
    stack = { skipped: '--no-stack' };
  }
  const rounds = values.rounds === undefined ? DEFAULT_ROUNDS : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) throw new UsageError(`--rounds takes a whole number from 1 to 10, not ${values.rounds}`);
  let passes: string[] = [...PASSES];
  if (values.passes !== undefined) {
    passes = list(values.passes);
    const unknown = passes.filter((p) => !(PASSES as readonly string[]).includes(p));
    if (unknown.length > 0 || passes.length === 0) throw new UsageError(`unknown pass(es): ${unknown.join(', ') || '(none given)'}`);
  }
  return {
    scenarios,
    deploy,
    mirror,
    policy,
    stack,
    bareDeploy,
    rounds,
    passes,
    quick: values.quick,
    noS3: values['no-s3'],
    out: resolve(values.out ?? join(repoRoot, 'bench', 'results')),
    dir: resolve(values.dir ?? os.tmpdir()),
  };
}

const t0 = performance.now();
function progress(line: string): void {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
}

async function commandOutput(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { cwd: repoRoot, allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim() : '';
}

/** One scenario on one registry: untimed sync and setup, then the measured run inside a CPU/RSS window. */
async function runOne(sc: Scenario, server: Server, p: Params, content: Content, state: RegistryState, creds: Credentials | undefined): Promise<RegistryResult> {
  const store = server.store;
  const http = new HttpTarget(server.kind, server.reg.url, { maxSockets: MAX_CONCURRENCY, authorization: creds?.authorization });
  try {
    const ctx = { api: new RegistryApi(http), p, content, state, serverCpu: () => server.monitor.cpuSeconds() };
    await syncAll();
    await sc.setup?.(ctx);
    const window = server.monitor.beginWindow();
    const machine0 = machineBusySeconds();
    const store0 = store?.cpuSeconds() ?? 0;
    const client0 = process.cpuUsage();
    const start = performance.now();
    const outcome = await sc.run(ctx);
    const wallSeconds = (performance.now() - start) / 1000;
    const client = process.cpuUsage(client0);
    const usage = server.monitor.endWindow(window);
    const storeCpuSeconds = store ? store.cpuSeconds() - store0 : 0;
    const machine = machineBusySeconds() - machine0;
    if (server.reg.process.hasExited()) throw new Error(`${server.kind} exited during ${sc.id}`);
    const clientCpuSeconds = (client.user + client.system) / 1e6;
    // What neither the server nor the client (nor the S3 store) used: other processes, and kernel work charged to no one.
    const otherCpuSeconds = Math.max(0, machine - usage.cpuSeconds - clientCpuSeconds - storeCpuSeconds);
    return {
      metrics: {
        ...outcome.metrics,
        'server peak RSS MiB': { value: usage.peakRssMiB, unit: 'MiB', better: 'lower' },
        // Raw, so without a direction: a time-boxed scenario that serves more also burns more.
        'server CPU s (utime+stime)': { value: usage.cpuSeconds, unit: 's', better: 'info' },
        [CLIENT_CPU]: { value: (100 * clientCpuSeconds) / wallSeconds, unit: '%', better: 'info' },
        [OTHER_CPU]: { value: (100 * otherCpuSeconds) / wallSeconds, unit: '%', better: 'info' },
      },
      truncated: outcome.truncated,
      wallSeconds,
      serverCpuSeconds: usage.cpuSeconds,
      clientCpuSeconds,
      otherCpuSeconds,
      ...(store ? { store: { cpuSeconds: storeCpuSeconds, rssMiB: store.memoryMiB().rss } } : {}),
    };
  } finally {
    http.close();
  }
}

const ACCESS_LOG = /^\s*\S+ - \S+ \[[^\]]+\] "[A-Z]+ /;

/** Runs fn; a failure gets the servers' last log lines appended (distribution's access log left out). */
async function withServerLogs<T>(servers: readonly Server[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const tails = servers.map((s) => {
      const lines = s.reg.logTail(2000).split('\n').slice(1, -1).filter((l) => !ACCESS_LOG.test(l.slice(2)));
      const state = s.reg.process.hasExited() ? 'EXITED' : 'running';
      const own = `--- ${s.kind} (${s.reg.url}, ${state}), last ${Math.min(30, lines.length)} non-access-log lines ---\n${lines.slice(-30).join('\n')}`;
      return s.store ? `${own}\n${s.store.logTail(15)}` : own;
    });
    if (e instanceof Error) {
      e.message += `\n${tails.join('\n')}`;
      throw e;
    }
    throw new Error(`${String(e)}\n${tails.join('\n')}`);
  }
}

async function runPass(name: string, opts: Options, p: Params, content: Content, root: string, s3: S3Plan | undefined): Promise<PassResult> {
  const auth = name === 'auth';
  const creds = auth ? await makeHtpasswd(root) : undefined;
  progress(`pass ${name}: starting both registries${auth ? ` with ${creds!.file} (bcrypt cost 10)` : ''}`);
  const servers = await startServers(root, name, creds?.file);
  let store: S3Store | undefined;
  const scenarios: PassResult['scenarios'] = {};
  try {
    if (s3) {
      progress(`pass ${name}: starting Ceph RGW and ours on the S3 driver (${S3_LABEL})`);
      try {
        store = await S3Store.start(join(root, name, 's3-conf'), s3.memstoreBytes, progress);
        servers.push(await startOursOnS3(store, join(root, name, S3_KIND), creds?.file));
      } catch (e) {
        if (e instanceof Error) e.message = `pass ${name}: the S3 column (--no-s3 skips it): ${e.message}${store ? `\n${store.logTail(15)}` : ''}`;
        throw e;
      }
    }
    const byKind = Object.fromEntries(servers.map((s) => [s.kind, s])) as Record<ServerKind, Server | undefined>;
    await withServerLogs(servers, async () => {
      const fresh = (): RegistryState => ({ big: false, manifests: 0, mixed: false });
      const states: Record<ServerKind, RegistryState> = { ours: fresh(), distribution: fresh(), [S3_KIND]: fresh() };
      for (const [i, sc] of opts.scenarios.entries()) {
        // Alternate who goes first, so neither always inherits the other's cache and write-back state.
        // Ours on S3 goes last: its data is in RGW's memory, not in the page cache the others share.
        const order: ServerKind[] = i % 2 === 0 ? [...KINDS] : [...KINDS].reverse();
        const onS3 = sc.s3 && byKind[S3_KIND] !== undefined;
        if (onS3) order.push(S3_KIND);
        const results = {} as Record<ServerKind, RegistryResult>;
        for (const kind of order) {
          progress(`pass ${name}: ${sc.id} on ${kind}`);
          try {
            results[kind] = await runOne(sc, byKind[kind]!, p, kind === S3_KIND ? s3!.content : content, states[kind], creds);
          } catch (e) {
            if (e instanceof Error) e.message = `pass ${name}, scenario ${sc.id}, registry ${kind}: ${e.message}`;
            throw e;
          }
        }
        scenarios[sc.id] = compare(sc.id, sc.title, results, onS3 ? results[S3_KIND] : undefined);
      }
    });
    const whole = {} as Record<ServerKind, RegistryResult>;
    for (const s of servers) {
      whole[s.kind] = {
        metrics: {
          'RSS when idle after start MiB': { value: s.idleRssMiB, unit: 'MiB', better: 'lower' },
          'peak RSS over the pass MiB': { value: s.monitor.overallPeakRssMiB(), unit: 'MiB', better: 'lower' },
        },
        truncated: [],
        wallSeconds: 0,
        serverCpuSeconds: s.monitor.cpuSeconds() - s.cpuAtStart,
        clientCpuSeconds: 0,
        otherCpuSeconds: 0,
      };
    }
    scenarios['whole-pass'] = compare('whole-pass', 'server process over the whole pass', whole, whole[S3_KIND]);
    if (store && s3) s3.info.storePeakRssMiB![name] = store.memoryMiB().peak;
  } finally {
    await stopServers(servers);
    await store?.stop().catch((e: Error) => progress(`pass ${name}: stopping RGW: ${e.message}`));
    await rm(join(root, name), { recursive: true, force: true, maxRetries: 3 });
  }
  return { name, auth, scenarios };
}

async function main(): Promise<number> {
  let opts: Options | null;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const o = opts;
  const p = o.quick ? QUICK : FULL;
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  // Every phase is bounded by count and time; this is the last fence around the whole run.
  const registryPart = o.scenarios.length > 0;
  const limitMs =
    (registryPart ? (o.quick ? 5 : 60) : 0) * 60_000 +
    (o.deploy === true ? 10 * 60_000 : 0) +
    (o.mirror ? 10 * 60_000 : 0) +
    (o.policy ? 10 * 60_000 : 0) +
    (o.stack === true ? (o.quick ? 8 : 15 + 15 * o.rounds) * 60_000 : 0) +
    (o.bareDeploy === true ? 20 * 60_000 : 0);
  setTimeout(() => {
    process.stderr.write(`bench failed: the whole run exceeded ${limitMs / 60_000} minutes\n`);
    process.exit(1);
  }, limitMs).unref();
  if (!existsSync(ourRegistryBundle)) throw new Error(`${ourRegistryBundle} is missing: run \`npm run build\` first`);
  if ((registryPart || o.mirror || o.policy) && !existsSync(distributionBinary)) throw new Error(`${distributionBinary} is missing: apt-get install docker-registry`);

  await mkdir(o.dir, { recursive: true });
  const root = await mkdtemp(join(o.dir, 'rs-bench-'));
  // Child registries are SIGKILLed by the process helper's exit hook; the data goes with them.
  // A deploy stack still up (the run was interrupted) is removed too.
  process.on('exit', () => {
    rmSync(root, { recursive: true, force: true });
    removeDeployStackSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));

  const selected = [...o.scenarios.map((s) => s.id), ...(o.mirror ? [MIRROR] : []), ...(o.policy ? [POLICY] : []), ...(o.stack === true ? [STACK] : []), ...(o.deploy === true ? [DEPLOY] : []), ...(o.bareDeploy === true ? [BARE_DEPLOY] : [])];
  progress(`${o.quick ? 'quick' : 'full'} run; data under ${root}; scenarios ${selected.join(',')}${registryPart ? `; passes ${o.passes.join(',')}` : ''}`);
  let baselines: Baselines | undefined;
  let s3Info: S3Info = { enabled: false, skipped: 'no registry scenario selected' };
  const passes: Record<string, PassResult> = {};
  if (registryPart) {
    progress('generating content and digests');
    const content = new Content(p);
    progress(`baseline: disk write ${p.bigSize / 1024 / 1024} MiB + fdatasync`);
    const disk = await diskCeiling(root, content.big[0]!);
    progress('baseline: client pull ceiling against a trivial file server');
    const baseDir = join(root, 'baseline');
    await mkdir(baseDir);
    const ceiling = await clientCeiling(baseDir, content.big[0]!, p.bigCount * p.pullRounds, content.mixed, p.mixedConcurrency, p.durationMs, p.phaseCapMs);
    await rm(baseDir, { recursive: true, force: true });
    baselines = {
      diskDurableWriteMiBps: disk.durableMiBps,
      diskBufferedWriteMiBps: disk.bufferedMiBps,
      diskTestBytes: content.big[0]!.size,
      clientSingleStreamPullMiBps: ceiling.singleStreamMiBps,
      clientConcurrentPullMiBps: ceiling.concurrentMiBps,
      clientConcurrency: ceiling.concurrency,
      fileServerCpuSecondsPerGiB: ceiling.fileServerCpuSecondsPerGiB,
    };

    const planned = planS3({ disabled: o.noS3, scenarios: o.scenarios, content });
    const s3 = 'content' in planned ? planned : undefined;
    s3Info = s3 ? s3.info : (planned as S3Info);
    if (s3) {
      s3Info.rgwVersion = (await commandOutput('radosgw', ['--version'])).replace(/\s*\(.*$/, '');
      progress(
        `S3 column: ${S3_LABEL} in ${o.scenarios.filter((sc) => sc.s3).map((sc) => sc.id).join(', ')}; ` +
          `${s3Info.bigCount} × ${s3Info.bigSize! / 1024 / 1024} MiB big, ${s3Info.chunkedCount} × ${s3Info.chunkedSize! / 1024 / 1024} MiB chunked blobs`,
      );
      if (s3Info.reduced) progress(`S3 column REDUCED: ${s3Info.reduced}`);
    } else {
      progress(`S3 column skipped: ${s3Info.skipped}`);
    }

    for (const name of o.passes) passes[name] = await runPass(name, o, p, content, root, s3);
  }

  const mirror: MirrorBenchResult | undefined = o.mirror ? await runMirrorBench({ quick: o.quick, dir: root, progress }) : undefined;
  const policy: PolicyBenchResult | undefined = o.policy ? await runPolicyBench({ quick: o.quick, rounds: o.rounds, dir: root, progress }) : undefined;
  // After the registry passes (nothing else runs meanwhile), before the deploy timing.
  const stack: StackInfo =
    o.stack === true ? await runStackBench(progress, { quick: o.quick, rounds: o.rounds }) : { ran: false, skipped: o.stack.skipped, rounds: [], summary: [], targets: [] };
  if (!stack.ran) progress(`stack bench not run: ${stack.skipped ?? stack.error}`);

  // After the registry passes: its image build would disturb them.
  const deploy: DeployInfo = o.deploy === true ? await runDeployBench(progress, { quietProbeMs: o.quick ? 1_000 : 3_000 }) : { ...emptyDeployInfo(), skipped: o.deploy.skipped };
  if (!deploy.ran) progress(`deploy timing skipped: ${deploy.skipped ?? deploy.error}`);
  const bareDeploy: BareDeployInfo = o.bareDeploy === true ? await runBareDeployBench(progress) : { ran: false, skipped: o.bareDeploy.skipped };
  if (!bareDeploy.ran) progress(`bare-host deploy timing not run: ${bareDeploy.skipped ?? bareDeploy.error}`);

  const [sha, dirty, distVersion] = await Promise.all([
    commandOutput('git', ['rev-parse', '--short', 'HEAD']),
    commandOutput('git', ['status', '--porcelain']),
    registryPart || o.mirror || o.policy ? commandOutput(distributionBinary, ['--version']) : Promise.resolve(''),
  ]);
  const result: BenchResult & { mirror?: MirrorBenchResult; policy?: PolicyBenchResult } = {
    meta: {
      startedAt: startedAt.toISOString(),
      mode: o.quick ? 'quick' : 'full',
      gitSha: sha || 'nogit',
      gitDirty: dirty !== '',
      node: process.version,
      cpus: os.cpus().length,
      kernel: os.release(),
      loadavgAtStart: loadAtStart,
      loadavgAtEnd: os.loadavg(),
      distributionVersion: distVersion.split(/\s+/).pop() ?? '',
      dataParent: o.dir,
      scenarios: selected,
      params: p,
      wallSeconds: (performance.now() - t0) / 1000,
    },
    ...(baselines ? { baselines } : {}),
    s3: s3Info,
    passes,
    deploy,
    ...(mirror ? { mirror } : {}),
    ...(policy ? { policy } : {}),
    stack,
    bareDeploy,
  };
  const file = await writeResult(o.out, result, startedAt, sha || 'nogit');
  process.stdout.write(`${renderReport(result)}\n${mirror ? `\n${renderMirrorReport(mirror)}\n` : ''}${policy ? `\n${renderPolicyReport(policy)}\n` : ''}\n${renderStack(stack)}\n\n${renderBareDeploy(bareDeploy)}\n\nJSON: ${file}\n`);
  if (bareDeploy.error) {
    process.stderr.write(`\nbench failed: the bare-host deploy timing: ${bareDeploy.error}\n`);
    return 1;
  }
  if (stack.error) {
    process.stderr.write(`\nbench failed: the stack bench: ${stack.error}\n`);
    return 1;
  }
  if (deploy.error) {
    process.stderr.write(`\nbench failed: the deploy timing: ${deploy.error}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`\nbench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
