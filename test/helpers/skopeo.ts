// skopeo, isolated from the machine's credentials: HOME, XDG_RUNTIME_DIR and XDG_CONFIG_HOME point
// at a private temp dir, so only an explicit --authfile ever supplies credentials.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from './exec.js';
import { sha256 } from './oci.js';

let home: string | undefined;

function isolatedEnv(): NodeJS.ProcessEnv {
  if (!home) {
    const dir = mkdtempSync(join(tmpdir(), 'rs-skopeo-home-'));
    home = dir;
    mkdirSync(join(dir, 'run'), { mode: 0o700 });
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_RUNTIME_DIR: join(home, 'run'),
    XDG_CONFIG_HOME: join(home, 'config'),
    DOCKER_CONFIG: join(home, 'docker'),
    TMPDIR: process.env.TMPDIR ?? tmpdir(),
  };
}

export interface SkopeoRunOptions {
  timeoutMs?: number;
  /** secrets to hide in error messages */
  redact?: readonly string[];
}

/** Runs `skopeo --insecure-policy <args>`; throws with stderr on failure. */
export function skopeo(args: readonly string[], opts: SkopeoRunOptions = {}): Promise<RunResult> {
  return run('skopeo', ['--insecure-policy', ...args], { timeoutMs: opts.timeoutMs ?? 180_000, env: isolatedEnv(), redact: opts.redact });
}

/** A containers-auth.json file (the format of `skopeo login`) holding one registry's credentials. */
export async function writeAuthfile(file: string, host: string, user: string, password: string): Promise<string> {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  await writeFile(file, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
  return file;
}

export const dockerRef = (host: string, repo: string, tagOrDigest: string): string =>
  `docker://${host}/${repo}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest}`;
export const ociRef = (layoutDir: string, tag: string): string => `oci:${layoutDir}:${tag}`;

export interface CopyOptions extends SkopeoRunOptions {
  /** --all: copy every image of an index */
  all?: boolean;
  preserveDigests?: boolean;
  srcAuthfile?: string;
  destAuthfile?: string;
}

/** skopeo copy; plain-http loopback registries get --src/--dest-tls-verify=false. */
export function skopeoCopy(src: string, dest: string, opts: CopyOptions = {}): Promise<RunResult> {
  const args = ['copy'];
  if (opts.all) args.push('--all');
  if (opts.preserveDigests) args.push('--preserve-digests');
  if (src.startsWith('docker://')) args.push('--src-tls-verify=false');
  if (dest.startsWith('docker://')) args.push('--dest-tls-verify=false');
  if (opts.srcAuthfile) args.push('--src-authfile', opts.srcAuthfile);
  if (opts.destAuthfile) args.push('--dest-authfile', opts.destAuthfile);
  args.push(src, dest);
  return skopeo(args, opts);
}

export interface InspectOptions extends SkopeoRunOptions {
  authfile?: string;
}

/** `skopeo inspect --raw`: the manifest bytes exactly as served, and their digest. */
export async function skopeoInspectRaw(ref: string, opts: InspectOptions = {}): Promise<{ raw: Buffer; digest: string }> {
  const args = ['inspect', '--raw'];
  if (ref.startsWith('docker://')) args.push('--tls-verify=false');
  if (opts.authfile) args.push('--authfile', opts.authfile);
  args.push(ref);
  const res = await skopeo(args, opts);
  return { raw: res.stdoutBytes, digest: sha256(res.stdoutBytes) };
}

/** `skopeo list-tags`, sorted. */
export async function skopeoListTags(ref: string, opts: InspectOptions = {}): Promise<string[]> {
  const args = ['list-tags'];
  if (ref.startsWith('docker://')) args.push('--tls-verify=false');
  if (opts.authfile) args.push('--authfile', opts.authfile);
  args.push(ref);
  const res = await skopeo(args, opts);
  return ((JSON.parse(res.stdout) as { Tags: string[] | null }).Tags ?? []).sort();
}
