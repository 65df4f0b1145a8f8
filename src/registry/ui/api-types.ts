// The shapes of the UI API's answers that the server builds (inspect.ts, storage-summary.ts) and the
// page reads (browser/api.ts), declared once. Types only, no imports: the browser's tsconfig (DOM,
// no Node types) checks this file as well as the server's.

export interface ConfigSummary {
  digest: string;
  mediaType: string;
  size: number;
  created?: string;
  os?: string;
  architecture?: string;
  variant?: string;
  author?: string;
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  user?: string;
  /** Names only: values may hold secrets. */
  env: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
}

export interface PlatformEntry {
  /** `os/architecture[/variant]`, or `unknown` */
  platform: string;
  digest: string;
  mediaType: string;
  /** Compressed size of the child image: config plus layers. */
  size: number;
  /** A buildx attestation (provenance, SBOM) stored as an index child, not a runnable platform. */
  attestation: boolean;
  present: boolean;
}

export interface DiskUsage {
  /** The directory statfs was asked about: the data directory, or its nearest existing parent. */
  path: string;
  /** Bytes of the filesystem in all. */
  size: number;
  /** Bytes not in use (including those reserved for root). */
  free: number;
  /** Bytes an unprivileged process can still write. */
  available: number;
}

export interface StorageSummary {
  repositories: number;
  tags: number;
  blobs: number;
  /** Bytes of all blob data in the store (layers, configs, manifests), each blob once. */
  blobBytes: number;
  disk: DiskUsage | null;
  computedAt: string;
}
