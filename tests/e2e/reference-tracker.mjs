// Spawns the reference WebTorrent tracker (npm bittorrent-tracker's server, through
// tests/interop/bittorrent-tracker-server.mjs) for interop tests, and stops it again.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, waitForStdout } from './harness.mjs';

const SCRIPT = path.join(REPO_ROOT, 'tests', 'interop', 'bittorrent-tracker-server.mjs');

/**
 * Starts bittorrent-tracker (WebSocket only) on host:port (port 0 picks a free one) and waits
 * for its "listening at ws://..." line. Returns { url, stop(), output() }.
 */
export async function startBittorrentTracker({ host = '127.0.0.1', port = 0, intervalS = 120, timeoutMs = 30_000 } = {}) {
  const child = spawn(
    process.execPath,
    [SCRIPT, '--host', host, '--port', String(port), '--interval-s', String(intervalS)],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const tail = [];
  const keep = (chunk) => {
    tail.push(chunk.toString());
    while (tail.length > 100) tail.shift();
  };
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Never leave it behind if the test process dies first.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let url;
  try {
    url = await waitForStdout(child, exited, /listening at (ws:\/\/\S+)/, {
      what: '"listening at" line',
      name: 'bittorrent-tracker',
      timeoutMs,
      onChunk: keep,
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    err.message += `\n--- bittorrent-tracker output ---\n${tail.join('')}`;
    throw err;
  }

  return {
    url,
    output: () => tail.join(''),
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve('late'), 5000);
      });
      const result = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (result === 'late') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
