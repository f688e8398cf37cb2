import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installCommand, parseDpkgQuery, REQUIRED_PACKAGES } from './debian.js';

test('parseDpkgQuery keeps installed packages only, with their versions', () => {
  const output = [
    'linux-source-6.1\tii \t6.1.192-2',
    'busybox-static\tun \t',
    'libssl-dev:amd64\tii \t3.0.19-1~deb12u2',
    'flex\trc \t2.6.4-8.2',
    'garbage line',
    '',
  ].join('\n');
  assert.deepEqual(
    [...parseDpkgQuery(output)],
    [
      ['linux-source-6.1', '6.1.192-2'],
      ['libssl-dev', '3.0.19-1~deb12u2'],
    ],
  );
});

test('the install hint is a complete apt-get command', () => {
  assert.equal(installCommand(['flex', 'bison']), 'apt-get install --no-install-recommends flex bison');
  assert.ok(REQUIRED_PACKAGES.includes('linux-source-6.1'));
  assert.ok(REQUIRED_PACKAGES.includes('busybox-static'));
});
