import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config-error.js';

/** Where an S3-compatible store is and how to talk to it. Credentials are kept apart from the URL. */
export interface S3Settings {
  bucket: string;
  /** Key prefix before `docker/registry/v2/`, without leading or trailing `/`; may be empty. */
  prefix: string;
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  /** PEM file of extra CA certificates for an endpoint with a private CA. */
  caFile?: string;
  /** Multipart part size in bytes: the most memory one upload holds. */
  partSize: number;
  /** Answer blob GETs with a redirect to a presigned URL. */
  redirect: boolean;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

const MiB = 1024 * 1024;
export const DEFAULT_PART_SIZE = 16 * MiB;
/** S3 refuses parts below 5 MiB (but the last) and numbers above 10,000. */
export const MIN_PART_SIZE = 5 * MiB;
const MAX_PART_SIZE = 5 * 1024 * MiB;

function parseSize(text: string, what: string): number {
  const m = /^(\d+)\s*(|b|k|kib|m|mib|g|gib)$/i.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: "${text}" is not a size like 16MiB`);
  const unit = m[2]!.toLowerCase();
  const factor = unit.startsWith('g') ? 1024 * MiB : unit.startsWith('m') ? MiB : unit.startsWith('k') ? 1024 : 1;
  return Number(m[1]) * factor;
}

function parseFlag(value: string | null, what: string): boolean | undefined {
  if (value === null) return undefined;
  if (/^(|true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${what}: "${value}" is not true or false`);
}

const KNOWN = new Set(['endpoint', 'region', 'path-style', 'ca', 'part-size', 'redirect']);

/**
 * `s3://bucket/prefix?endpoint=https://…&region=…&path-style=true&ca=/file&part-size=16MiB&redirect=true`.
 * An endpoint (MinIO, Ceph RGW, R2, B2) implies path-style addressing unless told otherwise.
 */
export function parseStorageUrl(text: string): S3Settings {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`storage "${text}" is not a URL like s3://bucket/prefix?endpoint=https://s3.example.com`);
  }
  if (url.protocol !== 's3:') throw new ConfigError(`storage "${text}": only s3:// URLs are supported (or a data directory)`);
  if (url.username || url.password) throw new ConfigError('storage URL: put credentials in a credentials file (--s3-credentials), never in the URL');
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError(`storage URL: "${bucket}" is not a valid bucket name`);
  for (const key of url.searchParams.keys()) {
    if (!KNOWN.has(key)) throw new ConfigError(`storage URL: unknown option "${key}" (known: ${[...KNOWN].join(', ')})`);
  }
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  if (prefix && prefix.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw new ConfigError(`storage URL: prefix "${prefix}" may not contain empty, . or .. segments`);
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(endpoint)) {
    throw new ConfigError(`storage URL: endpoint "${endpoint}" is not like https://host:port`);
  }
  const partSizeText = url.searchParams.get('part-size');
  const partSize = partSizeText ? parseSize(partSizeText, 'storage URL part-size') : DEFAULT_PART_SIZE;
  if (partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) throw new ConfigError('storage URL: part-size must be between 5MiB and 5GiB');
  return {
    bucket,
    prefix,
    endpoint: endpoint?.replace(/\/$/, ''),
    region: url.searchParams.get('region') || 'us-east-1',
    pathStyle: parseFlag(url.searchParams.get('path-style'), 'storage URL path-style') ?? endpoint !== undefined,
    caFile: caOption(url),
    partSize,
    redirect: parseFlag(url.searchParams.get('redirect'), 'storage URL redirect') ?? false,
  };
}

function caOption(url: URL): string | undefined {
  return url.searchParams.get('ca') ?? undefined;
}

/**
 * The `ca=` file of a storage URL, read as parseStorageUrl reads it, without judging the rest: deploy
 * uploads that file and points the option at the copy.
 */
export function storageCaFile(text: string): string | undefined {
  try {
    return caOption(new URL(text));
  } catch {
    return undefined;
  }
}

/** The same settings as a URL again (for messages and for deploy to pass on). */
export function formatStorageUrl(s: S3Settings): string {
  const q = new URLSearchParams();
  if (s.endpoint) q.set('endpoint', s.endpoint);
  if (s.region !== 'us-east-1') q.set('region', s.region);
  if (s.pathStyle !== (s.endpoint !== undefined)) q.set('path-style', String(s.pathStyle));
  if (s.caFile) q.set('ca', s.caFile);
  if (s.partSize !== DEFAULT_PART_SIZE) q.set('part-size', `${s.partSize / MiB}MiB`);
  if (s.redirect) q.set('redirect', 'true');
  // Readable in messages: only what would break the query is escaped (endpoint keeps its `://`).
  const query = [...q].map(([k, v]) => `${k}=${v.replace(/[%&#+ ]/g, encodeURIComponent)}`).join('&');
  return `s3://${s.bucket}${s.prefix ? `/${s.prefix}` : ''}${query ? `?${query}` : ''}`;
}

/**
 * A credentials file: `access_key_id = …` and `secret_access_key = …` lines (the AWS names
 * `aws_access_key_id`/`AWS_ACCESS_KEY_ID` work too); `#` starts a comment.
 */
export function parseCredentials(text: string, source: string): S3Credentials {
  const values = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('[')) continue;
    const m = /^(?:export\s+)?([A-Za-z_]+)\s*[=:]\s*(.*)$/.exec(line);
    // never quote the line: a bare secret key on a line of its own is the usual mistake
    if (!m) throw new ConfigError(`${source}: line ${index + 1} is not "key = value" (expected access_key_id = … and secret_access_key = …)`);
    values.set(m[1]!.toLowerCase().replace(/^aws_/, ''), m[2]!.trim().replace(/^(["'])(.*)\1$/, '$2'));
  }
  const accessKeyId = values.get('access_key_id');
  const secretAccessKey = values.get('secret_access_key');
  if (!accessKeyId || !secretAccessKey) throw new ConfigError(`${source}: needs both access_key_id and secret_access_key`);
  return { accessKeyId, secretAccessKey };
}

export function readCredentialsFile(file: string): S3Credentials {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the S3 credentials ${file === '-' ? 'from stdin' : `file ${file}`}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseCredentials(text, file === '-' ? 'stdin' : file);
}
