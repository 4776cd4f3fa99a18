// Browser end-to-end harness: starts the demo server (shoal-demo) and a
// headless Debian Chromium driven by playwright-core, and gives the tests small
// helpers to watch playback. Everything started here is stopped by the
// returned stop()/close(), and killed at process exit as a last resort.
//
// Env overrides: SHOAL_DEMO_BIN (server binary), SHOAL_CHROMIUM (browser binary),
// SHOAL_ARTIFACTS (screenshot folder, default tests/artifacts).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS_DIR = process.env.SHOAL_ARTIFACTS ?? path.join(REPO_ROOT, 'tests', 'artifacts');
const DEMO_BIN = process.env.SHOAL_DEMO_BIN ?? path.join(REPO_ROOT, 'target', 'release', 'shoal-demo');
const CHROMIUM = process.env.SHOAL_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

// Last-resort cleanup if a test run dies without reaching its finally blocks.
const liveChildren = new Set();
process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves to promise's value, or to `fallback` after ms; the timer never
// outlives the race (a pending timer would keep node alive for nothing).
async function within(promise, ms, fallback = null) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until a spawned `child` prints a stdout line matching `pattern`; resolves to the first
 * capture group. Rejects after `timeoutMs`, on a spawn error, or when `exited` (a promise of
 * the child's exit) settles first. Every stdout chunk also goes to `onChunk` (for log tails).
 */
export function waitForStdout(child, exited, pattern, { what, name, timeoutMs, onChunk = () => {} }) {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${name} printed no ${what} within ${timeoutMs} ms`)), timeoutMs);
    child.stdout.on('data', (chunk) => {
      onChunk(chunk);
      buffer += chunk.toString();
      const match = pattern.exec(buffer);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}, signal ${signal}) before it printed its ${what}`));
    });
  });
}

/**
 * Starts `shoal-demo --port 0 --test-control --mount /fixtures=tests/fixtures/http`
 * from the repository root and waits for its "Shoal demo running at URL" line
 * (the first start generates the sample media with ffmpeg, hence the long timeout).
 * Returns { url, control: { addFault, requests, reset }, get(path), stop(), output() }.
 */
