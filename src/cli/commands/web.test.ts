/** tkvm web's flags, and the command serving until it is told to stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeWebCommand, parseListen, type WebIo } from './web.js';
import { tempControlDir } from '../../control/fixtures.js';

test('--listen takes HOST:PORT with an IP address or localhost; loopback port 0 by default', () => {
  assert.deepEqual(parseListen(undefined), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('localhost:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseListen('0.0.0.0:65535'), { host: '0.0.0.0', port: 65535 });
  for (const bad of ['8080', '127.0.0.1', '127.0.0.1:', ':8080', '127.0.0.1:65536', 'example.com:80', '::1:80', '[127.0.0.1]:80', '127.0.0.1:80x', '1.2.3:80']) {
    assert.throws(() => parseListen(bad), { code: 'ERR_USAGE' }, bad);
  }
});

test('tkvm web with a bad flag prints one line and exits 2', async () => {
  for (const argv of [['--listen', 'nowhere'], ['--port', '1'], ['extra']]) {
    let err = '';
    const io: WebIo = { stdout: () => assert.fail('no output'), stderr: (s) => void (err += s) };
    assert.equal(await makeWebCommand(io).run(argv), 2, argv.join(' '));
    assert.match(err, /^tkvm: [^\n]+\n$/, argv.join(' '));
  }
});

test('tkvm web prints the URL with the real port and a fresh token, serves it, and stops when told', async (t) => {
  const tmp = tempControlDir();
  t.after(() => tmp.cleanup());
  const abort = new AbortController();
  let out = '';
  let err = '';
  const urls: string[] = [];
  const io: WebIo = {
    dir: tmp.dir, signal: abort.signal,
    stdout: (s) => void (out += s), stderr: (s) => void (err += s),
    onListening: (url) => {
      urls.push(url);
      void fetch(url).then((r) => r.text()).then((page) => {
        assert.match(page, /<title>tkvm web<\/title>/);
        abort.abort();
      });
    },
  };
  assert.equal(await makeWebCommand(io).run([]), 0);
  const match = /^http:\/\/127\.0\.0\.1:(\d+)\/([A-Za-z0-9_-]{43})\/\n$/.exec(out);
  assert.ok(match, out);
  assert.notEqual(Number(match[1]), 0);
  assert.equal(urls[0], out.trim());
  assert.doesNotMatch(err, /warning/);
  // Another run has another token.
  const again = new AbortController();
  let second = '';
  await makeWebCommand({ dir: tmp.dir, signal: again.signal, stdout: (s) => void (second += s), stderr: () => {}, onListening: () => again.abort() }).run(['--listen', '127.0.0.1:0']);
  assert.notEqual(second.trim().split('/')[3], match[2]);
});
