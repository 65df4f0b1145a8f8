import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pushBlob, sha256, startTestRegistry, type TestRegistry } from '../registry/harness.js';
import type { GcPhase } from '../../src/registry/gc/collect.js';
import { assertConsistent, gc, imageDoc, pull, pushImage, sleep } from './helpers.js';

const PHASES: GcPhase[] = ['scan', 'plan', 'trash', 'settle', 'recheck', 'finalize'];
const MAX_ITERATIONS = 12;
const TIME_BUDGET_MS = 20_000;

interface Staged {
  name: string;
  tag: string;
  bodies: string[];
  doc: object;
  bytes: Buffer;
}

/** The first half of a push: config and layers uploaded, manifest not yet PUT. */
async function stage(reg: TestRegistry, name: string, tag: string, seed: string): Promise<Staged> {
  const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux', seed });
  const bodies = [configBody, `first layer of ${seed}`, `second layer of ${seed}`];
  for (const b of bodies) await pushBlob(reg, name, b);
  const doc = imageDoc(
    { digest: sha256(configBody), size: Buffer.byteLength(configBody) },
    bodies.slice(1).map((b) => ({ digest: sha256(b), size: Buffer.byteLength(b) })),
  );
  return { name, tag, bodies, doc, bytes: Buffer.from(JSON.stringify(doc)) };
}

async function putStaged(reg: TestRegistry, s: Staged): Promise<{ status: number; code?: string }> {
  const res = await reg.fetch(`/v2/${s.name}/manifests/${s.tag}`, {
    method: 'PUT',
    body: s.bytes,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  const body = (await res.json().catch(() => ({}))) as { errors?: { code: string }[] };
  return { status: res.status, code: body.errors?.[0]?.code };
}

/**
 * What a client does when its manifest PUT says a blob is unknown (it was collected before the
 * manifest arrived): ask again with HEAD, upload what is missing, PUT again. Must then succeed.
 */
async function completePush(reg: TestRegistry, s: Staged): Promise<'first' | 'retried'> {
  const first = await putStaged(reg, s);
  if (first.status === 201) return 'first';
  assert.equal(first.status, 400, `unexpected PUT status ${first.status}`);
  assert.equal(first.code, 'MANIFEST_BLOB_UNKNOWN');
  for (const b of s.bodies) {
    const head = await reg.fetch(`/v2/${s.name}/blobs/${sha256(b)}`, { method: 'HEAD' });
    if (head.status === 404) await pushBlob(reg, s.name, b);
    else assert.equal(head.status, 200);
  }
  assert.equal((await putStaged(reg, s)).status, 201);
  return 'retried';
}

describe('garbage collection racing with pushes', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(async () => reg.close());

  it('a push interleaved with each phase of a run (graceMs 0) never loses a blob', async () => {
    const started = Date.now();
    const done: { name: string; tag: string }[] = [];
    const outcomes = { first: 0, retried: 0, restored: 0, garbageFreed: 0, background: 0 };

    // A background client pushing whole images (uploads, then the manifest) the whole time.
    let stop = false;
    const background = (async () => {
      for (let n = 0; !stop; n++) {
        const s = await stage(reg, 'race/background', `bg-${n}`, `background ${n}`);
        await completePush(reg, s);
        done.push({ name: s.name, tag: s.tag });
        outcomes.background++;
        await sleep(10);
      }
    })();

    let verified = 0;
    try {
      for (let i = 0; i < MAX_ITERATIONS && Date.now() - started < TIME_BUDGET_MS; i++) {
        const name = `race/repo${i % 3}`;
        const garbage = await pushImage(reg, name, `garbage ${i}`); // untagged: collectable
        const staged = await stage(reg, name, `t${i}`, `racer ${i}`);
        const at = PHASES[i % PHASES.length];
        // First round: the PUT completes inside the phase; second round: it runs alongside it.
        const inline = i < PHASES.length;
        let put: Promise<'first' | 'retried'> | undefined;
        const report = await gc(reg.dataDir, {
          deleteUntagged: true,
          settleMs: 30,
          onPhase: async (phase) => {
            if (phase !== at) return;
            put = completePush(reg, staged);
            if (inline) await put;
          },
        });
        const how = await put!;
        outcomes[how]++;
        outcomes.restored += report.restored;
        if (report.deletedManifests.some((m) => m.digest === garbage.digest)) outcomes.garbageFreed++;
        done.push({ name, tag: staged.tag });
        if (inline && at === 'plan') {
          // Manifest written after the scan, before anything moved: the layers were planned for
          // deletion and the re-check must have put them back.
          assert.equal(how, 'first');
          assert.ok(report.restored >= 3, `restored ${report.restored}`);
        }
        if (inline && (at === 'settle' || at === 'recheck')) assert.equal(how, 'retried', 'blobs were aside when the PUT checked');
        // Everything pushed so far (by the racer and the background client) pulls back intact.
        for (const p of done.slice(verified)) await pull(reg, p.name, p.tag);
        verified = done.length;
      }
    } finally {
      stop = true;
      await background;
    }
    await gc(reg.dataDir, { deleteUntagged: true });
    assertConsistent(reg.dataDir);
    for (const p of done) await pull(reg, p.name, p.tag);
    for (const p of done) {
      const res = await reg.fetch(`/v2/${p.name}/manifests/${p.tag}`, { method: 'HEAD' });
      assert.equal(res.status, 200);
    }
    assert.ok(outcomes.first > 0 && outcomes.retried > 0 && outcomes.restored > 0, JSON.stringify(outcomes));
    assert.ok(outcomes.garbageFreed > 0, 'the runs did collect garbage meanwhile');
    console.log(`race outcomes: ${JSON.stringify(outcomes)}`);
  });
});
