/**
 * End-to-end user-mode networking with the default guest kit (one boot: on
 * a PVM host it takes minutes). The guest gets its address by DHCP from
 * passt and fetches files from an HTTP server this test runs on the host's
 * loopback (passt maps the gateway address onto it). (A --port check, host
 * client to a server in the guest, is not here yet: it did not pass.)
 *
 * Network rule: the only services involved are the ones this test starts,
 * on 127.0.0.1; the guest gets no DNS servers (dns=off: passt -D none), and
 * its commands name only the gateway address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { requireKvm, runTkvm } from '../testing/kvm.js';
import { ensureDefaultGuest } from '../testing/default-guest.js';

const BOOT_TIMEOUT_MS = 12 * 60_000;
const BIG_FILE_BYTES = 4 << 20;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

test('Linux: DHCP from passt, and wget from a host-loopback server through the gateway', { timeout: BOOT_TIMEOUT_MS + 20 * 60_000 }, async (t) => {
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

  const script = [
    'set -- $(ip route show default)',
    'gw=$3',
    'echo "gateway=$gw"',
    `wget -qO- "http://$gw:${httpPort}/file"`,
    'read -r t0 _ </proc/uptime',
    `wget -qO- "http://$gw:${httpPort}/big" | md5sum`,
    'read -r t1 _ </proc/uptime',
    'echo "big-seconds=$t0 $t1"',
  ].join('; ');
  const r = await runTkvm(['run', '--net', 'user,dns=off', '--exec', script], { timeoutMs: BOOT_TIMEOUT_MS });
  const stdout = r.stdout.replace(/\r/g, '');
  const out = `${stdout}\n${r.stderr}`;
  const gateway = /^gateway=(\d+\.\d+\.\d+\.\d+)$/m.exec(stdout)?.[1];
  assert.ok(gateway, `the guest has a default route from DHCP\n${out}`);
  assert.ok(stdout.includes(text), `the guest printed the served file\n${out}`);
  assert.match(stdout, new RegExp(`^${bigMd5}\\s`, 'm'), `the 4 MiB file arrived intact\n${out}`);
  assert.doesNotMatch(r.stderr, /dropped/, 'no frame was dropped');
  assert.equal(r.status, 0, out);
  const times = /^big-seconds=([\d.]+) ([\d.]+)$/m.exec(stdout);
  if (times) t.diagnostic(`4 MiB through passt in ${(Number(times[2]) - Number(times[1])).toFixed(2)} s of guest uptime (gateway ${gateway})`);
});
