// Golden bytes of the p2p-media-loader v2 peer wire protocol, produced by the real npm package
// (tests/node_modules/p2p-media-loader-core), for player-core/tests/wire.rs to compare against.
//
//   node tests/interop/wire-goldens.mjs           writes player-core/tests/fixtures/wire/goldens.json
//   node tests/interop/wire-goldens.mjs --check   exits 1 if the committed file differs
//
// Two kinds of cases:
// - "encode": a command object handed to the package's serializer with a max message size; we keep
//   the framed messages it returns and what its own reader makes of them. `package_roundtrip` is
//   false where the package cannot read back what it wrote (its bugs; Shoal encodes those cases
//   differently, see player-core/src/p2p/wire).
// - "decode": messages built here by hand (odd but legal encodings, Shoal's own encoding of the
//   package-bug cases, and hostile inputs), with what the package's reader makes of them and what
//   Shoal's reader must do: "same" (read the same command) or "reject" (return an error).
//
// Numbers are written as decimal strings (ids can exceed 2^53) and id lists as run strings
// ("0-254" = 0..=254 in order) to keep the file small.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PKG_DIR = path.join(REPO_ROOT, 'tests', 'node_modules', 'p2p-media-loader-core');
const OUT = path.join(REPO_ROOT, 'player-core', 'tests', 'fixtures', 'wire', 'goldens.json');

// The package only exports its bundle entry, which pulls in `debug` and the whole loader; the
// command files are self-contained ES modules, so load them by file URL instead.
const commandsUrl = pathToFileURL(path.join(PKG_DIR, 'lib', 'p2p', 'commands', 'index.js')).href;
const serializationUrl = pathToFileURL(
  path.join(PKG_DIR, 'lib', 'p2p', 'commands', 'binary-serialization.js'),
).href;
const Wire = await import(commandsUrl);
const Items = await import(serializationUrl);
const pkgVersion = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8')).version;

const DEFAULT_MAX = 64 * 1024 - 1; // the package's default webRtcMaxMessageSize (src/core.ts)

// ---- id lists as run strings ----------------------------------------------------------------

/** Expands ["1", "5-7"] to [1, 5, 6, 7] (as Numbers, what the package takes). */
function expand(runs) {
  const out = [];
  for (const run of runs) {
    const [a, b = a] = run.split('-').map(Number);
    if (a === b) {
      out.push(a); // also the only way for ids above 2^53, where n++ stops counting
      continue;
    }
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) throw new Error(`unsafe run ${run}`);
    for (let n = a; n <= b; n++) out.push(n);
  }
  return out;
}

/** Compresses a list of integers into run strings, keeping its order. */
function compress(ids) {
  const runs = [];
  let start = null;
  let prev = null;
  const flush = () => {
    if (start === null) return;
    runs.push(start === prev ? `${big(start)}` : `${big(start)}-${big(prev)}`);
  };
  for (const id of ids) {
    if (prev !== null && typeof id === 'number' && id === prev + 1 && id <= Number.MAX_SAFE_INTEGER) {
      prev = id;
      continue;
    }
    flush();
    start = id;
    prev = id;
  }
  flush();
  return runs;
}

/** The exact decimal value of a Number or BigInt (String(2 ** 60) would round). */
const big = (n) => BigInt(n).toString();

const hex = (bytes) => Buffer.from(bytes).toString('hex');

// ---- what the package's receiving side makes of messages ---------------------------------------

/** JSON view of a command object as the package's reader built it. */
function view(command) {
  const out = {};
  for (const [key, value] of Object.entries(command)) {
    if (key === 'c') out.c = value === undefined ? null : value;
    else if (Array.isArray(value)) out[key] = compress(value);
    else if (typeof value === 'number') out[key] = Number.isInteger(value) ? big(value) : String(value);
    else out[key] = { string_chars: String(value).length }; // never a field of a real command
  }
  return out;
}

