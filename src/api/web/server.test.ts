/** The tkvm web server against real control servers with fake VMMs: token, headers, origins, the API and the console WebSocket. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { WebSocket } from 'ws';
import { FakeController } from '../../control/fake-controller.js';
import { ControlServer } from '../../control/server.js';
import { tempControlDir } from '../../control/fixtures.js';
import { WebServer } from './server.js';
import { CONTENT_SECURITY_POLICY } from './security.js';

const TOKEN = 'test-token-0123456789abcdefghijklmnopqrstuv';

async function setup(t: TestContext) {
  const tmp = tempControlDir();
  const fake = new FakeController({ name: 'vm1', pid: 777, cpus: 2, memBytes: 64 << 20, uptimeMs: 1000 });
  const control = await ControlServer.start({ name: 'vm1', controller: fake, dir: tmp.dir });
  const web = await WebServer.start({ dir: tmp.dir, token: TOKEN });
  t.after(async () => {
    await web.close();
    await control.close();
    tmp.cleanup();
  });
  const origin = `http://127.0.0.1:${web.port}`;
  return { fake, web, origin };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with exactly the headers given (fetch would add or refuse some). */
function request(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => void (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A message as the test sees it: binary output as text, or a text notice. */
interface Received {
  binary: string;
  notices: string[];
  /** Resolves with the close code. */
  closed: Promise<number>;
}

/** Opens a WebSocket, recording messages from the first; resolves once open, or with the HTTP status it was refused with. */
function openSocket(url: string, origin: string | undefined): Promise<{ ws: WebSocket; received: Received } | { refused: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    const received: Received = { binary: '', notices: [], closed: new Promise((done) => ws.once('close', (code: number) => done(code))) };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) received.binary += data.toString();
      else received.notices.push(data.toString());
    });
    ws.once('open', () => resolve({ ws, received }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ refused: res.statusCode ?? 0 });
      res.resume();
    });
    ws.once('error', reject);
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('the URL carries the real port and the token; a request without the token, or with a wrong one, gets 401', async (t) => {
  const { web } = await setup(t);
  assert.ok(web.port > 0);
  assert.equal(web.url, `http://127.0.0.1:${web.port}/${TOKEN}/`);
  const base = `http://127.0.0.1:${web.port}`;
  for (const path of ['/', '/app.js', '/api/vms', `/${TOKEN.slice(0, -1)}x/`, `/${TOKEN}x/`, `/x/${TOKEN}/`, `/?token=${TOKEN}`]) {
    const reply = await request(base + path);
    assert.equal(reply.status, 401, path);
    assert.equal(reply.headers['content-security-policy'], CONTENT_SECURITY_POLICY, `401 for ${path} carries the CSP`);
    assert.ok(!reply.body.includes(TOKEN), 'the 401 does not give the token away');
  }
  const page = await request(web.url);
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>tkvm web<\/title>/);
  const noSlash = await request(web.url.slice(0, -1));
  assert.equal(noSlash.status, 308);
  assert.equal(noSlash.headers.location, `/${TOKEN}/`);
});

test('every page and file is sent with a CSP that allows no inline or foreign script, and the page has none', async (t) => {
  const { web } = await setup(t);
  const csp = CONTENT_SECURITY_POLICY;
  assert.match(csp, /(^|; )script-src 'self'(;|$)/);
  assert.match(csp, /(^|; )default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /script-src[^;]*(unsafe-inline|unsafe-eval|\*|http)/);
  for (const [path, type] of [['', 'text/html'], ['app.js', 'text/javascript'], ['charts.js', 'text/javascript'], ['style.css', 'text/css'], ['xterm/xterm.mjs', 'text/javascript'], ['xterm/xterm.css', 'text/css']] as const) {
    const reply = await request(web.url + path);
    assert.equal(reply.status, 200, path);
    assert.equal(reply.headers['content-security-policy'], csp, path);
    assert.equal(reply.headers['x-content-type-options'], 'nosniff', path);
    assert.equal(reply.headers['referrer-policy'], 'no-referrer', path);
    assert.ok(reply.headers['content-type']?.startsWith(type), `${path}: ${reply.headers['content-type']}`);
    assert.ok(reply.body.length > 100, path);
  }
  const page = (await request(web.url)).body;
  const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.ok(scripts.length > 0);
  for (const [, attributes, content] of scripts) {
    assert.match(attributes!, /\bsrc="[a-z./]+"/, 'scripts are files, relative to the token path');
    assert.equal(content!.trim(), '', 'no inline script');
  }
  assert.doesNotMatch(page, /\son[a-z]+=/i, 'no inline event handlers');
  assert.doesNotMatch(page, /\sstyle=/i, 'no inline styles');
});

