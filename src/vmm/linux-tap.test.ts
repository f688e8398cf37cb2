/**
 * The default guest kit on a TAP in a network namespace this test makes
 * (one boot: on a PVM host it takes minutes). The guest gets a static
 * address (`--net tap=IF,ip=`, so no DHCP wait), pings the namespace's end
 * of the TAP, downloads 4 MiB from a server this test runs there and
 * uploads 1 MiB to another; both sides' MD5 sums are compared.
 *
 * Network rule: everything happens inside the test's own namespace; the
 * guest has no route out of it and no DNS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { requireKvm, runTkvm } from '../testing/kvm.js';
import { ensureDefaultGuest } from '../testing/default-guest.js';
import { requireNetns, TestNetns } from '../testing/netns.js';

const BOOT_TIMEOUT_MS = 12 * 60_000;
const TAP = 'tkvmlt0';
const HOST_SIDE = '10.77.0.1';
const GUEST_SIDE = '10.77.0.2';
const DOWN_PORT = 9001;
const UP_PORT = 9002;
const DOWN_BYTES = 4 << 20;
const UP_BYTES = 1 << 20;

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST_SIDE, () => resolve());
  });
}

/** Answers `expect` uploaded bytes with `upload-md5=HEX` and closes (busybox nc does not half-close). */
function uploadServer(expect: number, seen: string[]): Server {
  return createServer((socket: Socket) => {
    const hash = createHash('md5');
    let count = 0;
    socket.on('data', (d: Buffer) => {
      hash.update(d);
      count += d.length;
      if (count === expect) {
        const sum = hash.digest('hex');
        seen.push(sum);
        socket.end(`upload-md5=${sum}\n`);
      }
    });
    socket.on('error', () => {});
  });
}

test('Linux on a TAP in a netns: static address, ping, and TCP both ways with checksums', { timeout: BOOT_TIMEOUT_MS + 20 * 60_000 }, async (t) => {
  if (!requireKvm(t) || !requireNetns(t)) return;
  await ensureDefaultGuest();
  const download = randomBytes(DOWN_BYTES);
  const uploadSums: string[] = [];
  const down = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(download);
  });
  const up = uploadServer(UP_BYTES, uploadSums);
  const ns = TestNetns.create();
  try {
    ns.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ns.ip('link', 'set', 'lo', 'up');
    ns.ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    ns.ip('addr', 'add', `${HOST_SIDE}/24`, 'dev', TAP);
    ns.ip('link', 'set', TAP, 'up');
    // The servers' sockets and tkvm (which opens the TAP by name) live in the namespace.
    ns.enter();
    await listen(down, DOWN_PORT);
    await listen(up, UP_PORT);

    const script = [
      'ip -4 addr show dev eth0 | grep -o "inet [0-9./]*"',
      `ping -c 3 -W 20 ${HOST_SIDE} >/dev/null; echo "ping status=$?"`,
      `nc ${HOST_SIDE} ${DOWN_PORT} | md5sum`,
      `dd if=/dev/urandom of=/tmp/up bs=65536 count=${UP_BYTES / 65536} 2>/dev/null; md5sum /tmp/up`,
      `nc ${HOST_SIDE} ${UP_PORT} </tmp/up`,
    ].join('; ');
    const started = Date.now();
    const r = await runTkvm(['run', '--net', `tap=${TAP},ip=${GUEST_SIDE}/24`, '--exec', script], { timeoutMs: BOOT_TIMEOUT_MS });
    t.diagnostic(`boot and transfers in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const stdout = r.stdout.replace(/\r/g, '');
    const out = `${stdout}\n${r.stderr}`;
    assert.match(stdout, new RegExp(`^inet ${GUEST_SIDE.replace(/\./g, '\\.')}/24$`, 'm'), `eth0 has the static address\n${out}`);
    assert.match(stdout, /^ping status=0$/m, `the guest pinged the namespace's end of the TAP\n${out}`);
    assert.match(stdout, new RegExp(`^${md5(download)}\\s+-$`, 'm'), `the 4 MiB download arrived intact\n${out}`);
    const guestUpload = /^([0-9a-f]{32})\s+\/tmp\/up$/m.exec(stdout)?.[1];
    assert.ok(guestUpload, `the guest summed its upload\n${out}`);
    assert.deepEqual(uploadSums, [guestUpload], 'the server got the same 1 MiB');
    assert.match(stdout, new RegExp(`^upload-md5=${guestUpload}$`, 'm'), out);
    assert.equal(r.status, 0, out);
  } finally {
    await new Promise((resolve) => down.close(resolve));
    await new Promise((resolve) => up.close(resolve));
    ns.destroy();
  }
});
