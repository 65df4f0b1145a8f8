import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../config-error.js';
import type { OpenOptions } from '../open.js';
import { STORAGE_ROOT } from '../paths.js';
import { FilesystemDriver } from './driver.js';

/** The `file` driver: a data directory in registry:2 layout. */
export function openDriver(dataDir: string, _config: unknown, { existing = false }: OpenOptions = {}): FilesystemDriver {
  if (existing) assertRegistryDataDir(dataDir);
  return new FilesystemDriver(dataDir);
}

/**
 * An existing folder that is empty (a registry that has stored nothing yet) or holds the registry:2
 * tree. Anything else is most likely the wrong path, and gc must not start writing into it.
 */
function assertRegistryDataDir(dataDir: string): void {
  if (!existsSync(dataDir)) throw new ConfigError(`${dataDir}: no such data directory (set --data)`);
  if (existsSync(path.join(dataDir, STORAGE_ROOT))) return;
  let entries: string[];
  try {
    entries = readdirSync(dataDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOTDIR' ? `${dataDir}: not a directory (set --data to the registry's data directory)` : `${dataDir}: cannot read it (${code})`);
  }
  if (entries.length > 0) {
    throw new ConfigError(`${dataDir}: holds other files but no registry data (no ${STORAGE_ROOT} in it); set --data to the registry's data directory`);
  }
}
