// The first deploy onto a fresh Debian 12 (bookworm): the same checks as on Debian 13
// (test/helpers/bare-host/first-deploy.ts), on the previous stable release, which still makes up
// most existing servers. Debian 13 carries the rest of the sequence (test/e2e/bare-host.test.ts).
import { after, before, describe, it } from 'node:test';
import { startBareHostBed, type BareHostBed } from '../helpers/bare-host/bed.js';
import { firstDeploy } from '../helpers/bare-host/first-deploy.js';
import { bareHostSkipReason } from '../helpers/bare-host/root.js';

describe('deploy onto a fresh Debian 12 host', { skip: bareHostSkipReason() }, () => {
  let bed: BareHostBed;
  const timings: Record<string, number> = {};
  before(async () => {
    const started = Date.now();
    bed = await startBareHostBed({ suite: 'bookworm', name: 'bookworm' });
    timings.bed = Date.now() - started;
  });
  after(async () => {
    console.log(`bare-host bookworm timings (ms): ${JSON.stringify({ ...bed?.timings, ...timings })}`);
    await bed?.cleanup();
  });

  it("first deploy installs Docker from Docker's repository, runs the stack with Compose v2 and proves it", async () => {
    const first = await firstDeploy(bed, 'bare-host-bookworm-password-1');
    timings.firstDeploy = first.ms;
    timings.dockerInstall = first.dockerMs;
  });
});
