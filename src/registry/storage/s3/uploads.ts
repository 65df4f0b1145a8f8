import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { RegistryError } from '../../errors.js';
import type { BlobStore } from '../blob-store.js';
import { blobDataPath, uploadDataPath, uploadDir, uploadFilePath, uploadStartedAtPath } from '../paths.js';
import { UploadSessionStore } from '../upload-session-store.js';
import type { PartRef, S3Driver } from './driver.js';
import { MIN_PART_SIZE } from './settings.js';

/** Everything another replica needs to continue an upload; stored next to `startedat`. */
interface UploadState {
  /** S3 multipart upload of `_uploads/<id>/data`, created with the first full part. */
  multipartId?: string;
  parts: (PartRef & { size: number })[];
  partsBytes: number;
  /** Bytes after the last part (fewer than S3's minimum part size), in their own object. */
  tail?: { path: string; size: number };
}

const statePath = (name: string, id: string) => uploadFilePath(name, id, 's3upload.json');
const size = (s: UploadState) => s.partsBytes + (s.tail?.size ?? 0);

/**
 * Upload sessions on S3: bytes go into a multipart upload part by part (at most two parts in
 * memory per upload) and the state lives in the bucket, so any replica can continue an upload
 * another one started. The running hash stays in the memory of the replica that received the
 * bytes; when a different replica commits, the shared store re-reads the assembled object to hash it.
 */
export class S3UploadStore extends UploadSessionStore<UploadState, S3Driver> {
  constructor(driver: S3Driver, blobs: BlobStore) {
    super(driver, blobs);
  }

  private writeState(name: string, id: string, state: UploadState): Promise<void> {
    return this.driver.putContent(statePath(name, id), JSON.stringify(state));
  }

  async create(name: string): Promise<string> {
    const id = randomUUID();
    // startedat first: a purge that sees the upload's keys then always sees its age.
    await this.driver.putContent(uploadStartedAtPath(name, id), new Date().toISOString());
    await this.writeState(name, id, { parts: [], partsBytes: 0 });
    return id;
  }

  protected async find(name: string, id: string): Promise<UploadState | null> {
    const raw = await this.driver.getContent(statePath(name, id));
    return raw ? (JSON.parse(raw.toString('utf8')) as UploadState) : null;
  }

  protected bytesIn(state: UploadState): number {
    return size(state);
  }

  private async uploadPart(name: string, id: string, state: UploadState, body: Buffer): Promise<void> {
    const { client, bucket } = this.driver;
    const Key = this.driver.key(uploadDataPath(name, id));
    if (!state.multipartId) {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
      // Recorded at once (with the parts as they were) so a cancel or purge can abort it even if
      // this request dies before the state is written again.
      const { parts, partsBytes, tail } = state;
      await this.writeState(name, id, { parts: [...parts], partsBytes, tail, multipartId: UploadId });
      state.multipartId = UploadId;
    }
    const PartNumber = state.parts.length + 1;
    const out = await client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId: state.multipartId, PartNumber, Body: body, ContentLength: body.length }));
    state.parts.push({ PartNumber, ETag: out.ETag!, size: body.length });
    state.partsBytes += body.length;
  }

  protected async write(name: string, id: string, state: UploadState, body: Readable, hash: Hash | undefined): Promise<number> {
    const oldTail = state.tail;
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    if (oldTail) {
      const bytes = await this.driver.getContent(oldTail.path);
      if (!bytes || bytes.length !== oldTail.size) throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload data is missing from the store');
      pending.push(bytes);
      pendingBytes = bytes.length;
    }
    const partSize = this.driver.settings.partSize;
    let written = 0;
    let inFlight: Promise<void> = Promise.resolve();
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash?.update(chunk);
        written += chunk.length;
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= partSize) {
          const part = Buffer.concat(pending, pendingBytes);
          pending.length = 0;
          pendingBytes = 0;
          // One part uploads while the next is received; never more than two in memory.
          await inFlight;
          inFlight = this.uploadPart(name, id, state, part);
          inFlight.catch(() => undefined);
        }
      }
    } finally {
      // The state object is untouched so far: parts sent past it are overwritten by a retry.
      await inFlight.catch(() => undefined);
    }
    await inFlight;
    if (written === 0) return 0;
    const rest = Buffer.concat(pending, pendingBytes);
    state.tail = undefined;
    if (rest.length >= MIN_PART_SIZE) await this.uploadPart(name, id, state, rest);
    else if (rest.length > 0) {
      // Named by its end offset so the state never points at a tail written for a later state.
      const path = uploadFilePath(name, id, `tail.${state.partsBytes + rest.length}`);
      await this.driver.putContent(path, rest);
      state.tail = { path, size: rest.length };
    }
    await this.writeState(name, id, state);
    if (oldTail && oldTail.path !== state.tail?.path) await this.driver.delete(oldTail.path);
    return written;
  }

  /** Assembles the bytes into one object and returns where it is (the upload's tail when there are no parts). */
  protected async assemble(name: string, id: string, state: UploadState): Promise<string | null> {
    if (!state.multipartId) return state.tail?.path ?? null;
    // A commit retried after a failure past this step finds the object already whole.
    if ((await this.driver.stat(uploadDataPath(name, id)))?.size !== size(state)) {
      const { client, bucket } = this.driver;
      if (state.tail) {
        const bytes = await this.driver.getContent(state.tail.path);
        if (!bytes) throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload data is missing from the store');
        await this.uploadPart(name, id, state, bytes);
        state.tail = undefined;
      }
      const Key = this.driver.key(uploadDataPath(name, id));
      const Parts = state.parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag }));
      await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId: state.multipartId, MultipartUpload: { Parts } }));
    }
    // complete: nothing left to abort when the session is removed
    state.multipartId = undefined;
    return uploadDataPath(name, id);
  }

  /** S3 cannot rename: the object is copied (server-side), and the session removed after. */
  protected async place(_name: string, _id: string, _state: UploadState, source: string | null, digest: string, total: number): Promise<boolean> {
    if (source) await this.driver.copyObject(this.driver.key(source), this.driver.key(blobDataPath(digest)), total);
    else await this.driver.putContent(blobDataPath(digest), Buffer.alloc(0));
    return false;
  }

  protected async remove(name: string, id: string, session: UploadState | null | undefined): Promise<void> {
    const state = session === undefined ? await this.find(name, id).catch(() => null) : session;
    if (state?.multipartId) {
      const Key = this.driver.key(uploadDataPath(name, id));
      await this.driver.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.driver.bucket, Key, UploadId: state.multipartId }))
        .catch(() => undefined);
    }
    await this.driver.delete(uploadDir(name, id));
  }
}
