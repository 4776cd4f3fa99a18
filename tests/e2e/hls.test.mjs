// Unit tests of the tests' own playlist reader (hls.mjs): the fault-injection
// test computes byte offsets with it, so a mistake here would fault the wrong range.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseAttributes,
  parseByteRange,
  parseMediaPlaylist,
  parseMultivariantPlaylist,
  rangeStart,
  segmentOfRequest,
} from './hls.mjs';

const BASE = 'http://127.0.0.1:1234/media/vod/480p.m3u8';

test('explicit and implicit byte-range offsets', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    '#EXT-X-TARGETDURATION:4',
    '#EXT-X-MAP:URI="480p.mp4",BYTERANGE="800@0"',
    '#EXTINF:4.000,',
    '#EXT-X-BYTERANGE:1000@800',
    '480p.mp4',
    '#EXTINF:4.000,',
    '#EXT-X-BYTERANGE:1200', // implicit: continues at 1800
    '480p.mp4',
    '#EXTINF:3.5,',
    '#EXT-X-BYTERANGE:900',
    '480p.mp4',
    '#EXTINF:4,',
    '#EXT-X-BYTERANGE:500@10000', // explicit again
    '480p.mp4',
    '#EXTINF:4,',
    '#EXT-X-BYTERANGE:10',
    '480p.mp4',
    '#EXT-X-ENDLIST',
  ].join('\n');
  const p = parseMediaPlaylist(text, BASE);
  assert.deepEqual(p.map, { uri: '480p.mp4', path: '/media/vod/480p.mp4', offset: 0, length: 800 });
  assert.deepEqual(
    p.segments.map((s) => [s.index, s.path, s.start, s.offset, s.length]),
    [
      [0, '/media/vod/480p.mp4', 0, 800, 1000],
      [1, '/media/vod/480p.mp4', 4, 1800, 1200],
      [2, '/media/vod/480p.mp4', 8, 3000, 900],
      [3, '/media/vod/480p.mp4', 11.5, 10000, 500],
      [4, '/media/vod/480p.mp4', 15.5, 10500, 10],
    ],
  );
  assert.equal(p.targetDuration, 4);
  assert.equal(p.duration, 19.5);
});

test('segments without byte ranges and CRLF line ends', () => {
  const p = parseMediaPlaylist('#EXTM3U\r\n#EXTINF:2,\r\na.ts\r\n#EXTINF:2,\r\n../b.ts\r\n', BASE);
  assert.deepEqual(
    p.segments.map((s) => [s.path, s.offset]),
    [
      ['/media/vod/a.ts', null],
      ['/media/b.ts', null],
    ],
  );
});

test('implicit offset with no previous sub-range is an error', () => {
  assert.throws(() => parseMediaPlaylist('#EXTM3U\n#EXTINF:4,\n#EXT-X-BYTERANGE:10\nx.mp4\n', BASE), /implicit/);
});

test('multivariant playlist variants in order', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240,CODECS="avc1.64001e,mp4a.40.2"',
    '240p.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=1200000,RESOLUTION=854x480',
    '',
    '480p.m3u8',
  ].join('\n');
  const v = parseMultivariantPlaylist(text, 'http://h/media/vod/master.m3u8');
  assert.deepEqual(
    v.map((x) => [x.url, x.bandwidth, x.resolution]),
    [
      ['http://h/media/vod/240p.m3u8', 400000, '426x240'],
      ['http://h/media/vod/480p.m3u8', 1200000, '854x480'],
    ],
  );
});

test('attribute lists, byte ranges, Range headers', () => {
  assert.deepEqual(parseAttributes('URI="a,b.mp4",BYTERANGE="10@5",X=3'), { URI: 'a,b.mp4', BYTERANGE: '10@5', X: '3' });
  assert.deepEqual(parseByteRange('10@5'), { length: 10, offset: 5 });
  assert.deepEqual(parseByteRange('10'), { length: 10, offset: null });
  assert.equal(rangeStart('bytes=100-199'), 100);
  assert.equal(rangeStart('bytes=100-'), 100);
  assert.equal(rangeStart(null), null);
});

test('requests map to the segment their range starts in', () => {
  const playlist = parseMediaPlaylist(
    '#EXTM3U\n#EXTINF:4,\n#EXT-X-BYTERANGE:100@50\nv.mp4\n#EXTINF:4,\n#EXT-X-BYTERANGE:100\nv.mp4\n',
    BASE,
  );
  const renditions = [{ name: '480p', playlist }];
  assert.equal(segmentOfRequest(renditions, { path: '/media/vod/v.mp4', range: 'bytes=150-249' }).segment.index, 1);
  assert.equal(segmentOfRequest(renditions, { path: '/media/vod/v.mp4', range: 'bytes=50-149' }).segment.index, 0);
  assert.equal(segmentOfRequest(renditions, { path: '/media/vod/v.mp4', range: 'bytes=0-49' }), null); // init
  assert.equal(segmentOfRequest(renditions, { path: '/media/vod/480p.m3u8', range: null }), null);
});