/** Feeds messages through the package's classification and joiner, the way its PeerProtocol does. */
function packageReads(messages) {
  const results = [];
  let joiner;
  for (const message of messages) {
    if (!Wire.isCommandChunk(message)) {
      results.push({ segment_bytes: true });
      continue;
    }
    joiner ??= new Wire.BinaryCommandChunksJoiner((body) => {
      joiner = undefined;
      results.push({ command: view(Wire.deserializeCommand(body)) });
    });
    try {
      const before = results.length;
      joiner.addCommandChunk(message);
      if (results.length === before) results.push({ part: true });
    } catch (err) {
      joiner = undefined;
      results.push({ error: err instanceof Wire.BinaryCommandJoiningError ? err.type : err.message });
    }
  }
  return results;
}

/**
 * Whether the package read back what it was given, up to what it drops on purpose (`b: 0`, empty
 * lists) and the order of ids in a list (its reader returns them grouped by 256-block).
 */
function sameCommand(given, readView) {
  const normal = (v) => {
    const o = { ...v };
    if (o.b === '0') delete o.b;
    for (const k of ['l', 'p']) {
      if (!Array.isArray(o[k])) continue;
      if (o[k].length === 0) delete o[k];
      else o[k] = expand(o[k]).map(big).sort();
    }
    return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
  };
  return normal(view(given)) === normal(readView);
}

// ---- encode cases ----------------------------------------------------------------------------

const encodeCases = [];

/** `fields`: c plus i/r/b/s as Numbers and l/p as run-string lists. */
function encodeCase(name, fields, maxMessageBytes = DEFAULT_MAX) {
  const command = { c: fields.c };
  for (const key of ['i', 'r', 'b', 's']) if (key in fields) command[key] = fields[key];
  for (const key of ['l', 'p']) if (key in fields) command[key] = expand(fields[key]);
  const messages = Wire.serializePeerCommand(command, maxMessageBytes);
  const reads = packageReads(messages);
  const last = reads[reads.length - 1];
  const roundtrip = last.command !== undefined && sameCommand(command, last.command);
  encodeCases.push({
    name,
    max_message_bytes: maxMessageBytes,
    command: view(command),
    messages: messages.map(hex),
    package_reads: reads,
    package_roundtrip: roundtrip,
  });
}

const ANNOUNCE = 0;
const REQUEST = 1;
const DATA = 2;
const COMPLETED = 3;
const ABSENT = 4;
const CANCEL = 5;

// Announcements
encodeCase('announce nothing (empty lists are left out)', { c: ANNOUNCE, l: [], p: [] });
encodeCase('announce with no lists at all', { c: ANNOUNCE });
encodeCase('announce one loaded', { c: ANNOUNCE, l: ['0'] });
encodeCase('announce one loading over http', { c: ANNOUNCE, p: ['7'] });
encodeCase('announce small runs and gaps', { c: ANNOUNCE, l: ['0-4', '9', '11-12'], p: ['13', '15'] });
encodeCase('announce across 256-blocks, unsorted (groups keep first-seen order)', {
  c: ANNOUNCE,
  l: ['300-301', '1-3', '5', '258', '70000'],
  p: ['600', '20'],
});
encodeCase('announce duplicates kept', { c: ANNOUNCE, l: ['4', '4', '5'] });
encodeCase('announce id 127/128/255/256 (int width changes)', { c: ANNOUNCE, l: ['127-128', '255-256'] });
encodeCase('announce 255 ids in one block (the most one group can count)', { c: ANNOUNCE, l: ['0-254'] });
encodeCase('announce run crossing a block boundary', { c: ANNOUNCE, l: ['250-270'] });
encodeCase('announce live media sequence numbers', { c: ANNOUNCE, l: ['1700000000-1700000014'], p: ['1700000015-1700000016'] });
encodeCase('announce big ids (2^53-1 and 2^60)', { c: ANNOUNCE, l: [big(2 ** 53 - 1), big(2 ** 60), big(2 ** 60 + 2 ** 12)] });
{
  // 255 blocks of 255 ids each (id 255 of every block missing), in both lists: about 66 kB per
  // list, so the default max message size splits the command in three.
  const blocks = [];
  for (let b = 0; b < 255; b++) blocks.push(`${b * 256}-${b * 256 + 254}`);
  encodeCase('announce 2 x 255 groups of 255 ids, split at the default max size', { c: ANNOUNCE, l: blocks, p: blocks });
  encodeCase('announce 64 groups of 255 ids, split at 5000 bytes', { c: ANNOUNCE, l: blocks.slice(0, 64) }, 5000);
}
encodeCase('announce split at 64 bytes', { c: ANNOUNCE, l: ['0-99'], p: ['200-209'] }, 64);
encodeCase('announce split at 20 bytes', { c: ANNOUNCE, l: ['0-39'] }, 20);
encodeCase('announce split at 9 bytes (parts exceed the max: package arithmetic)', { c: ANNOUNCE, l: ['0-39'] }, 9);
encodeCase('announce split at 4 bytes (the last part is empty)', { c: ANNOUNCE, l: ['1-3'] }, 4);
encodeCase('announce split at 1 byte', { c: ANNOUNCE, l: ['1'] }, 1);
encodeCase('announce exactly at the max (no split)', { c: ANNOUNCE, l: ['0-9'] }, 24);
encodeCase('announce one byte over the max (split)', { c: ANNOUNCE, l: ['0-9'] }, 23);
// Package bugs: a group count or a per-group id count above 255 wraps to its low byte.
encodeCase('announce 256 ids in one block (package bug: count wraps to 0)', { c: ANNOUNCE, l: ['0-255'] });
encodeCase('announce 300 blocks (package bug: group count wraps to 44)', {
  c: ANNOUNCE,
  l: Array.from({ length: 300 }, (_, b) => `${b * 256}`),
});

