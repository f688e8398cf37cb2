import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NicConfig } from './config.js';
import { DEBIAN_12_PASST_VERSION, findPasst, forwardWarning, nicSpecs, tkvmPasstPath } from './net.js';

/** A scratch directory with fake executables: `bin/passt` on a PATH, and tkvm's build under `cache/tkvm/passt/current/`. */
function scratch(): { dir: string; bin: string; cache: string; own: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-find-passt-'));
  const bin = path.join(dir, 'bin');
  const cache = path.join(dir, 'cache');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'passt'), '#!/bin/sh\n', { mode: 0o755 });
  const own = path.join(cache, 'tkvm', 'passt', 'v1');
  fs.mkdirSync(own, { recursive: true });
  fs.writeFileSync(path.join(own, 'passt'), '#!/bin/sh\n', { mode: 0o755 });
  return { dir, bin, cache, own, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

test('findPasst: $TKVM_PASST alone when set, else tkvm\'s own build, else $PATH', () => {
  const s = scratch();
  try {
    const env = { PATH: s.bin, XDG_CACHE_HOME: s.cache, HOME: s.dir };
    assert.equal(tkvmPasstPath(env), path.join(s.cache, 'tkvm', 'passt', 'current', 'passt'));
    assert.deepEqual(findPasst(env), { path: path.join(s.bin, 'passt'), source: 'PATH' }, 'no build yet: $PATH');
    fs.symlinkSync('v1', path.join(s.cache, 'tkvm', 'passt', 'current'));
    assert.deepEqual(findPasst(env), { path: tkvmPasstPath(env), source: 'tkvm' }, 'the build comes first');
    const mine = path.join(s.bin, 'passt');
    assert.deepEqual(findPasst({ ...env, TKVM_PASST: mine }), { path: mine, source: 'TKVM_PASST' });
    assert.equal(findPasst({ ...env, TKVM_PASST: path.join(s.dir, 'nothing') }), null, 'a wrong TKVM_PASST is not replaced by another passt');
    fs.chmodSync(path.join(s.own, 'passt'), 0o644);
    assert.equal(findPasst(env)?.source, 'PATH', 'a build that is not executable is passed over');
    assert.equal(findPasst({ PATH: path.join(s.dir, 'empty'), XDG_CACHE_HOME: s.cache }), null);
  } finally {
    s.remove();
  }
});

test('forwardWarning: only for Debian 12\'s passt, naming the problem and the fix', () => {
  const found = { path: '/usr/bin/passt', source: 'PATH' as const };
  const warning = forwardWarning(found, `${DEBIAN_12_PASST_VERSION}.7c7625d-1`);
  assert.match(warning ?? '', /^--port: \/usr\/bin\/passt is Debian 12's passt \(0\.0~git20230309\.7c7625d-1\): .*speaks first.*tkvm setup builds/);
  assert.equal(warning!.split('\n').length, 1);
  assert.equal(forwardWarning(found, '0.0~git20250503.587980c-2+deb13u1'), null);
  assert.equal(forwardWarning({ path: '/opt/passt', source: 'TKVM_PASST' }, null), null);
});

const userNic = (over: Partial<NicConfig> = {}): NicConfig => ({ backend: 'user', ports: [], dns: true, ...over });

test('nicSpecs: passt\'s path and forwards in the spec; a missing passt is an error for an explicit NIC, one warning for the implicit one', () => {
  const s = scratch();
  try {
    fs.symlinkSync('v1', path.join(s.cache, 'tkvm', 'passt', 'current'));
    const env = { PATH: s.bin, XDG_CACHE_HOME: s.cache, HOME: s.dir };
    const warnings: string[] = [];
    const specs = nicSpecs([userNic({ ports: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22 }, { protocol: 'udp', hostAddress: '::1', hostPort: 53, guestPort: 5353 }] })], (m) => warnings.push(m), env);
    assert.deepEqual(specs, [{
      type: 'net', mac: '52:54:00:12:34:56',
      backend: { kind: 'user', passt: tkvmPasstPath(env), dns: true, tcpForwards: ['127.0.0.1/2222:22'], udpForwards: ['::1/53:5353'] },
    }]);
    assert.deepEqual(warnings, [], 'tkvm\'s own passt: no warning for --port');

    const none = { PATH: path.join(s.dir, 'empty'), XDG_CACHE_HOME: path.join(s.dir, 'nocache') };
    assert.throws(() => nicSpecs([userNic()], () => {}, none), { code: 'ERR_NET_PASST_MISSING', message: /tkvm setup builds it/ });
    assert.throws(() => nicSpecs([userNic()], () => {}, { ...none, TKVM_PASST: '/nonexistent/passt' }), { code: 'ERR_NET_PASST_MISSING', message: /TKVM_PASST=\/nonexistent\/passt is not an executable/ });
    const implicit: string[] = [];
    assert.deepEqual(nicSpecs([userNic({ implicit: true })], (m) => implicit.push(m), none), []);
    assert.equal(implicit.length, 1);
    assert.match(implicit[0]!, /the VM runs without a network/);
  } finally {
    s.remove();
  }
});
