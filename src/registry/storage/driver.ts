import type { Readable, Writable } from 'node:stream';
import type { BlobStore } from './blob-store.js';
import type { UploadSessions } from './upload-sessions.js';

export interface FileInfo {
  size: number;
  modTime: Date;
}

/**
 * The few primitives the registry needs from a storage backend. Paths are relative to the
 * registry root (`docker/registry/v2/...`) and always use `/`. Kept small so that an object
 * store can implement it: no directory renames, appends only through `openAppend`.
 */
export interface StorageDriver {
  /** Whole small file, or null when it does not exist. */
  getContent(path: string): Promise<Buffer | null>;
  /**
   * Replace a small file atomically: readers see the old or the new content, never a mix. When it
   * resolves the new content survives a power cut, unless `durable: false` (scratch files).
   */
  putContent(path: string, data: Buffer | string, opts?: { durable?: boolean }): Promise<void>;
  /** A file's size and time, or null. Only files: an object store has no directories (use `list`). */
  stat(path: string): Promise<FileInfo | null>;
  /** Byte range is inclusive, as in HTTP. Errors with code ENOENT when the file is missing. */
  reader(path: string, range?: { start: number; end: number }): Readable;
  /** Names of the direct children of a directory; empty when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** Removes a file or a whole directory tree; missing is not an error. */
  delete(path: string): Promise<void>;
  /**
   * Atomically makes `src` appear at `dst` (replacing it), creating parents. Resolves to the
   * modification time the file had at `src` (what was moved, not when), when it was one file.
   */
  move(src: string, dst: string): Promise<FileInfo | null>;
  /** Makes a file's bytes durable (fdatasync) before it is committed somewhere visible. */
  sync(path: string): Promise<void>;
  /** A writer that appends to the file, creating it and its parents when needed. */
  openAppend(path: string): Promise<Writable>;
  /**
   * Opens a file for sending; resolves null when it does not exist. `send` writes the byte range
   * to `out` (ending it) with the driver's most efficient method.
   */
  openForSend(path: string): Promise<{ size: number; send(out: Writable, range?: { start: number; end: number }): Promise<void>; close(): Promise<void> } | null>;
  /** Where the data lives, for messages and disk-usage reports. */
  describe(): string;
  /** Where unfinished uploads live: each driver keeps their bytes its own way. */
  uploadSessions(blobs: BlobStore): UploadSessions;
  /** A URL a client may fetch the file from directly, when the driver is set to redirect. */
  redirectUrl?(path: string): Promise<string | null>;
  /**
   * Fails with a one-line ConfigError when the store cannot be used (missing bucket, bad
   * credentials, a data directory that is a file or cannot be written when `writable`).
   */
  check?(opts?: { writable?: boolean }): Promise<void>;
  /** Releases connections. */
  close?(): void;
}
