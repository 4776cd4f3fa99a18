// SHA-256 speed in headless Chromium: WebCrypto (`crypto.subtle.digest`) against the `sha2`
// crate compiled to wasm (player-wasm's `sha256`, the code that checks segments against
// PeerTube's segments-sha256.json), on one buffer the size of a segment.
//
// A benchmark, not a test: not part of scripts/test.sh or CI. Run from the repository root:
//   bash scripts/build-wasm.sh                   # player-wasm/pkg with the release profile
//   (cd tests && npm ci --ignore-scripts)        # playwright-core
//   node tests/bench/sha256.mjs [ROUNDS] [MIB]   # default 50 rounds of a 2 MiB buffer
//
// It serves player-wasm/pkg on 127.0.0.1 (an ephemeral port; a secure context, so WebCrypto is
// there), opens one page in Debian's Chromium (SHOAL_CHROMIUM overrides the binary), checks that
// both sides give the same digest, warms both up, then times ROUNDS hashes of each, interleaved
// so that both see the same machine load. The wasm figure includes copying the buffer into wasm
// memory, which a real call pays too. Prints the median, min and p90 in ms and the median speed.
// performance.now() is coarsened to 0.1 ms in a page that is not cross-origin isolated.
//
// The wasm side is built with the workspace's release profile (opt-level "s"); to see what
// the hash costs at opt-level 3, add `[profile.release.package.sha2] opt-level = 3` to the root
// Cargo.toml before building.

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, REPO_ROOT } from '../e2e/harness.mjs';

const ROUNDS = Number(process.argv[2] ?? 50);
const MIB = Number(process.argv[3] ?? 2);
const PKG = path.join(REPO_ROOT, 'player-wasm', 'pkg');
const CHROMIUM = process.env.SHOAL_CHROMIUM ?? '/usr/bin/chromium';

const PAGE = `<!doctype html><meta charset="utf-8"><title>sha256 bench</title>
<script type="module">
  import init, { sha256 } from '/pkg/shoal_wasm.js';
  window.ready = init().then(() => { window.wasmSha256 = sha256; });
</script>`;

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    return;
  }
  const file = path.normalize(path.join(PKG, url.pathname.replace(/^\/pkg\//, '')));
  if (!url.pathname.startsWith('/pkg/') || !file.startsWith(PKG + path.sep)) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});

async function main() {
  try {
    await readFile(path.join(PKG, 'shoal_wasm_bg.wasm'));
  } catch {
    throw new Error('player-wasm/pkg/shoal_wasm_bg.wasm not found: run bash scripts/build-wasm.sh');
  }
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    await page.evaluate(() => window.ready);
    const result = await page.evaluate(
      async ({ rounds, bytes }) => {
        // Deterministic, incompressible-looking content (xorshift32).
        const buffer = new Uint8Array(bytes);
        let x = 0x12345678;
        for (let i = 0; i < buffer.length; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          buffer[i] = x & 0xff;
        }
        const hex = (b) => Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
        const web = async () => new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
        const wasm = () => window.wasmSha256(buffer);

        const same = hex(await web()) === hex(wasm());
        for (let i = 0; i < 5; i++) {
          await web();
          wasm();
        }
        const times = { webcrypto: [], wasm: [] };
        for (let i = 0; i < rounds; i++) {
          // Alternate which goes first, so neither always runs on a warmer cache.
          const order = i % 2 ? ['wasm', 'webcrypto'] : ['webcrypto', 'wasm'];
          for (const side of order) {
            const start = performance.now();
            if (side === 'wasm') wasm();
            else await web();
            times[side].push(performance.now() - start);
          }
        }
        return { same, digest: hex(wasm()), times, userAgent: navigator.userAgent };
      },
      { rounds: ROUNDS, bytes: MIB * 1024 * 1024 },
    );

    const stats = (values) => {
      const sorted = [...values].sort((a, b) => a - b);
      const n = sorted.length;
      const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
      return { median, min: sorted[0], p90: sorted[Math.min(n - 1, Math.floor(0.9 * n))] };
    };
    console.log(`${result.userAgent}`);
    console.log(`SHA-256 of a ${MIB} MiB buffer, ${ROUNDS} rounds each (digest ${result.digest}, both sides agree: ${result.same})`);
    console.log('side        median ms   min ms    p90 ms   MiB/s (median)');
    for (const side of ['webcrypto', 'wasm']) {
      const s = stats(result.times[side]);
      const ms = (v, width) => v.toFixed(2).padStart(width);
      const speed = (MIB / (s.median / 1000)).toFixed(0).padStart(6);
      console.log(`${side.padEnd(10)}  ${ms(s.median, 9)}  ${ms(s.min, 7)}  ${ms(s.p90, 8)}   ${speed}`);
    }
    if (!result.same) process.exitCode = 1;
  } finally {
    await browser.close();
    server.close();
  }
}

await main();
