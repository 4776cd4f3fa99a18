// The committed wire goldens (player-core/tests/fixtures/wire/goldens.json) must still be what the
// installed p2p-media-loader-core produces: player-core's wire tests compare Shoal's codec with
// them, so a package upgrade that changes the wire shows up here first.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('wire goldens match the installed p2p-media-loader-core', { timeout: 60_000 }, () => {
  const run = spawnSync(process.execPath, ['tests/interop/wire-goldens.mjs', '--check'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `wire-goldens --check failed:\n${run.stdout}${run.stderr}`);
  assert.match(run.stdout, /encode and \d+ decode cases match p2p-media-loader-core@2\.3\.1/);
});
