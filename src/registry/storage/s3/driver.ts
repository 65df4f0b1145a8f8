import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FileInfo, StorageDriver } from '../driver.js';
import { ConfigError } from '../../config-error.js';
import type { BlobStore } from '../blob-store.js';
import { formatStorageUrl, type S3Credentials, type S3Settings } from './settings.js';
import { S3UploadStore } from './uploads.js';
import { STORAGE_ROOT } from '../paths.js';

/** Above this a server-side copy must be done in parts (S3's CopyObject limit). */
const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;
const COPY_PART = 1024 * 1024 * 1024;

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

function missing(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path}: no such object`), { code: 'ENOENT' });
}

export interface PartRef {
  PartNumber: number;
  ETag: string;
}

/**
 * distribution's layout in a bucket: `<prefix>/docker/registry/v2/<path>`. There are no
 * directories: "a directory" is every key under `<path>/`, listed with a delimiter so walking
 * repositories costs one request per level, never one per object.
 */
export class S3Driver implements StorageDriver {
  readonly client: S3Client;
  readonly bucket: string;
  private readonly base: string;

  constructor(
    readonly settings: S3Settings,
    credentials?: S3Credentials,
  ) {
    this.bucket = settings.bucket;
    this.base = settings.prefix ? `${settings.prefix}/${STORAGE_ROOT}` : STORAGE_ROOT;
    const ca = settings.caFile ? [...rootCertificates, readFileSync(settings.caFile, 'utf8')] : undefined;
    this.client = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.pathStyle,
      credentials,
      // Streamed bodies with trailing checksums are refused by several S3-compatible stores (RGW 16).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
      requestHandler: {
        httpAgent: new http.Agent({ keepAlive: true, maxSockets: 128 }),
        httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 128, ca }),
        connectionTimeout: 10_000,
      },
    });
  }

  key(path: string): string {
    if (path === '') return this.base;
    if (path.split('/').some((s) => s === '..' || s === '.' || s === '')) throw new Error(`invalid storage path: ${path}`);
    return `${this.base}/${path}`;
  }

  async getContent(path: string): Promise<Buffer | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async putContent(path: string, data: Buffer | string): Promise<void> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(path), Body: body, ContentLength: body.length }));
  }

  async stat(path: string): Promise<FileInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      return { size: out.ContentLength ?? 0, modTime: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  reader(path: string, range?: { start: number; end: number }): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    this.client
      .send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path), Range: range ? `bytes=${range.start}-${range.end}` : undefined }))
      .then((res) => pipeline(res.Body as Readable, out))
      .catch((err) => out.destroy(isNotFound(err) ? missing(path) : (err as Error)));
    return out;
  }

  async list(dir: string): Promise<string[]> {
    const prefix = `${this.key(dir)}/`;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const p of out.CommonPrefixes ?? []) names.push(p.Prefix!.slice(prefix.length, -1));
      for (const o of out.Contents ?? []) names.push(o.Key!.slice(prefix.length));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return names;
  }

  /** Every key under a "directory" (no delimiter), page by page. */
  private async *keysUnder(path: string): AsyncGenerator<string[]> {
    let token: string | undefined;
    do {
      const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.key(path)}/`, ContinuationToken: token }));
      yield (out.Contents ?? []).map((o) => o.Key!);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(path: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
    for await (const keys of this.keysUnder(path)) {
      if (keys.length === 0) continue;
      await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    }
  }

  /** Server-side copy of one object; in parts above S3's single-copy limit. */
  async copyObject(srcKey: string, dstKey: string, size?: number, ifMatch?: string): Promise<void> {
    const length = size ?? (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: srcKey }))).ContentLength ?? 0;
    const source = `${this.bucket}/${srcKey.split('/').map(encodeURIComponent).join('/')}`;
    if (length <= MAX_SINGLE_COPY) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: dstKey, CopySource: source, CopySourceIfMatch: ifMatch }));
      return;
    }
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: dstKey }));
    try {
      const parts: PartRef[] = [];
      for (let start = 0, n = 1; start < length; start += COPY_PART, n++) {
        const end = Math.min(start + COPY_PART, length) - 1;
        const out = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: dstKey,
            UploadId,
            PartNumber: n,
            CopySource: source,
            CopySourceRange: `bytes=${start}-${end}`,
            CopySourceIfMatch: ifMatch,
          }),
        );
        parts.push({ PartNumber: n, ETag: out.CopyPartResult!.ETag! });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: dstKey, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: dstKey, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Copy then delete: the destination is complete before it is visible (S3 writes are atomic). The
   * copy is conditional on the ETag just read, so the LastModified returned is that of the bytes
   * moved (a copy gets a new LastModified, which the GC must not take for a client's rewrite).
   */
  async move(src: string, dst: string): Promise<FileInfo | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(src) }));
      await this.copyObject(this.key(src), this.key(dst), head.ContentLength, head.ETag);
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(src) }));
      return { size: head.ContentLength ?? 0, modTime: head.LastModified ?? new Date(0) };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    let moved = 0;
    const from = `${this.key(src)}/`;
    for await (const keys of this.keysUnder(src)) {
      for (const key of keys) {
        await this.copyObject(key, `${this.key(dst)}/${key.slice(from.length)}`);
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
        moved++;
      }
    }
    if (moved === 0) throw missing(src);
    return null;
  }

  /** A 200 from S3 already means the object is stored durably. */
  async sync(): Promise<void> {}

  async openAppend(): Promise<Writable> {
    throw new Error('the S3 driver has no appendable files; uploads go through S3 multipart uploads');
  }

  async openForSend(path: string) {
    let size: number;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      size = head.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return {
      size,
      send: async (out: Writable, range?: { start: number; end: number }) => {
        const res = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path), Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
        );
        await pipeline(res.Body as Readable, out);
      },
      close: async () => {},
    };
  }

  /** With `redirect`, a short-lived presigned URL so the client GETs the object straight from the store. */
  async redirectUrl(path: string): Promise<string | null> {
    if (!this.settings.redirect) return null;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }), { expiresIn: 20 * 60 });
  }

  uploadSessions(blobs: BlobStore): S3UploadStore {
    return new S3UploadStore(this, blobs);
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.base}/`, MaxKeys: 1 }));
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const where = this.describe();
      if (e.name === 'NoSuchBucket') throw new ConfigError(`${where}: the bucket does not exist; create it first`);
      if (e.name === 'InvalidAccessKeyId' || e.name === 'SignatureDoesNotMatch' || e.$metadata?.httpStatusCode === 403) {
        throw new ConfigError(`${where}: access denied (${e.name}); check the S3 credentials file`);
      }
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT') {
        throw new ConfigError(`${where}: cannot reach the endpoint (${e.code})`);
      }
      throw new ConfigError(`${where}: ${e.name ?? 'error'}: ${e.message ?? String(err)}`);
    }
  }

  describe(): string {
    return formatStorageUrl(this.settings);
  }

  close(): void {
    this.client.destroy();
  }
}
