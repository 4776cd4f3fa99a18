// The committed swarm identity goldens (player-core/tests/fixtures/swarm/goldens.json) must
// be what the installed hls.js and p2p-media-loader packages produce today: a package update
// that changes how swarms are named shows up here, not as viewers silently missing each other.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

test('swarm goldens match the npm packages', () => {
  const run = spawnSync(process.execPath, ['tests/interop/swarm-goldens.mjs', '--check'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `swarm-goldens.mjs --check failed:\n${run.stdout}${run.stderr}`);
});
