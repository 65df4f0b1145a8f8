import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { buildCompose } from '../../src/templates/render.js';
import { completeSettings } from '../../src/settings/resolve.js';

describe('deploy --no-ui', () => {
  const base = completeSettings({ target: 'root@h', domain: 'registry.example.com', user: 'admin', tls: 'self-signed' });
  const env = (ui?: boolean) =>
    (YAML.parse(buildCompose({ ...base, ui }, { version: '1.0.0', auth: true })) as { services: { registry: { environment: Record<string, string> } } }).services.registry
      .environment;

  it('turns the web UI off in the registry container, and leaves it on by default', () => {
    assert.equal(env(false).REGISTRY_UI_ENABLED, 'false');
    assert.equal(env(undefined).REGISTRY_UI_ENABLED, undefined);
    assert.equal(env(true).REGISTRY_UI_ENABLED, undefined);
  });
});