export async function startDemo({ extraArgs = [], timeoutMs = 180_000 } = {}) {
  if (!existsSync(DEMO_BIN)) {
    throw new Error(`${DEMO_BIN} not found: build it with \`cargo build --release -p shoal-demo\``);
  }
  const args = ['--port', '0', '--test-control', '--mount', '/fixtures=tests/fixtures/http', ...extraArgs];
  const child = spawn(DEMO_BIN, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);

  // Keep the tail of the server's output for error messages.
  const tail = [];
  const keep = (chunk) => {
    tail.push(chunk.toString());
    while (tail.length > 200) tail.shift();
  };
  child.stderr.on('data', keep);

  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
  });

  let url;
  try {
    url = await waitForStdout(child, exited, /Shoal demo running at (\S+)/, {
      what: '"Shoal demo running at" line',
      name: 'shoal-demo',
      timeoutMs,
      onChunk: keep,
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    err.message += `\n--- shoal-demo output (tail) ---\n${tail.join('')}`;
    throw err;
  }

  // A server that dies mid-test shows up as "connection refused" in the browser;
  // say so, with its last output, where the test log will show it.
  let stopping = false;
  exited.then(({ code, signal }) => {
    if (!stopping) {
      process.stderr.write(
        `\n!!! shoal-demo exited unexpectedly (code ${code}, signal ${signal})\n` +
          `--- shoal-demo output (tail) ---\n${tail.join('')}\n`,
      );
    }
  });

  const base = url.endsWith('/') ? url : `${url}/`;
  const endpoint = (p) => new URL(p.replace(/^\//, ''), base).href;

  async function call(method, p, body) {
    const res = await fetch(endpoint(p), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  const control = {
    /** Registers a fault: { path, range_start?, status, count }. */
    addFault: (fault) => call('POST', '/__control/faults', fault),
    /** The request log: [{ path, range, status }] in the order served. */
    requests: () => call('GET', '/__control/requests'),
    /** Paces media responses under `pathPrefix` at `bytesPerSecond` each (null: off). */
    throttle: (bytesPerSecond, pathPrefix = undefined) =>
      call('POST', '/__control/throttle', { bytes_per_second: bytesPerSecond, path_prefix: pathPrefix }),
    /** Clears faults, the throttle and the request log. */
    reset: () => call('POST', '/__control/reset'),
  };

  async function stop() {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const result = await within(exited, 5000);
    if (result === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  return {
    url: base,
    control,
    /** GET a path of the server; resolves to the Response. */
    get: (p) => fetch(endpoint(p)),
    stop,
    output: () => tail.join(''),
  };
}

/** Extra Chromium flags for several pages playing at once: none is throttled as a background tab. */
export const MULTI_PAGE_ARGS = [
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/**
 * Launches headless Chromium (Debian's, via playwright-core) with a fresh
 * temporary profile. Returns { context, newPage(), close() }; close() also
 * deletes the profile.
 */
export async function launchBrowser({ extraArgs = [] } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/bootstrap.sh`);
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'shoal-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, ...extraArgs],
      viewport: { width: 1280, height: 720 },
      timeout: 60_000,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    context,
    newPage: () => context.newPage(),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await within(context.close(), 15_000);
      } finally {
        // A browser that would not close in time: kill its processes, found by
        // their unique profile dir (by pid, nothing else).
        await killProcessesUsing(userDataDir);
        await rm(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

async function killProcessesUsing(marker) {
  let pids;
  try {
    pids = await readdir('/proc');
  } catch {
    return; // not Linux
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already, or not ours
    }
  }
}

/**
 * Opens `url` in a new page of `browser` (from launchBrowser) and records
 * uncaught page errors and console errors from the start.
 * `beforeLoad(page)` runs before the navigation (for init scripts such as recordAppends).
 * Returns { page, pageErrors: string[], consoleErrors: string[] }.
 */
export async function openPlayerPage(browser, url, { beforeLoad = null } = {}) {
  const page = await browser.newPage();
  if (beforeLoad) await beforeLoad(page);
  const pageErrors = [];
  const consoleErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.stack || String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('crash', () => pageErrors.push('page crashed'));
  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  return { page, pageErrors, consoleErrors };
}

/**
 * Watches the page's <video id="video"> from inside the page, sampling
 * currentTime every 250 ms, until playback has advanced `seconds` of media time
 * since it began (or currentTime reaches `untilTime`), a fatal Shoal error
 * event appears, or a timeout passes. Never throws for slow playback: returns a
 * report for the test to assert on:
 *   { began, startTime, endTime, advanced, reached, stalls, fatalError,
 *     timedOut, reason, samples, state }
 * A stall is the video firing `waiting` after playback began, or currentTime
 * not advancing for more than `stallMs` while not paused, seeking or ended.
 * `startTimeoutMs` bounds the wait for playback to begin at all.
 */
export async function watchPlayback(
  page,
  { seconds = 10, untilTime = null, timeoutMs = null, startTimeoutMs = 60_000, stallMs = 1500 } = {},
) {
  const budget = timeoutMs ?? startTimeoutMs + Math.max(seconds, 10) * 1000 * 4;
  const inPage = page.evaluate(
    ({ seconds, untilTime, budget, startTimeoutMs, stallMs }) =>
      new Promise((resolve) => {
        const t0 = performance.now();
        const now = () => Math.round(performance.now() - t0);
        const stalls = [];
        const samples = [];
        let video = null;
        let began = false;
        let startTime = null;
        let lastTime = null;
        let advanced = 0;
        let lastAdvanceAt = null;
        let frozenReported = false;
        const onWaiting = () => {
          if (began) stalls.push({ kind: 'waiting', at: video.currentTime, ms: now() });
        };
        const fatalError = () =>
          (window.shoalEvents ?? []).find((e) => e && e.type === 'error' && e.detail && e.detail.fatal) ?? null;
        const state = () => {
          const v = document.getElementById('video');
          if (!v) return { video: null };
          const buffered = [];
          for (let i = 0; i < v.buffered.length; i++) buffered.push([v.buffered.start(i), v.buffered.end(i)]);
          return {
            currentTime: v.currentTime,
            paused: v.paused,
            seeking: v.seeking,
            ended: v.ended,
            readyState: v.readyState,
            networkState: v.networkState,
            mediaError: v.error ? { code: v.error.code, message: v.error.message } : null,
            buffered,
            hasPlayer: typeof window.shoalPlayer === 'object' && window.shoalPlayer !== null,
            lastEvents: (window.shoalEvents ?? []).slice(-10),
            errorText: document.getElementById('error')?.textContent ?? null,
          };
        };
        const finish = (reason) => {
          clearInterval(timer);
          if (video) video.removeEventListener('waiting', onWaiting);
          const endTime = video ? video.currentTime : null;
          resolve({
            began,
            startTime,
            endTime,
            advanced,
            reached: untilTime !== null && endTime !== null && endTime >= untilTime,
            stalls,
            fatalError: fatalError(),
            timedOut: reason === 'timeout' || reason === 'never-started',
            reason,
            samples: samples.slice(-40),
            state: state(),
          });
        };
        const tick = () => {
          const ms = now();
          if (!video) {
            video = document.getElementById('video');
            if (video) video.addEventListener('waiting', onWaiting);
          }
          if (fatalError()) return finish('fatal-error');
          if (!video) {
            if (ms > startTimeoutMs) finish('never-started');
            return;
          }
          const ct = video.currentTime;
          const active = !video.paused && !video.seeking && !video.ended;
          samples.push({ ms, t: Number(ct.toFixed(3)), paused: video.paused, rs: video.readyState });
          // Playback moves currentTime by about 0.25 s per sample; a bigger jump
          // (or any move while seeking) is a seek, not progress.
          const delta = lastTime === null ? 0 : ct - lastTime;
          const progressed = active && delta > 0 && delta <= 2;
          if (!began) {
            if (progressed) {
              began = true;
              startTime = lastTime;
              lastAdvanceAt = ms;
              advanced += delta;
            }
          } else if (progressed) {
            advanced += delta;
            lastAdvanceAt = ms;
            frozenReported = false;
          } else if (active && delta === 0 && ms - lastAdvanceAt > stallMs && !frozenReported) {
            stalls.push({ kind: 'frozen', at: ct, ms, forMs: ms - lastAdvanceAt });
            frozenReported = true;
          }
          if (!active || delta !== 0) lastAdvanceAt = ms; // paused/seeking/jumping is not a freeze
          lastTime = ct;
          if (began && advanced >= seconds && (untilTime === null || ct >= untilTime)) {
            return finish('done');
          }
          if (!began && ms > startTimeoutMs) return finish('never-started');
          if (ms > budget) return finish('timeout');
        };
        const timer = setInterval(tick, 250);
        tick();
      }),
    { seconds: untilTime === null ? seconds : 0, untilTime, budget, startTimeoutMs, stallMs },
  );
  // The page could hang (e.g. a busy wasm loop) and never run the timer.
  let guard;
  const hang = new Promise((_, reject) => {
    guard = setTimeout(
      () => reject(new Error(`page did not answer within ${budget + 15_000} ms (hung?)`)),
      budget + 15_000,
    );
  });
  try {
    return await Promise.race([inPage, hang]);
  } finally {
    clearTimeout(guard);
  }
}

/** A snapshot of the player's visible state, for failure messages. */
export async function pageState(page) {
  try {
    return await page.evaluate(() => {
      const v = document.getElementById('video');
      return {
        url: location.href,
        hasVideo: !!v,
        currentTime: v?.currentTime,
        paused: v?.paused,
        readyState: v?.readyState,
        mediaError: v?.error ? { code: v.error.code, message: v.error.message } : null,
        hasPlayer: typeof window.shoalPlayer === 'object' && window.shoalPlayer !== null,
        events: (window.shoalEvents ?? []).slice(-15),
        errorText: document.getElementById('error')?.textContent ?? null,
      };
    });
  } catch (err) {
    return { unavailable: String(err) };
  }
}

/**
 * Counts the WebSockets and RTCPeerConnections a page creates, from before its scripts run.
 * Wraps the constructors and nothing else; applies to every frame of the page. Read the counts
 * with `window.__connections` ({webSockets, peerConnections}) in the frame of interest.
 */
export async function countConnections(page) {
  await page.addInitScript(() => {
    window.__connections = { webSockets: 0, peerConnections: 0 };
    const NativeWebSocket = window.WebSocket;
    window.WebSocket = class extends NativeWebSocket {
      constructor(...args) {
        super(...args);
        window.__connections.webSockets += 1;
      }
    };
    const NativePeerConnection = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends NativePeerConnection {
      constructor(...args) {
        super(...args);
        window.__connections.peerConnections += 1;
      }
    };
  });
}

/**
 * Records what the page appends to its SourceBuffers (the shim's only way into the media
 * element), from before its scripts run: wraps `SourceBuffer.prototype.appendBuffer`, copies each
 * buffer and hashes the copy with SHA-256. Read the records with `appendedBuffers(page)`.
 */
export async function recordAppends(page) {
  await page.addInitScript(() => {
    const hex = (digest) => Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
    const records = [];
    const hashing = [];
    const nativeAppend = SourceBuffer.prototype.appendBuffer;
    SourceBuffer.prototype.appendBuffer = function appendBuffer(data) {
      const view = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
      const copy = view.slice();
      const record = { bytes: copy.byteLength, sha256: null };
      records.push(record);
      hashing.push(
        crypto.subtle.digest('SHA-256', copy).then((digest) => {
          record.sha256 = hex(digest);
        }),
      );
      return nativeAppend.call(this, data);
    };
    window.__appendedBuffers = () => Promise.all(hashing).then(() => records);
  });
}

/** Every buffer the page appended so far, in order: [{ bytes, sha256 }] (see recordAppends). */
export async function appendedBuffers(page) {
  return page.evaluate(() => window.__appendedBuffers());
}

/**
 * The set of SHA-256 hex digests a PeerTube `segments-sha256.json` lists, in either form: VOD
 * `{file: {"start-end": hex}}` or live `{file: hex}`.
 */
export function integrityDigests(integrityJson) {
  const digests = new Set();
  for (const entry of Object.values(integrityJson)) {
    if (typeof entry === 'string') digests.add(entry.toLowerCase());
    else for (const digest of Object.values(entry)) digests.add(String(digest).toLowerCase());
  }
  return digests;
}

/**
 * Samples the video's currentTime every 50 ms from now on, and notes when the player reports
 * `mediarecovered`; read with `interruptionMs(page)`.
 */
export async function recordPlayhead(page) {
  await waitFor(() => page.evaluate(() => typeof window.shoalPlayer === 'object' && window.shoalPlayer !== null), {
    what: 'the demo page to create its player',
  });
  await page.evaluate(() => {
    const video = document.getElementById('video');
    const record = { samples: [], recoveredAt: [] };
    window.__playhead = record;
    setInterval(() => record.samples.push([performance.now(), video.currentTime]), 50);
    window.shoalPlayer.on('mediarecovered', () => record.recoveredAt.push(performance.now()));
  });
}

/**
 * How long after the first recovery the playhead took to move on from where it stood then
 * (null if it never did).
 */
export async function interruptionMs(page) {
  const { samples, recoveredAt } = await page.evaluate(() => window.__playhead);
  const at = recoveredAt[0];
  if (at === undefined) return null;
  const before = samples.filter(([ms]) => ms <= at).at(-1);
  if (!before) return null;
  const resumed = samples.find(([ms, t]) => ms > at && t > before[1] + 0.05);
  return resumed ? resumed[0] - at : null;
}

/** Saves a PNG of the page under tests/artifacts/; returns its path. Never throws. */
export async function saveScreenshot(page, name) {
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  try {
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    await page.screenshot({ path: file, timeout: 15_000 });
    return file;
  } catch (err) {
    return `(screenshot failed: ${err.message})`;
  }
}

/**
 * Adds what a failing test needs to be understood to `err`: the player's state, the page's
 * errors and a screenshot (`tests/artifacts/<name>-failure.png`) of `session` (from
 * openPlayerPage; nothing is added without one). Returns `err`, to be thrown again.
 */
export async function explainFailure(err, session, name) {
  if (!session || !(err instanceof Error)) return err;
  const shot = await saveScreenshot(session.page, `${name}-failure`);
  const extra =
    `\n--- player state ---\n${describe(await pageState(session.page))}` +
    `\n--- page errors ---\n${describe(session.pageErrors)}` +
    `\n--- console errors ---\n${describe(session.consoleErrors)}` +
    `\n--- screenshot: ${shot}`;
  // The reporter prints the stack, which was rendered before this point.
  err.message += extra;
  if (err.stack) err.stack += extra;
  return err;
}

/** Polls fn() until it returns a truthy value; returns it, or throws after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 60_000, intervalMs = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** JSON for assertion messages, trimmed so a failure stays readable. */
export function describe(value, max = 4000) {
  const s = JSON.stringify(value, null, 1);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