test('a request naming another Host is refused (DNS rebinding), and unknown paths get 404', async (t) => {
  const { web } = await setup(t);
  const rebound = await request(web.url, { headers: { Host: `evil.example:${web.port}` } });
  assert.equal(rebound.status, 403);
  assert.equal((await request(web.url, { headers: { Host: `localhost:${web.port}` } })).status, 200, 'localhost names loopback');
  assert.equal((await request(`${web.url}../../etc/passwd`)).status, 401, 'dot segments are resolved before the token check');
  assert.equal((await request(`${web.url}web/app.js`)).status, 404);
  assert.equal((await request(`${web.url}api/vms/vm1/pause`)).status, 405);
});

test('the API lists the VMs and its pause, resume and stop reach the VM; a POST from another origin does not', async (t) => {
  const { web, fake, origin } = await setup(t);
  const listed = JSON.parse((await request(`${web.url}api/vms`)).body) as { vms: Array<{ name: string; state: string; pid: number; cpus: number }> };
  assert.deepEqual(listed.vms.map((vm) => [vm.name, vm.state, vm.pid, vm.cpus]), [['vm1', 'running', 777, 2]]);

  const post = (action: string, headers: Record<string, string> = { Origin: origin }): Promise<Reply> => request(`${web.url}api/vms/vm1/${action}`, { method: 'POST', headers });
  assert.equal((await post('pause')).status, 200);
  assert.equal(fake.state, 'paused');
  const afterPause = JSON.parse((await request(`${web.url}api/vms`)).body) as { vms: Array<{ state: string }> };
  assert.equal(afterPause.vms[0]?.state, 'paused', 'the next poll shows the new state at once');
  assert.equal((await post('resume')).status, 200);
  assert.equal(fake.state, 'running');

  assert.equal((await post('stop', { Origin: 'http://evil.example' })).status, 403);
  assert.equal((await post('stop', {})).status, 403, 'no Origin: not from the page');
  assert.deepEqual(fake.stopRequests, []);
  assert.equal((await post('stop')).status, 200);
  assert.deepEqual(fake.stopRequests, [false], 'a graceful stop');

  const missing = await request(`${web.url}api/vms/ghost/pause`, { method: 'POST', headers: { Origin: origin } });
  assert.equal(missing.status, 404);
  assert.match(JSON.parse(missing.body).error.message, /no VM named ghost/);
  fake.failures.pause = Object.assign(new Error('vCPU 0 did not park'), { code: 'ERR_PAUSE_TIMEOUT' });
  const failed = await post('pause');
  assert.equal(failed.status, 502);
  assert.equal(JSON.parse(failed.body).error.code, 'ERR_PAUSE_TIMEOUT');
  assert.deepEqual(fake.calls.pause, 2);
});

test('the console WebSocket needs the token and the server\'s own Origin; then it carries output and input', async (t) => {
  const { web, fake, origin } = await setup(t);
  const wsUrl = `${web.url.replace('http:', 'ws:')}api/vms/vm1/console`;
  assert.deepEqual(await openSocket(wsUrl, 'http://evil.example'), { refused: 403 });
  assert.deepEqual(await openSocket(wsUrl, `http://localhost:${web.port}`), { refused: 403 }, 'another origin than the one the page was loaded from');
  assert.deepEqual(await openSocket(wsUrl, undefined), { refused: 403 }, 'no Origin');
  assert.deepEqual(await openSocket(wsUrl.replace(TOKEN, 'x'.repeat(TOKEN.length)), origin), { refused: 401 });
  assert.equal(fake.calls.attachConsole, 0, 'no refused socket reached the VM');

  fake.console.publish(Buffer.from('boot ok\n'));
  const opened = await openSocket(wsUrl, origin);
  assert.ok('ws' in opened);
  const { ws, received } = opened;
  t.after(() => ws.terminate());
  await until(() => received.binary === 'boot ok\n', 'the replay');
  fake.console.publish(Buffer.from('$ '));
  await until(() => received.binary === 'boot ok\n$ ', 'live output');
  assert.deepEqual(received.notices, []);
  ws.send(Buffer.from('ls\r'));
  ws.send('pwd\r');
  await until(() => fake.consoleInput.length === 7, 'the input to reach the VM');
  assert.equal(Buffer.from(fake.consoleInput).toString(), 'ls\rpwd\r');
});

test('a console WebSocket for a VM that is not running gets an error notice and is closed', async (t) => {
  const { web, origin } = await setup(t);
  const opened = await openSocket(`${web.url.replace('http:', 'ws:')}api/vms/ghost/console`, origin);
  assert.ok('ws' in opened);
  assert.equal(await opened.received.closed, 1011);
  assert.deepEqual(opened.received.notices.map((n) => JSON.parse(n)), [{ type: 'error', message: 'no VM named ghost (see tkvm list)' }]);
});
