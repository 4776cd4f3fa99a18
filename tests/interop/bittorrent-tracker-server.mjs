#!/usr/bin/env node
// Runs the reference WebTorrent tracker, npm `bittorrent-tracker`'s server (what PeerTube
// embeds), as a WebSocket tracker only: no HTTP announce, UDP or /stats endpoints. Interop tests
// spawn it to check that a client (or test page) works against the server every WebTorrent
// client was written for, not only against Shoal's demo tracker.
//
//   node tests/interop/bittorrent-tracker-server.mjs [--host 127.0.0.1] [--port 0] [--interval-s 120]
//
// Once listening it prints exactly one line on stdout:
//   bittorrent-tracker listening at ws://HOST:PORT
// and runs until SIGTERM or SIGINT. Warnings (bad client frames) go to stderr with the
// server's own message; client addresses are never printed.
//
// --interval-s is the announce interval WebSocket clients are told (default 120 s, the
// package's default: its `interval` option is the HTTP interval, and WebSocket replies use a
// fifth of it, which this script accounts for).
//
// `bittorrent-tracker/server` is imported rather than the package's main entry, whose client
// half needs the native `node-datachannel` build that `npm ci --ignore-scripts` skips.

import { parseArgs } from 'node:util';
import Server from 'bittorrent-tracker/server';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'interval-s': { type: 'string', default: '120' },
  },
});

const port = Number(values.port);
const intervalS = Number(values['interval-s']);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bittorrent-tracker-server: bad --port ${values.port}`);
  process.exit(2);
}
if (!Number.isFinite(intervalS) || intervalS < 1) {
  console.error(`bittorrent-tracker-server: bad --interval-s ${values['interval-s']}`);
  process.exit(2);
}

const server = new Server({
  http: false,
  udp: false,
  ws: true,
  stats: false,
  interval: intervalS * 5 * 1000,
});

server.on('error', (err) => {
  console.error(`bittorrent-tracker-server: ${err.message}`);
  process.exit(1);
});
server.on('warning', (err) => {
  console.error(`bittorrent-tracker-server: warning: ${err.message}`);
});

server.on('listening', () => {
  const { port: bound } = server.ws.address();
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  process.stdout.write(`bittorrent-tracker listening at ws://${host}:${bound}\n`);
});

const stop = () => {
  server.close(() => process.exit(0));
  // Open WebSockets can keep close() waiting; the caller wants us gone.
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(port, values.host);
