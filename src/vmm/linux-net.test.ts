/**
 * End-to-end user-mode networking with the default guest kit (one boot: on
 * a PVM host it takes minutes). The guest gets its address by DHCP from
 * passt and fetches files from an HTTP server this test runs on the host's
 * loopback (passt maps the gateway address onto it); then it serves a port
 * with busybox nc, which a host client reaches through --port: the guest
 * speaks first, the client sends nothing (what Debian 12's passt could not
 * do, see passt-forward.test.ts).
 *
 * Network rule: the only services involved are the ones this test starts,
 * on 127.0.0.1, and the guest's; the guest gets no DNS servers (dns=off:
 * passt -D none), and its commands name only the gateway address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { requireKvm, runTkvm } from '../testing/kvm.js';
import { ensureDefaultGuest } from '../testing/default-guest.js';
import { findPasst } from './net.js';

const BOOT_TIMEOUT_MS = 12 * 60_000;
const BIG_FILE_BYTES = 4 << 20;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A free host port (bound and released at once). */
async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/** Connects to 127.0.0.1:port, sends nothing, and returns what the peer sends before closing ('' if refused or reset). */
function readFromPort(port: number, notes: string[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { data += d; });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      notes.push(e.code ?? e.message);
      resolve(data);
    });
    socket.on('close', () => resolve(data));
    // The guest kernel may be emulated (PVM): its side of the handshake and the reply take seconds.
    socket.setTimeout(60_000, () => socket.destroy());
  });
}

test('Linux: DHCP from passt, wget from a host-loopback server through the gateway, and a host client through --port to a guest server that speaks first', { timeout: BOOT_TIMEOUT_MS + 20 * 60_000 }, async (t) => {
  if (!requireKvm(t)) return;
  await ensureDefaultGuest();
  const text = `tkvm-net-${randomBytes(8).toString('hex')}\n`;
  const big = randomBytes(BIG_FILE_BYTES);
  const bigMd5 = createHash('md5').update(big).digest('hex');
  const server = createServer((req, res) => {
    if (req.url === '/file') res.end(text);
    else if (req.url === '/big') res.end(big);
    else res.writeHead(404).end();
  });
  const httpPort = await listen(server);
  t.after(() => server.close());
  const hostPort = await freePort();
  const passt = findPasst();
  t.diagnostic(`passt: ${passt?.path} (${passt?.source})`);
  const portText = `tkvm-port-${randomBytes(8).toString('hex')}`;

  const script = [
    'set -- $(ip route show default)',
    'gw=$3',
    'echo "gateway=$gw"',
    `wget -qO- "http://$gw:${httpPort}/file"`,
    'read -r t0 _ </proc/uptime',
    `wget -qO- "http://$gw:${httpPort}/big" | md5sum`,
    'read -r t1 _ </proc/uptime',
    'echo "big-seconds=$t0 $t1"',
    'echo port-ready',
    `echo ${portText} | timeout 120 nc -l -p 8080`,
    'echo "nc-done status=$?"',
  ].join('; ');
  let portReply = '';
  const probeNotes: string[] = [];
  let probing: Promise<void> | null = null;
  let vmDone = false;
  const started = Date.now();
  const r = await runTkvm(['run', '--net', 'user,dns=off', '--port', `127.0.0.1:${hostPort}:8080`, '--exec', script], {
    timeoutMs: BOOT_TIMEOUT_MS,
    onStdout: (soFar) => {
      if (probing || !soFar.includes('port-ready')) return;
      probing = (async () => {
        // The guest's nc may not be listening yet: the guest then resets, passt closes the host connection; try again.
        for (let i = 0; i < 240 && !vmDone && !portReply.includes(portText); i++) {
          portReply += await readFromPort(hostPort, probeNotes);
          probeNotes.push(`try ${i}: ${JSON.stringify(portReply)}`);
          if (!portReply.includes(portText)) await new Promise((res) => setTimeout(res, 500));
        }
      })();
    },
  });
  vmDone = true;
  await probing;
  t.diagnostic(`boot, fetches and --port in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const stdout = r.stdout.replace(/\r/g, '');
  const out = `${stdout}\n${r.stderr}`;
  const gateway = /^gateway=(\d+\.\d+\.\d+\.\d+)$/m.exec(stdout)?.[1];
  assert.ok(gateway, `the guest has a default route from DHCP\n${out}`);
  assert.ok(stdout.includes(text), `the guest printed the served file\n${out}`);
  assert.match(stdout, new RegExp(`^${bigMd5}\\s`, 'm'), `the 4 MiB file arrived intact\n${out}`);
  assert.match(portReply, new RegExp(portText), `a host client that sent nothing got the guest's text through --port (${probeNotes.slice(-6).join(', ')})\n${out}`);
  assert.match(stdout, /^nc-done status=0$/m, out);
  assert.doesNotMatch(r.stderr, /--port: .* is Debian 12's passt/, 'tkvm ran its own passt, not the fallback');
  assert.doesNotMatch(r.stderr, /dropped/, 'no frame was dropped');
  assert.equal(r.status, 0, out);
  const times = /^big-seconds=([\d.]+) ([\d.]+)$/m.exec(stdout);
  if (times) t.diagnostic(`4 MiB through passt in ${(Number(times[2]) - Number(times[1])).toFixed(2)} s of guest uptime (gateway ${gateway})`);
});