// Segment requests
encodeCase('request zero ids', { c: REQUEST, i: 0, r: 0 });
encodeCase('request small', { c: REQUEST, i: 5, r: 7 });
encodeCase('request resume from 0 (left out)', { c: REQUEST, i: 5, r: 7, b: 0 });
encodeCase('request resume from 1', { c: REQUEST, i: 5, r: 7, b: 1 });
encodeCase('request resume from 1000', { c: REQUEST, i: 12, r: 999, b: 1000 });
encodeCase('request resume from 2^40', { c: REQUEST, i: 12, r: 999, b: 2 ** 40 });
encodeCase('request big ids', { c: REQUEST, i: 2 ** 53 - 1, r: 2 ** 32 - 1 });
encodeCase('request live id', { c: REQUEST, i: 1700000000, r: 128 });
encodeCase('request split at 10 bytes', { c: REQUEST, i: 300, r: 5, b: 70000 }, 10);

// Segment data headers (field order on the wire is i, s, r)
encodeCase('data zero', { c: DATA, i: 0, r: 0, s: 0 });
encodeCase('data small', { c: DATA, i: 3, r: 42, s: 1500 });
encodeCase('data 4 GiB + 5 bytes', { c: DATA, i: 3, r: 42, s: 2 ** 32 + 5 });
encodeCase('data big id and size', { c: DATA, i: 2 ** 60, r: 999, s: 2 ** 64 - 2048 });
encodeCase('data typical', { c: DATA, i: 1700000000, r: 517, s: 1234567 });

// The three {i, r} commands
for (const [c, label] of [[COMPLETED, 'completed'], [ABSENT, 'absent'], [CANCEL, 'cancel']]) {
  encodeCase(`${label} zero`, { c, i: 0, r: 0 });
  encodeCase(`${label} small`, { c, i: 9, r: 300 });
  encodeCase(`${label} big`, { c, i: 2 ** 53 - 1, r: 2 ** 32 - 1 });
}

// ---- decode cases ----------------------------------------------------------------------------

const decodeCases = [];
const enc = (s) => [...s].map((ch) => ch.charCodeAt(0));
const int = (n) => [...Items.serializeInt(BigInt(n))];
/** An Int item with its magnitude spread over `width` bytes (leading zeros), as a lenient writer might. */
const wideInt = (n, width) => {
  const bytes = [];
  let v = BigInt(n);
  for (let k = 0; k < width; k++) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return [width, ...bytes];
};
const str = (s) => [...Items.serializeString(s)];
const frame = (body, start = 'cstr', end = 'cend') => new Uint8Array([...enc(start), ...body, ...enc(end)]);

