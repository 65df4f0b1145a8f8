// Registries under test, each on its own random loopback port with its own data dir:
// ours (dist/registry/registry.mjs) and CNCF distribution 2.8 (/usr/bin/docker-registry).
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyYaml } from 'yaml';
import { freePort, waitForHttp } from './net.js';
import { startProcess, type ExitInfo, type ManagedProcess } from './process.js';
import { makeTempDir, removeDir } from './tmp.js';

export interface RunningRegistry {
  /** which implementation, for messages */
  kind: 'ours' | 'distribution';
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>, the registry part of an image reference */
  host: string;
  port: number;
  dataDir: string;
  /** Stops the process (SIGTERM, SIGKILL after a deadline). Removes dataDir only if the helper created it. */
  stop(): Promise<ExitInfo>;
  logTail(n?: number): string;
  /** the underlying process, for tests that signal it directly */
  process: ManagedProcess;
}

export interface RegistryOptions {
  /** served data dir; a fresh temp dir (removed on stop) when absent */
  dataDir?: string;
  /** htpasswd file enabling basic auth */
  htpasswd?: string;
  realm?: string;
}

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const ourRegistryBundle = join(repoRoot, 'dist', 'registry', 'registry.mjs');
export const distributionBinary = '/usr/bin/docker-registry';

const START_TIMEOUT_MS = 20_000;

async function dataDirFor(opts: RegistryOptions): Promise<{ dir: string; owned: boolean }> {
  if (opts.dataDir) return { dir: opts.dataDir, owned: false };
  return { dir: await makeTempDir('rs-data-'), owned: true };
}

export async function startOurRegistry(opts: RegistryOptions & { extraArgs?: readonly string[]; env?: Record<string, string> } = {}): Promise<RunningRegistry> {
  if (!existsSync(ourRegistryBundle)) {
    throw new Error(`${ourRegistryBundle} is missing: run \`npm run build\` first`);
  }
  const { dir, owned } = await dataDirFor(opts);
  const args = [ourRegistryBundle, 'serve', '--host', '127.0.0.1', '--port', '0', '--data', dir];
  if (opts.htpasswd) args.push('--htpasswd', opts.htpasswd);
  if (opts.realm) args.push('--realm', opts.realm);
  args.push(...(opts.extraArgs ?? []));
  const proc = startProcess(process.execPath, args, { name: 'our registry', cwd: repoRoot, ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
  let port: number;
  try {
    const m = await proc.waitForLine(/^registry listening on http:\/\/127\.0\.0\.1:(\d+)/, START_TIMEOUT_MS);
    port = Number(m[1]);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad port in start line: ${m[0]}\n${proc.logTail()}`);
  } catch (e) {
    await proc.stop(2_000).catch(() => undefined);
    if (owned) await removeDir(dir);
    throw e;
  }
  return {
    kind: 'ours',
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    dataDir: dir,
    async stop() {
      const info = await proc.stop();
      if (owned) await removeDir(dir);
      return info;
    },
    logTail: proc.logTail,
    process: proc,
  };
}

/** The YAML configuration distribution 2.8 reads. */
export function distributionConfig(opts: { dataDir: string; port: number; htpasswd?: string; realm?: string }): string {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: opts.dataDir },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${opts.port}`, secret: 'registry-setup-tests' },
  };
  if (opts.htpasswd) config.auth = { htpasswd: { realm: opts.realm ?? 'registry', path: opts.htpasswd } };
  return stringifyYaml(config);
}

export async function startDistribution(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  if (!existsSync(distributionBinary)) throw new Error(`${distributionBinary} is missing: apt-get install docker-registry`);
  const { dir, owned } = await dataDirFor(opts);
  const confDir = await makeTempDir('rs-distribution-conf-');
  const cleanup = async (): Promise<void> => {
    await removeDir(confDir);
    if (owned) await removeDir(dir);
  };
  // The port is chosen by binding :0 and releasing it; distribution then binds it. Retry a few
  // times in case another process took it in between.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const configFile = join(confDir, `config-${attempt}.yml`);
    await writeFile(configFile, distributionConfig({ dataDir: dir, port, htpasswd: opts.htpasswd, realm: opts.realm }));
    const proc = startProcess(distributionBinary, ['serve', configFile], { name: 'distribution' });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/v2/`, [200, 401], START_TIMEOUT_MS, () => (proc.hasExited() ? 'process exited' : undefined));
    } catch (e) {
      await proc.stop(2_000).catch(() => undefined);
      lastError = new Error(`${(e as Error).message}\n${proc.logTail()}`);
      if (/address already in use/.test(proc.logTail())) continue;
      break;
    }
    return {
      kind: 'distribution',
      url,
      host: `127.0.0.1:${port}`,
      port,
      dataDir: dir,
      async stop() {
        const info = await proc.stop();
        await cleanup();
        return info;
      },
      logTail: proc.logTail,
      process: proc,
    };
  }
  await cleanup();
  throw lastError;
}
