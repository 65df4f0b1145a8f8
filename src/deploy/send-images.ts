// --send-images: a host that cannot pull the base images (a restricted network) gets them from this
// machine's Docker over the deploy's own SSH connection: `docker save IMAGE` here, piped into
// `docker load` there. The tarball is streamed with back-pressure: never whole in memory or on disk.
// Only images the host lacks are sent, so a re-run sends nothing.
import { spawn } from 'node:child_process';
import { Transform } from 'node:stream';
import type { Argv } from '../provision/index.js';
import { formatBytes } from '../registry/format-bytes.js';
import { RemoteCommandError } from '../remote/index.js';
import { SettingsError } from '../settings/resolve.js';
import type { DeploySettings } from '../settings/settings.js';
import type { Executor } from './executor.js';

/** The images a deployment is built from, each once. */
export function baseImages(settings: Pick<DeploySettings, 'nodeImage' | 'nginxImage'>): string[] {
  return [...new Set([settings.nodeImage, settings.nginxImage])];
}

export interface ImageSendPlan {
  /** the host lacks them: sent from here */
  send: string[];
  /** the host has them already */
  present: string[];
}

/** Pure: which images go to the host, given which of them it has. */
export function planImageSends(images: readonly string[], onHost: ReadonlySet<string>): ImageSendPlan {
  return { send: images.filter((i) => !onHost.has(i)), present: images.filter((i) => onHost.has(i)) };
}

/** Exits 0 when the image is in the engine (locally: prints its size in bytes). */
export const imageInspectArgv = (image: string): Argv => ['docker', 'image', 'inspect', '--format', '{{.Size}}', image];
export const LOAD_ARGV: Argv = ['docker', 'load'];
export const saveArgv = (image: string): Argv => ['docker', 'save', image];

/** Runs a local command to its end; `missing` when the program is not on PATH. */
function runLocal(argv: Argv): Promise<{ code: number; stdout: string; stderr: string } | 'missing'> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ENOENT' ? 'missing' : { code: -1, stdout, stderr: err.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const firstLine = (text: string) => text.trim().split('\n')[0]?.trim() ?? '';

/**
 * The images' sizes in this machine's Docker (for progress). Checked before anything on a host
 * changes: a missing image, or no Docker here, is one line saying what to do.
 */
export async function localImageSizes(images: readonly string[]): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const image of images) {
    const r = await runLocal(imageInspectArgv(image));
    if (r === 'missing') throw new SettingsError(`--send-images sends the base images from this machine's Docker, but there is no docker command here: install Docker here, or pass --no-send-images to let the host pull them`);
    if (r.code !== 0) {
      if (/no such (image|object)/i.test(r.stderr)) throw new SettingsError(`--send-images: ${image} is not in this machine's Docker; pull it here first (docker pull ${image})`);
      throw new SettingsError(`--send-images: cannot ask this machine's Docker about ${image}: ${firstLine(r.stderr) || `exit code ${r.code}`}`);
    }
    sizes.set(image, Number(r.stdout.trim()) || 0);
  }
  return sizes;
}

/** Which of the images the host's Docker has. */
async function imagesOnHost(exec: Executor, images: readonly string[]): Promise<Set<string>> {
  const codes = await Promise.all(images.map((i) => exec.run(imageInspectArgv(i), { allowFailure: true, timeoutMs: 60_000 })));
  return new Set(images.filter((_, n) => codes[n]!.code === 0));
}

/** One image: `docker save` here into `docker load` there; returns the bytes sent. */
export async function sendImage(exec: Executor, image: string, size: number, progress: (sentBytes: number, size: number) => void): Promise<number> {
  const save = spawn(saveArgv(image)[0]!, saveArgv(image).slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let saveErr = '';
  save.stderr.on('data', (d: Buffer) => (saveErr = (saveErr + d.toString()).slice(-4096)));
  const saved = new Promise<number>((resolve) => {
    save.on('error', () => resolve(-1));
    save.on('close', (code) => resolve(code ?? -1));
  });
  let sent = 0;
  // counts what the SSH channel actually takes (a 'data' listener would start the flow before it is piped there)
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      progress(sent, size);
      done(null, chunk);
    },
  });
  save.stdout.pipe(counted);
  try {
    const load = await exec.host.exec(LOAD_ARGV, { sudo: true, stdin: counted, allowFailure: true, timeoutMs: 2 * 60 * 60_000 });
    // docker load failed: a failed `docker save` ends by itself (and is the cause to report); one
    // still writing is blocked on a pipe nobody reads and is stopped
    let stopped = false;
    if (load.code !== 0) {
      const timer = setTimeout(() => (stopped = save.kill()), 3_000);
      await saved;
      clearTimeout(timer);
    }
    const savedCode = await saved;
    if (savedCode !== 0 && !stopped) throw new Error(`--send-images: docker save ${image} failed on this machine: ${firstLine(saveErr) || `exit code ${savedCode}`}`);
    if (load.code !== 0) throw new RemoteCommandError(`docker load of ${image} (${formatBytes(sent)} sent from here)`, load.code, `${load.stdout}${load.stderr}`.trim().split('\n').slice(-20).join('\n'), exec.host.label);
    return sent;
  } finally {
    if (save.exitCode === null && save.signalCode === null) save.kill();
  }
}

/** The deploy step: send what the host lacks; a dry run only says what would be sent. */
export async function sendBaseImages(exec: Executor, sizes: ReadonlyMap<string, number>, progress: (text: string) => void): Promise<{ status: 'done' | 'unchanged' | 'planned'; detail: string }> {
  const images = [...sizes.keys()];
  const plan = planImageSends(images, await imagesOnHost(exec, images));
  if (plan.send.length === 0) return { status: 'unchanged', detail: 'the host has them' };
  const what = plan.send.map((i) => `${i} (${formatBytes(sizes.get(i)!)})`).join(', ');
  if (exec.dryRun) return { status: 'planned', detail: `send ${what}` };
  const sent: string[] = [];
  for (const image of plan.send) {
    const bytes = await sendImage(exec, image, sizes.get(image)!, (n, size) => progress(`${image}: ${formatBytes(n)} of ~${formatBytes(size)} sent`));
    const check = await exec.run(imageInspectArgv(image), { allowFailure: true });
    if (check.code !== 0) throw new Error(`--send-images: the host loaded ${formatBytes(bytes)} but has no image named ${image} afterwards`);
    sent.push(`${image} (${formatBytes(bytes)})`);
  }
  return { status: 'done', detail: `sent ${sent.join(', ')}${plan.present.length ? `; the host had ${plan.present.join(', ')}` : ''}` };
}