/** `shoal`: "same" (Shoal reads what the package reads) or "reject" (Shoal returns an error). */
function decodeCase(name, messages, shoal, why) {
  decodeCases.push({ name, messages: messages.map(hex), package_reads: packageReads(messages), shoal, why });
}

const I = 'i'.charCodeAt(0);
const R = 'r'.charCodeAt(0);
const B = 'b'.charCodeAt(0);
const S = 's'.charCodeAt(0);
const L = 'l'.charCodeAt(0);
const X = 'x'.charCodeAt(0);

decodeCase('fields in another order', [frame([ABSENT, R, ...int(2), I, ...int(1)])], 'same',
  'field order is free: the reader looks fields up by name');
decodeCase('unknown int field is skipped', [frame([CANCEL, I, ...int(1), X, ...int(99), R, ...int(2)])], 'same',
  'extra fields are ignored, as the package does');
decodeCase('unknown string field is skipped', [frame([CANCEL, X, ...str('hello'), I, ...int(1), R, ...int(2)])], 'same',
  'extra fields are ignored, as the package does');
decodeCase('unknown array field is skipped', [frame([CANCEL, X, 0x10, 1, ...int(0x102), 1, 2, I, ...int(1), R, ...int(2)])], 'same',
  'extra fields are ignored, as the package does');
decodeCase('int with leading zero bytes', [frame([REQUEST, I, ...wideInt(5, 4), R, ...wideInt(7, 15)])], 'same',
  'the length nibble may be larger than needed');
decodeCase('int with no bytes reads as 0', [frame([COMPLETED, I, 0x00, R, 0x00])], 'same',
  'the package reads a zero-length int as 0');
decodeCase('negative zero reads as 0', [frame([COMPLETED, I, 0x01, 0x80, R, ...int(1)])], 'same',
  'a sign bit on a zero magnitude is still 0');
decodeCase('array header low nibble is ignored', [frame([ANNOUNCE, L, 0x1f, 1, ...int(2), 5, 6])], 'same',
  'only the high nibble of an item header is its type');
decodeCase('same block in two groups', [frame([ANNOUNCE, L, 0x10, 2, ...int(1), 5, ...int(2), 6, 7])], 'same',
  'groups need not be unique; this is how Shoal encodes more than 255 ids of one block');
{
  // Shoal's encoding of ids 0..=255: one group holds at most 255 ids, so the block takes two groups.
  const ids = Array.from({ length: 256 }, (_, k) => k);
  decodeCase('256 ids of one block as 255 + 1 (Shoal encoding)', [
    frame([ANNOUNCE, L, 0x10, 2, ...int(255), ...ids.slice(0, 255), ...int(1), 255]),
  ], 'same', 'the package reads it back whole, unlike its own encoding');
}
decodeCase('duplicate field: the last one wins', [frame([ABSENT, I, ...int(1), R, ...int(2), I, ...int(3)])], 'same',
  'the package overwrites a repeated field');
decodeCase('request with resume offset 0', [frame([REQUEST, I, ...int(1), R, ...int(2), B, ...int(0)])], 'same',
  'b = 0 means from the start (Shoal reads it as no offset)');
decodeCase('two-part command built by hand', [
  frame([DATA, I, ...int(1)], 'cstr', 'dend'),
  frame([S, ...int(3000), R, ...int(4)], 'dstr', 'cend'),
], 'same', 'parts join in order');
decodeCase('segment bytes between command parts', [
  frame([DATA, I, ...int(1)], 'cstr', 'dend'),
  new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
  frame([S, ...int(3000), R, ...int(4)], 'dstr', 'cend'),
], 'same', 'a non-frame message is segment bytes and does not disturb the joining');
decodeCase('message starting with cstr but not framed is segment bytes', [
  new Uint8Array([...enc('cstr'), 1, 2, 3, 4, 5]),
], 'same', 'only start AND end markers make a frame');

