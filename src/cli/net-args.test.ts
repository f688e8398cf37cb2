import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../util/errors.js';
import { parseNics, parsePort } from './net-args.js';

const usage = (problem: string): UsageError => new UsageError(problem);

test('no --net: one implicit user-mode NIC for the default guest kit, none for --kernel guests', () => {
  assert.deepEqual(parseNics([], [], true, usage), [{ backend: 'user', ports: [], dns: true, implicit: true }]);
  assert.deepEqual(parseNics([], [], false, usage), []);
  assert.deepEqual(parseNics(['none'], [], true, usage), []);
});

test('--net user|tap[=IF] with mac= and dns=, several NICs; ports go to the first user-mode NIC', () => {
  const nics = parseNics(['tap=tkvm0,mac=52:54:00:AA:BB:CC', 'user,dns=off', 'user'], ['8080:80', '0.0.0.0:5353:53/udp'], false, usage);
  assert.deepEqual(nics, [
    { backend: 'tap', ifname: 'tkvm0', mac: '52:54:00:aa:bb:cc', ports: [], dns: true },
    { backend: 'user', dns: false, ports: [
      { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80 },
      { protocol: 'udp', hostAddress: '0.0.0.0', hostPort: 5353, guestPort: 53 },
    ] },
    { backend: 'user', ports: [], dns: true },
  ]);
  assert.deepEqual(parseNics(['tap'], [], false, usage), [{ backend: 'tap', ifname: undefined, ports: [], dns: true }]);
  assert.deepEqual(parseNics(['tap=t0,ip=10.0.0.2/24,gw=10.0.0.1'], [], false, usage), [{ backend: 'tap', ifname: 't0', ports: [], dns: true, ip: '10.0.0.2/24', gateway: '10.0.0.1' }]);
  // The implicit NIC takes ports too.
  assert.equal(parseNics([], ['2222:22'], true, usage)[0]!.ports.length, 1);
});

test('bad --net and --port values are one-line usage errors', () => {
  const bad: Array<[string[], string[], RegExp]> = [
    [['none', 'user'], [], /cannot be combined/],
    [['slirp'], [], /must be user, tap/],
    [['user,mac=52:54:00:12:34'], [], /six hex bytes/],
    [['user,mac=01:00:5e:00:00:01'], [], /multicast/],
    [['tap=this-name-is-too-long'], [], /interface name/],
    [['tap,dns=off'], [], /not one of mac=MAC/],
    [['user,bogus'], [], /not one of mac=MAC, dns/],
    [['user,ip=10.0.0.2/24'], [], /not one of mac=MAC, dns/],
    [['tap,ip=10.0.0.2'], [], /ip= needs an IPv4 address with a prefix length/],
    [['tap,ip=10.0.0.256/24'], [], /ip= needs an IPv4 address/],
    [['tap,ip=10.0.0.2/33'], [], /ip= needs an IPv4 address/],
    [['tap,ip=10.0.0.2/24,gw=10.0.0'], [], /gw= needs an IPv4 address/],
    [['tap,gw=10.0.0.1'], [], /gw= needs ip= too/],
    [[], ['80:80'], /needs a user-mode NIC/],
    [['tap'], ['80:80'], /needs a user-mode NIC/],
  ];
  for (const [nets, ports, message] of bad) {
    assert.throws(() => parseNics(nets, ports, false, usage), (e: Error) => e instanceof UsageError && message.test(e.message) && !e.message.includes('\n'), `${nets} ${ports}`);
  }
  for (const p of ['80', '1:2:3:4', '0:80', '80:65536', 'x:80', '80:80/sctp', '300.1.1.1:80:80', 'localhost:80:80']) {
    assert.throws(() => parsePort(p, usage), UsageError, p);
  }
});
