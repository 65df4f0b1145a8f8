import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { endpointFromUrl } from '../../src/registry/events/endpoints.js';
import { EventQueue } from '../../src/registry/events/queue.js';
import type { RegistryEvent } from '../../src/registry/events/event.js';
import { ConfigError } from '../../src/registry/config.js';

const event = (tag: string): RegistryEvent => ({
  id: tag,
  timestamp: new Date().toISOString(),
  action: 'push',
  target: { digest: 'sha256:' + '0'.repeat(64), repository: 'r', url: 'http://x/v2/r/manifests/x', tag },
  request: { id: '', addr: '', host: '', method: 'PUT', useragent: '' },
  actor: {},
  source: { addr: 'h', instanceID: 'i' },
});

describe('event queue', () => {
  it('holds at most maxEvents: the oldest are dropped and counted, the rest survive a restart', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-queue-'));
    try {
      // port 9 on loopback: nothing listens, every post fails, so everything waits
      const endpoints = [endpointFromUrl('http://127.0.0.1:9/events', 0)];
      const q = EventQueue.open(dir, endpoints, 3, () => {});
      for (const t of ['a', 'b', 'c', 'd', 'e']) q.append(event(t));
      assert.equal(q.dropped, 2);
      assert.deepEqual(q.stats(), [{ endpoint: 'notify-1', pending: 3, delivered: 0, failedPosts: q.stats()[0]!.failedPosts }]);
      q.close();
      const again = EventQueue.open(dir, endpoints, 3, () => {});
      assert.equal(again.stats()[0]!.pending, 3, 'c, d and e are still waiting after a restart');
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a URL with credentials in it (URLs appear in logs) and what is not http(s)', () => {
    assert.throws(() => endpointFromUrl('http://user:secret@example.test/', 0), (e: unknown) => e instanceof ConfigError && /headers, not in the URL/.test((e as Error).message));
    assert.throws(() => endpointFromUrl('ftp://example.test/', 0), ConfigError);
  });
});