decodeCase('negative segment id', [frame([REQUEST, I, ...int(-1), R, ...int(2)])], 'reject', 'ids are unsigned');
decodeCase('negative request id', [frame([CANCEL, I, ...int(1), R, ...int(-2)])], 'reject', 'ids are unsigned');
decodeCase('request id above 2^32-1', [frame([ABSENT, I, ...int(1), R, ...int(2 ** 32)])], 'reject', 'request ids are u32');
decodeCase('segment id above 2^64-1', [frame([ABSENT, I, ...int(2n ** 64n), R, ...int(1)])], 'reject', 'segment ids are u64');
decodeCase('unknown command type 6', [frame([6, I, ...int(1), R, ...int(2)])], 'reject',
  'the package ignores it after reading; Shoal reports it');
decodeCase('missing request id', [frame([ABSENT, I, ...int(1)])], 'reject', 'i and r are required');
decodeCase('missing size in segment data', [frame([DATA, I, ...int(1), R, ...int(2)])], 'reject', 's is required');
decodeCase('empty command body', [frame([])], 'reject', 'no command type byte');
decodeCase('item type 3 does not exist', [frame([CANCEL, I, 0x31, 1, R, ...int(2)])], 'reject', 'unknown item type');
decodeCase('int cut short at the end', [frame([CANCEL, I, ...int(1), R, 0x04, 1, 2])], 'reject',
  'the package reads the shorter int; Shoal rejects truncated items');
decodeCase('string cut short at the end', [frame([CANCEL, I, ...int(1), R, ...int(2), X, 0x20, 9, 0x61])], 'reject',
  'the package reads the shorter string; Shoal rejects truncated items');
decodeCase('array cut short', [frame([ANNOUNCE, L, 0x10, 2, ...int(3), 1, 2, 3])], 'reject', 'a group is missing');
decodeCase('array group ids cut short', [frame([ANNOUNCE, L, 0x10, 1, ...int(3), 1])], 'reject', 'ids are missing');
decodeCase('field name without item', [frame([CANCEL, I, ...int(1), R, ...int(2), X])], 'reject', 'truncated');
decodeCase('segment id as a string', [frame([CANCEL, I, ...str('1'), R, ...int(2)])], 'reject', 'wrong item type');
decodeCase('resume offset as an array', [frame([REQUEST, I, ...int(1), R, ...int(2), B, 0x10, 1, ...int(1), 0])], 'reject', 'wrong item type');
decodeCase('loaded list as an int', [frame([ANNOUNCE, L, ...int(5)])], 'reject', 'wrong item type');
decodeCase('negative id in a list', [frame([ANNOUNCE, L, 0x10, 1, ...int(-255), 0xff])], 'reject', 'ids are unsigned');
decodeCase('part without a start', [frame([S, ...int(3000), R, ...int(4)], 'dstr', 'cend')], 'reject', 'no cstr part before');
decodeCase('new command while one is being joined', [
  frame([DATA, I, ...int(1)], 'cstr', 'dend'),
  frame([CANCEL, I, ...int(1), R, ...int(2)]),
], 'reject', 'the package drops both the unfinished command and the new frame');

// ---- output ----------------------------------------------------------------------------------

const doc = {
  about: 'p2p-media-loader v2 peer wire goldens; generated by tests/interop/wire-goldens.mjs, do not edit',
  package: `p2p-media-loader-core@${pkgVersion}`,
  default_max_message_bytes: DEFAULT_MAX,
  encode: encodeCases,
  decode: decodeCases,
};
const text = `${JSON.stringify(doc, null, 1)}\n`;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(OUT, 'utf8');
  } catch (err) {
    console.error(`wire-goldens: cannot read ${OUT}: ${err.message}`);
    process.exit(1);
  }
  if (committed !== text) {
    console.error(`wire-goldens: ${path.relative(REPO_ROOT, OUT)} differs from what p2p-media-loader-core@${pkgVersion} produces; rerun without --check`);
    process.exit(1);
  }
  console.log(`wire-goldens: ${encodeCases.length} encode and ${decodeCases.length} decode cases match p2p-media-loader-core@${pkgVersion}`);
} else {
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, text);
  console.log(`wire-goldens: wrote ${encodeCases.length} encode and ${decodeCases.length} decode cases to ${path.relative(REPO_ROOT, OUT)}`);
}
